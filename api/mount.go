package api

import (
	"github.com/labstack/echo/v4"

	"fiveid"
)

// Mounter adds another adapter's routes (the FHIR interface in api/fhir) to
// the server. guard is what every /v1 route runs before its handler: the
// Bearer key (the same keys and roles), the key's rate limit and the text
// check of path and query parameters. Its errors are the ones ErrorOf maps,
// so the adapter can render them in its own format.
type Mounter func(e *echo.Echo, guard echo.MiddlewareFunc) error

// guard authenticates, rate-limits and checks parameter text, in that order
// (a caller without a key learns nothing more).
func (h *handlers) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return h.auth(textParams(next))
}

// ErrorOf is the one error table (errors.go) for other adapters: an error's
// HTTP status and its body with the stable code.
func ErrorOf(err error) (int, Error) { return errorBody(err) }

// Principal is the authenticated caller of a request a guard let through.
func Principal(c echo.Context) fiveid.Principal { return principal(c) }

// CheckBodyText refuses a request body holding text the stores cannot keep
// (invalid UTF-8, NUL): a *fiveid.ValidationError naming the field.
func CheckBodyText(body []byte) error {
	if p, bad := bodyText(body); bad {
		return &fiveid.ValidationError{Problems: []fiveid.FieldProblem{p}}
	}
	return nil
}
