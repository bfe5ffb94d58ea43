package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"fiveid"
	"fiveid/api"
	"fiveid/match"
)

// ContentType is the FHIR JSON media type every answer carries.
const ContentType = "application/fhir+json; charset=utf-8"

// URIs fiveid defines for itself: its error codes (OperationOutcome
// issue.details), its ID-type codes (Identifier.type) and the grant extension
// of a $match answer. They name things only; nothing is fetched from them.
const (
	ErrorCodeSystem  = "urn:fiveid:fhir:CodeSystem:error"
	FindingSystem    = "urn:fiveid:fhir:CodeSystem:finding"
	IDTypeCodeSystem = "urn:fiveid:fhir:CodeSystem:id-type"
	GrantExtension   = "urn:fiveid:fhir:StructureDefinition:grant"
	// MatchGradeExtension is FHIR's own (R4 Patient/$match).
	MatchGradeExtension = "http://hl7.org/fhir/StructureDefinition/match-grade"
)

// Defaults of Config's identifier systems.
const (
	DefaultCustomerSystem  = "urn:fiveid:customer"
	DefaultSystemURIPrefix = "urn:fiveid:system:"
)

// DefaultIDTypeSystems are the Identifier.system URIs of each ID type unless
// configured otherwise. The resident ID number (居民身份证 and the documents
// sharing its number) takes the OID China's health-information shared
// documents (WS/T 500 series) give 身份证件号码; the others take OIDs under
// 2.999, ITU-T X.660's example arc, and are meant to be replaced by the ones
// the deployment's registration authority (or regional platform) assigns.
func DefaultIDTypeSystems() map[match.IDType]string {
	return map[match.IDType]string{
		match.IDTypeCitizen:         "urn:oid:2.16.156.10011.1.3",
		match.IDTypeHKMOPermit:      "urn:oid:2.999.1.2",
		match.IDTypeTWPermit:        "urn:oid:2.999.1.3",
		match.IDTypeHMTResidence:    "urn:oid:2.999.1.4",
		match.IDTypeForeignPR:       "urn:oid:2.999.1.5",
		match.IDTypePassportCN:      "urn:oid:2.999.1.6",
		match.IDTypePassportHKMO:    "urn:oid:2.999.1.7",
		match.IDTypePassportForeign: "urn:oid:2.999.1.8",
		match.IDTypePassport:        "urn:oid:2.999.1.9",
		match.IDTypeMilitary:        "urn:oid:2.999.1.10",
		match.IDTypeDriver:          "urn:oid:2.999.1.11",
		match.IDTypeBirthCert:       "urn:oid:2.999.1.12",
		match.IDTypeDisability:      "urn:oid:2.999.1.13",
		match.IDTypeOther:           "urn:oid:2.999.1.99",
	}
}

// Config carries the adapter's dependencies and its identifier systems.
type Config struct {
	Service *fiveid.Service
	Logger  *slog.Logger
	// IDTypeSystems overrides DefaultIDTypeSystems per ID type.
	IDTypeSystems map[match.IDType]string
	// SystemURIs names a registered system's local IDs (Identifier.system)
	// by system code; a code not listed is SystemURIPrefix + code.
	SystemURIs      map[string]string
	SystemURIPrefix string // default DefaultSystemURIPrefix
	// CustomerSystem names the golden record's ID (Patient.id as an
	// Identifier, and a PIXm target system); default DefaultCustomerSystem.
	CustomerSystem string
}

type handlers struct {
	svc *fiveid.Service
	log *slog.Logger
	ids identifierSystems
}

// Mount returns the api.Mounter that serves /fhir on the API's server.
func Mount(cfg Config) (api.Mounter, error) {
	if cfg.Service == nil {
		return nil, errors.New("fhir: Service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ids, err := newIdentifierSystems(cfg)
	if err != nil {
		return nil, err
	}
	h := &handlers{svc: cfg.Service, log: cfg.Logger, ids: ids}
	return func(e *echo.Echo, guard echo.MiddlewareFunc) error {
		open := []echo.MiddlewareFunc{h.outcome, negotiate}
		authed := []echo.MiddlewareFunc{h.outcome, negotiate, guard}
		// The CapabilityStatement names no person: like /healthz and the
		// JWKS it needs no key, so a client can discover the server first.
		e.GET("/fhir/metadata", h.metadata, open...)
		e.GET("/fhir/Patient/$ihe-pix", h.pix, authed...)
		e.POST("/fhir/Patient/$match", h.match, authed...)
		e.GET("/fhir/Patient/:id", h.read, authed...)
		e.GET("/fhir/Patient", h.search, authed...)
		e.POST("/fhir/Patient/_search", h.searchPost, authed...)
		e.PUT("/fhir/Patient", h.feed, authed...)
		// Anything else under /fhir is an OperationOutcome too.
		e.Any("/fhir", h.unknown, open...)
		e.Any("/fhir/*", h.unknown, open...)
		return nil
	}, nil
}

// unknown answers what no route serves: a path served with another method
// is 405 (the interaction is not supported), anything else 404.
func (h *handlers) unknown(c echo.Context) error {
	path := c.Request().URL.Path
	rest, isPatient := strings.CutPrefix(path, "/fhir/Patient/")
	if path == "/fhir/metadata" || path == "/fhir/Patient" || isPatient && rest != "" && !strings.Contains(rest, "/") {
		return &outcomeError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", issue: "not-supported",
			message: "this interaction is not supported: GET /fhir/metadata lists the ones that are"}
	}
	return &outcomeError{status: http.StatusNotFound, code: "not_found", issue: "not-supported",
		message: "this server implements only what GET /fhir/metadata lists"}
}

// outcomeError is an error the adapter finds itself, with its FHIR issue
// type.
type outcomeError struct {
	status  int
	code    string // fiveid's stable code
	issue   string // FHIR issue-type
	message string
	field   string // FHIRPath of the element at fault, when one is
}

func (e *outcomeError) Error() string { return e.message }

func invalid(field, msg string) error {
	return &outcomeError{status: http.StatusBadRequest, code: "bad_request", issue: "invalid", message: msg, field: field}
}

// outcome renders every error of a /fhir route as an OperationOutcome with
// fiveid's stable code in issue.details (api.ErrorOf's table: the same
// status and code as the REST API) and writes it, so that echo's JSON error
// handler never sees it.
func (h *handlers) outcome(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		status, oo := h.operationOutcome(c, err)
		return write(c, status, oo)
	}
}

