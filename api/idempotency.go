package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"fiveid"
)

// The Idempotency-Key request header (draft-ietf-httpapi-idempotency-key-
// header) on POST /v1/customers, /v1/customers/batch and /v1/identify, and
// the header that marks a replayed answer. The rules (what is kept, for
// how long, crashes) are fiveid.Service.Idempotent's.
const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	maxIdempotencyKey    = 255
)

// idempotencyKey reads the header: absent, or one value that is either a
// Structured Field string (the draft's form: "...") or the bare key, of 1
// to 255 characters of A-Z a-z 0-9 and - _ . : ~ + / = (a UUID, ULID or
// base64 fits).
func idempotencyKey(h http.Header) (string, bool, error) {
	vs := h.Values(headerIdempotencyKey)
	if len(vs) == 0 {
		return "", false, nil
	}
	bad := &requestError{status: http.StatusBadRequest, code: "invalid_idempotency_key", field: headerIdempotencyKey,
		message: "Idempotency-Key must be one value of 1-255 characters of A-Z a-z 0-9 - _ . : ~ + / =, optionally in double quotes"}
	if len(vs) != 1 {
		return "", false, bad
	}
	k := vs[0]
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" || len(k) > maxIdempotencyKey {
		return "", false, bad
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:~+/=", c) >= 0) {
			return "", false, bad
		}
	}
	return k, true, nil
}

// answer is a handler's response: the body served and, when it differs,
// the body kept for replay (without bearer tokens).
type answer struct {
	status int
	body   any
	kept   any
}

// idempotent serves a request through run, once per Idempotency-Key when
// the request has one. req is the decoded request: its JSON form is what
// the key is bound to (so spacing and field order do not matter). grants:
// the request may mint a grant; a replay then signs its token again.
func (h *handlers) idempotent(c echo.Context, req any, grants bool, run func(ctx context.Context, grantID string) (answer, error)) error {
	key, ok, err := idempotencyKey(c.Request().Header)
	if err != nil {
		return err
	}
	ctx, p := c.Request().Context(), principal(c)
	if !ok {
		a, err := run(ctx, "")
		if err != nil {
			return err
		}
		return c.JSON(a.status, a.body)
	}
	canonical, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var served []byte
	res, err := h.svc.Idempotent(ctx, p, fiveid.IdempotentRequest{
		Key: key, Op: c.Request().Method + " " + c.Path(), Body: canonical, Grants: grants,
	}, func(ctx context.Context, grantID string) (fiveid.IdempotentResponse, error) {
		a, err := run(ctx, grantID)
		if err != nil {
			// Rendered as the error handler would: a decided answer
			// (no_match, needs_review, policy_denied) is kept.
			status, e := errorBody(err)
			served, _ = jsonBody(e)
			return fiveid.IdempotentResponse{Status: status, Body: served}, err
		}
		if served, err = jsonBody(a.body); err != nil {
			return fiveid.IdempotentResponse{}, err
		}
		kept := served
		if a.kept != nil {
			if kept, err = jsonBody(a.kept); err != nil {
				return fiveid.IdempotentResponse{}, err
			}
		}
		return fiveid.IdempotentResponse{Status: a.status, Body: kept}, nil
	})
	if errors.Is(err, fiveid.ErrIdempotencyInProgress) {
		c.Response().Header().Set("Retry-After", "1")
	}
	if err != nil {
		return err
	}
	body := served
	if res.Replayed {
		body = res.Body
		if grants {
			if body, err = h.withGrantToken(ctx, p, body); err != nil {
				return err
			}
		}
		c.Response().Header().Set(headerReplayed, "true")
	}
	return c.JSONBlob(res.Status, body)
}

// jsonBody is a body as c.JSON writes it.
func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

// withGrantToken puts the token back into a kept identify answer that
// holds a grant. The token signs again to the same bytes, and the answer
// encodes again to the same bytes: a replay is the first answer, byte for
// byte.
func (h *handlers) withGrantToken(ctx context.Context, p fiveid.Principal, kept []byte) ([]byte, error) {
	var out IdentifyResponse
	if err := json.Unmarshal(kept, &out); err != nil || out.Grant == nil {
		return kept, nil // an error answer, or no grant
	}
	token, err := h.svc.GrantToken(ctx, p, out.Grant.ID)
	if err != nil {
		return nil, err
	}
	out.Grant.Token = token
	return jsonBody(out)
}
