package api

import (
	"errors"
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every stable error code the error table and the adapter's own errors
// can answer is in openapi.yaml's Error.code enum.
func TestErrorCodesInOpenAPI(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Code struct {
							Enum []string `yaml:"enum"`
						} `yaml:"code"`
					} `yaml:"properties"`
				} `yaml:"Error"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas.Error.Properties.Code.Enum
	var codes []string
	for _, row := range errorTable {
		codes = append(codes, row.code)
	}
	for _, err := range []error{rateLimited(), badRequest("", "")} {
		var re *requestError
		if !errors.As(err, &re) {
			t.Fatalf("%v is not a requestError", err)
		}
		codes = append(codes, re.code)
	}
	for _, c := range codes {
		if !slices.Contains(enum, c) {
			t.Errorf("code %s is not in openapi.yaml's Error.code enum %v", c, enum)
		}
	}
}
