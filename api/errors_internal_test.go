package api

import (
	"errors"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"

	"fiveid"
)

// openapi.yaml's Error.code enum is exactly the stable codes the adapter
// can answer: the error table's, the adapter's own request errors', the
// validation and echo errors' toError maps, and internal.
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
	_, _, badKey := idempotencyKey(http.Header{"Idempotency-Key": {""}})
	errs := []error{rateLimited(), badRequest("", ""), unsupportedMediaType(), badKey,
		&fiveid.ValidationError{}, errors.New("unexpected")}
	for _, status := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType} {
		errs = append(errs, echo.NewHTTPError(status))
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a nil error in the list")
		}
		_, body := toError(err)
		codes = append(codes, body.Code)
	}
	slices.Sort(codes)
	codes = slices.Compact(codes)
	slices.Sort(enum)
	if !slices.Equal(codes, enum) {
		t.Errorf("openapi.yaml's Error.code enum %v, the code answers %v", enum, codes)
	}
}
