package api

import "testing"

func TestCSVTextNeutralizesFormulas(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil","x")`: `'=HYPERLINK("http://evil","x")`,
		"+1+cmd|' /C calc'!A0":          "'+1+cmd|' /C calc'!A0",
		"-2+3":                          "'-2+3",
		"@SUM(A1:A9)":                   "'@SUM(A1:A9)",
		"\t=1":                          "'\t=1",
		"\r=1":                          "'\r=1",
		"":                              "",
		"C01K9Z":                        "C01K9Z",
		"a=b":                           "a=b",
		"'=already":                     "'=already",
		"张伟":                            "张伟",
	} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
}
