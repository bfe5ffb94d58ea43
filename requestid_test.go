package fiveid_test

import (
	"errors"
	"strings"
	"testing"

	"fiveid"
)

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"7f3c9a1e-2b4d-4c8e-9f00-1a2b3c4d5e6f": true,
		"req.42:retry_1":                       true,
		strings.Repeat("a", 64):                true,
		"":                                     false,
		strings.Repeat("a", 65):                false,
		"a b":                                  false,
		"a\x00b":                               false,
		"a\r\nX-Injected: 1":                   false,
		"请求":                                   false,
		"<script>":                             false,
		"=cmd|' /C calc'!A0":                   false,
	} {
		if got := fiveid.ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}

// The grant log keeps a plain request ID and never an unchecked one, on
// both stores.
func TestGrantLogKeepsOnlyPlainRequestIDs(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := setup(t, svc, "hosp")
			for _, id := range []string{"req-1.2:3_x", strings.Repeat("x", 500_000), "a\nb"} {
				if _, err := svc.Identify(fiveid.WithRequestID(t.Context(), id), p["hosp"], zhang); !errors.Is(err, fiveid.ErrNoMatch) {
					t.Fatal(err)
				}
			}
			evs, _, err := svc.AuditEvents(t.Context(), fiveid.Principal{Role: fiveid.RoleAuditor}, fiveid.AuditFilter{Action: fiveid.ActionIdentifyNoMatch})
			if err != nil || len(evs) != 3 {
				t.Fatalf("entries: %d %v", len(evs), err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.RequestID)
			}
			if got[0] != "req-1.2:3_x" || got[1] != "" || got[2] != "" {
				t.Errorf("request IDs kept: %q", got)
			}
		})
	}
}