func (h *handlers) operationOutcome(c echo.Context, err error) (int, OperationOutcome) {
	var oe *outcomeError
	if errors.As(err, &oe) {
		iss := Issue{Severity: "error", Code: oe.issue, Details: codeable(ErrorCodeSystem, oe.code, oe.message)}
		if oe.field != "" {
			iss.Expression = []string{oe.field}
		}
		return oe.status, OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{iss}}
	}
	status, body := api.ErrorOf(err)
	if status >= 500 {
		h.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed", slog.String("code", body.Code),
			slog.String("route", c.Path()), slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("error", err.Error()))
	}
	main := Issue{Severity: "error", Code: issueType(status), Details: codeable(ErrorCodeSystem, body.Code, body.Message)}
	if body.ReviewTaskID != "" {
		main.Diagnostics = "review_task_id=" + body.ReviewTaskID
	}
	oo := OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{main}}
	for _, f := range body.Fields {
		iss := Issue{Severity: "error", Code: "invalid", Details: codeable(ErrorCodeSystem, f.Code, f.Message)}
		if f.Field != "" {
			iss.Expression = []string{fhirPath(f.Field)}
		}
		oo.Issue = append(oo.Issue, iss)
	}
	return status, oo
}

// issueType is the FHIR issue-type of an HTTP status.
func issueType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "login"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not-found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusNotAcceptable, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		return "not-supported"
	case http.StatusRequestEntityTooLarge:
		return "too-long"
	case http.StatusUnprocessableEntity:
		return "processing"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusServiceUnavailable:
		return "transient"
	}
	if status >= 500 {
		return "exception"
	}
	return "processing"
}

// fhirPath names the Patient element a fiveid field comes from.
func fhirPath(field string) string {
	switch field {
	case "name":
		return "Patient.name"
	case "sex":
		return "Patient.gender"
	case "birth_date":
		return "Patient.birthDate"
	case "id_type":
		return "Patient.identifier.type"
	case "id_number":
		return "Patient.identifier.value"
	case "local_id":
		return "Patient.identifier"
	}
	return field
}

// negotiate honours _format and Accept: FHIR JSON (or plain JSON) only;
// a request for XML, or for nothing this server writes, is 406.
func negotiate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if f := c.QueryParam("_format"); f != "" {
			if !jsonFormat(f) {
				return notAcceptable()
			}
			return next(c)
		}
		accept := c.Request().Header.Get(echo.HeaderAccept)
		if accept == "" {
			return next(c)
		}
		for _, part := range strings.Split(accept, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || params["q"] == "0" {
				continue
			}
			if jsonFormat(mt) || mt == "*/*" || mt == "application/*" {
				return next(c)
			}
		}
		return notAcceptable()
	}
}

func notAcceptable() error {
	return &outcomeError{status: http.StatusNotAcceptable, code: "not_acceptable", issue: "not-supported",
		message: "this server writes FHIR JSON only: application/fhir+json (_format=json)"}
}

// jsonFormat reports a _format value or media type that means FHIR JSON
// (FHIR R4 http.html#mime: json, application/json, application/fhir+json).
func jsonFormat(f string) bool {
	mt, _, err := mime.ParseMediaType(f)
	if err != nil {
		mt = f
	}
	switch strings.ToLower(mt) {
	case "json", "application/json", "application/fhir+json", "application/json+fhir":
		return true
	}
	return false
}

// write answers with a resource in FHIR JSON.
func write(c echo.Context, status int, resource any) error {
	b, err := json.Marshal(resource)
	if err != nil {
		return err
	}
	return c.Blob(status, ContentType, b)
}

const maxBody = 1 << 20

// decodeResource reads a FHIR JSON body: labelled application/fhir+json or
// application/json (or not at all), within maxBody, with text the stores
// can keep. Elements the adapter does not read are ignored, as FHIR asks of
// a receiver (R4 json.html); a wrong type for one it reads is 400.
func decodeResource(c echo.Context, v any) error {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/fhir+json" || mt == "application/json") {
			return &outcomeError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", issue: "not-supported",
				message: "send the resource as FHIR JSON with Content-Type: application/fhir+json"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &outcomeError{status: http.StatusRequestEntityTooLarge, code: "too_large", issue: "too-long", message: "request body too large"}
		}
		return invalid("", "the request body could not be read")
	}
	if err := api.CheckBodyText(body); err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("", "a FHIR JSON body is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return invalid(ute.Field, fmt.Sprintf("element %s must be %s", ute.Field, ute.Type))
		}
		return invalid("", "malformed JSON")
	}
	return nil
}
