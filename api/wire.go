package api

import (
	"time"

	"fiveid"
	"fiveid/match"
)

// Wire types mirror openapi.yaml. Small functions convert to and from the
// domain.

// Elements are the five identity elements as sent.
type Elements struct {
	Name      string `json:"name"`
	Sex       string `json:"sex"`
	BirthDate string `json:"birth_date"`
	IDType    string `json:"id_type"`
	IDNumber  string `json:"id_number"`
}

func (e Elements) input() match.Input {
	return match.Input{Name: e.Name, Sex: e.Sex, BirthDate: e.BirthDate, IDType: e.IDType, IDNumber: e.IDNumber}
}

func elementsOf(in match.Input) Elements {
	return Elements{Name: in.Name, Sex: in.Sex, BirthDate: in.BirthDate, IDType: in.IDType, IDNumber: in.IDNumber}
}

// RegisterRequest registers a source record.
type RegisterRequest struct {
	LocalID string `json:"local_id"`
	Elements
}

// Finding is a normalization repair or doubt.
type Finding struct {
	Field    string `json:"field"`
	Code     string `json:"code"`
	Severity string `json:"severity"`
}

func findings(fs []match.Finding) []Finding {
	out := make([]Finding, len(fs))
	for i, f := range fs {
		out[i] = Finding{Field: f.Field, Code: f.Code, Severity: string(f.Severity)}
	}
	return out
}

// FieldScore is one field's comparison level and weight.
type FieldScore struct {
	Field  string  `json:"field"`
	Level  string  `json:"level"`
	Weight float64 `json:"weight"`
}

// Explanation is a decision an admin can read.
type Explanation struct {
	Score   float64      `json:"score"`
	Grade   string       `json:"grade"`
	Version string       `json:"version"`
	Rules   []string     `json:"rules"`
	Fields  []FieldScore `json:"fields"`
	// Conflicts and Alternatives name other customers' records and
	// customers: shown to admins (review tasks, customers), never in a
	// source system's register or identify answer.
	Conflicts    []Conflict    `json:"conflicts,omitempty"`
	Alternatives []Alternative `json:"alternatives,omitempty"`
}

// Conflict is a record of the candidate customer whose valid identifier
// excludes the query (customer-level rule).
type Conflict struct {
	Rule     string `json:"rule"`
	System   string `json:"system"`
	LocalID  string `json:"local_id"`
	MaskedID string `json:"id_number_masked"`
}

// Alternative is one customer of an ambiguous decision.
type Alternative struct {
	CustomerID string  `json:"customer_id"`
	Grade      string  `json:"grade"`
	Score      float64 `json:"score"`
}

func explanation(e match.Explanation) *Explanation {
	if e.Grade == "" && len(e.Fields) == 0 {
		return nil
	}
	out := &Explanation{Score: e.Score, Grade: string(e.Grade), Version: e.Version, Rules: e.Rules, Fields: []FieldScore{}}
	if out.Rules == nil {
		out.Rules = []string{}
	}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, FieldScore{Field: f.Field, Level: f.Level, Weight: f.Weight})
	}
	for _, c := range e.Conflicts {
		out.Conflicts = append(out.Conflicts, Conflict{Rule: c.Rule, System: c.System, LocalID: c.LocalID, MaskedID: c.MaskedID})
	}
	for _, a := range e.Alternatives {
		out.Alternatives = append(out.Alternatives, Alternative{CustomerID: a.Customer, Grade: string(a.Grade), Score: a.Score})
	}
	return out
}

// callerExplanation is an explanation for the source system that asked:
// the rules and per-field levels, without other customers' IDs or other
// systems' records (those are for the steward's review task).
func callerExplanation(e match.Explanation) *Explanation {
	e.Conflicts, e.Alternatives = nil, nil
	return explanation(e)
}

// RegisterResponse is a registration's outcome.
type RegisterResponse struct {
	CustomerID   string       `json:"customer_id"`
	Created      bool         `json:"created"`
	Unchanged    bool         `json:"unchanged"`
	Manual       bool         `json:"manual"`
	Grade        string       `json:"grade,omitempty"`
	Score        float64      `json:"score"`
	Match        *Explanation `json:"match,omitempty"`
	ReviewTaskID string       `json:"review_task_id,omitempty"`
	Warnings     []Finding    `json:"warnings"`
}

func registerResponse(r fiveid.RegisterResult) RegisterResponse {
	return RegisterResponse{
		CustomerID: r.CustomerID, Created: r.Created, Unchanged: r.Unchanged, Manual: r.Manual,
		Grade: string(r.Decision.Grade), Score: r.Decision.Score, Match: callerExplanation(r.Decision.Explanation),
		ReviewTaskID: r.ReviewTaskID, Warnings: findings(r.Findings),
	}
}

// BatchRequest registers up to 1,000 records.
type BatchRequest struct {
	Records []RegisterRequest `json:"records"`
}

// BatchResult is one record's outcome: a result or an error.
type BatchResult struct {
	Index  int               `json:"index"`
	OK     bool              `json:"ok"`
	Result *RegisterResponse `json:"result,omitempty"`
	Error  *Error            `json:"error,omitempty"`
}

// BatchResponse holds results in request order.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// IdentifyRequest identifies a person and may ask for a grant.
type IdentifyRequest struct {
	Elements
	Scopes     []string `json:"scopes,omitempty"`
	Purpose    string   `json:"purpose,omitempty"`
	TTLSeconds int64    `json:"ttl_seconds,omitempty"`
}

// GrantWire is an issued grant with its token.
type GrantWire struct {
	ID         string     `json:"id"`
	Token      string     `json:"token,omitempty"`
	CustomerID string     `json:"customer_id"`
	Grantee    string     `json:"grantee"`
	Scopes     []string   `json:"scopes"`
	Purpose    string     `json:"purpose"`
	Grade      string     `json:"grade,omitempty"`
	Score      float64    `json:"score"`
	IssuedAt   time.Time  `json:"issued_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	Status     string     `json:"status,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func grantWire(g fiveid.Grant, token string, now time.Time) GrantWire {
	w := GrantWire{ID: g.ID, Token: token, CustomerID: g.CustomerID, Grantee: g.Grantee, Scopes: g.Scopes, Purpose: g.Purpose,
		Grade: g.Grade, Score: g.Score, IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt, Status: g.Status(now)}
	if w.Scopes == nil {
		w.Scopes = []string{}
	}
	if !g.RevokedAt.IsZero() {
		t := g.RevokedAt
		w.RevokedAt = &t
	}
	return w
}

// IdentifyResponse names the customer and, when asked and allowed, a grant.
type IdentifyResponse struct {
	CustomerID string       `json:"customer_id"`
	Grade      string       `json:"grade"`
	Score      float64      `json:"score"`
	Match      *Explanation `json:"match,omitempty"`
	Warnings   []Finding    `json:"warnings"`
	Grant      *GrantWire   `json:"grant,omitempty"`
	Deceased   bool         `json:"deceased"`
	DeathDate  string       `json:"death_date,omitempty"`
}

// XrefResponse is a customer's cross-reference.
type XrefResponse struct {
	CustomerID string      `json:"customer_id"`
	Deceased   bool        `json:"deceased"`
	DeathDate  string      `json:"death_date,omitempty"`
	MergedFrom []string    `json:"merged_from"`
	Records    []XrefEntry `json:"records"`
}

// XrefEntry is one system's local ID.
type XrefEntry struct {
	System  string `json:"system"`
	LocalID string `json:"local_id"`
}

// Link is how a source record belongs to its customer.
type Link struct {
	Grade  string       `json:"grade,omitempty"`
	Score  float64      `json:"score"`
	Manual bool         `json:"manual"`
	Merge  string       `json:"merge,omitempty"` // the merge that moved the record here, while it stands
	Match  *Explanation `json:"match,omitempty"`
}

// SourceRecordWire is a linked source record as an admin sees it.
type SourceRecordWire struct {
	System    string    `json:"system"`
	LocalID   string    `json:"local_id"`
	Raw       Elements  `json:"raw"`
	Link      Link      `json:"link"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CustomerResponse is a golden record with its source records.
type CustomerResponse struct {
	CustomerID     string             `json:"customer_id"`
	Status         string             `json:"status"`
	MergedFrom     []string           `json:"merged_from"`
	Name           string             `json:"name"`
	Sex            string             `json:"sex"`
	BirthDate      string             `json:"birth_date"`
	IDType         string             `json:"id_type"`
	IDNumber       string             `json:"id_number"`
	IDNumberMasked string             `json:"id_number_masked"`
	Deceased       bool               `json:"deceased"`
	DeathDate      string             `json:"death_date,omitempty"`
	DeathSource    string             `json:"death_source,omitempty"`
	Version        int64              `json:"version"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
	Records        []SourceRecordWire `json:"records"`
}

func customerResponse(v fiveid.CustomerView) CustomerResponse {
	c := v.Customer
	out := CustomerResponse{
		CustomerID: c.ID, Status: string(c.Status), MergedFrom: nonNil(v.MergedFrom), Name: c.Name, Sex: c.Sex,
		BirthDate: c.BirthDate, IDType: c.IDType, IDNumber: c.IDNumber, IDNumberMasked: match.MaskID(c.IDNumber),
		Deceased: c.Deceased(), DeathDate: c.DeathDate, DeathSource: c.DeathSource,
		Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Records: []SourceRecordWire{},
	}
	for _, r := range v.Records {
		out.Records = append(out.Records, SourceRecordWire{
			System: r.System, LocalID: r.LocalID, Raw: elementsOf(r.Raw),
			Link: Link{Grade: string(r.Link.Grade), Score: r.Link.Score, Manual: r.Link.Manual, Merge: r.Link.Merge,
				Match: explanation(r.Link.Explanation)},
			Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// NormalizeRequest asks how fiveid reads five elements.
type NormalizeRequest struct {
	Elements
	IDTable string `json:"id_table,omitempty"`
}

// NormalizeResponse is the raw, normalized and derived values with findings.
type NormalizeResponse struct {
	Raw        Elements         `json:"raw"`
	Normalized NormalizedValues `json:"normalized"`
	Derived    DerivedValues    `json:"derived"`
	Findings   []Finding        `json:"findings"`
}

// NormalizedValues are the canonical five elements and their keys.
type NormalizedValues struct {
	Name               string     `json:"name"`
	NameKey            string     `json:"name_key"`
	NameDotless        string     `json:"name_dotless"`
	Pinyin             [][]string `json:"pinyin"`
	Sex                string     `json:"sex"`
	SexCode            string     `json:"sex_code"`
	BirthDate          string     `json:"birth_date"`
	BirthDatePrecision string     `json:"birth_date_precision"`
	IDType             string     `json:"id_type"`
	IDNamespace        string     `json:"id_namespace"`
	IDNumber           string     `json:"id_number"`
	IDKey              string     `json:"id_key"`
	IDChecksumValid    *bool      `json:"id_checksum_valid,omitempty"`
}

// DerivedValues are what the ID number itself says.
type DerivedValues struct {
	BirthDate string `json:"birth_date"`
	Sex       string `json:"sex"`
}

var precisions = map[match.Precision]string{match.PrecisionNone: "", match.PrecisionYear: "year", match.PrecisionMonth: "month", match.PrecisionDay: "day"}

func sexWire(s match.Sex) string {
	if s == match.SexUnknown {
		return ""
	}
	return s.String()
}

func normalizeResponse(in match.Input, r match.Record) NormalizeResponse {
	n := NormalizedValues{
		Name: r.Name.Display, NameKey: r.Name.Key, NameDotless: r.Name.Dotless, Pinyin: r.Name.Pinyin,
		Sex: sexWire(r.Sex), SexCode: r.Sex.Code(), BirthDate: r.BirthDate.String(), BirthDatePrecision: precisions[r.BirthDate.Precision],
		IDType: string(r.ID.Type), IDNamespace: r.ID.Namespace, IDNumber: r.ID.Number, IDKey: r.ID.Key,
	}
	if n.Pinyin == nil {
		n.Pinyin = [][]string{}
	}
	if r.ID.HasChecksum {
		v := r.ID.ChecksumValid
		n.IDChecksumValid = &v
	}
	return NormalizeResponse{
		Raw: elementsOf(in), Normalized: n,
		Derived:  DerivedValues{BirthDate: r.ID.BirthDate.String(), Sex: sexWire(r.ID.Sex)},
		Findings: findings(r.Findings),
	}
}

// SystemWire is a registered source system.
type SystemWire struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	IDTable   string    `json:"id_table"`
	CreatedAt time.Time `json:"created_at,omitempty"`
}

// KeyRequest creates an API key.
type KeyRequest struct {
	Role   string `json:"role"`
	System string `json:"system,omitempty"`
	Name   string `json:"name,omitempty"`
}

// KeyWire is an API key without its secret; Key is set once, at creation.
type KeyWire struct {
	ID        string     `json:"id"`
	Key       string     `json:"key,omitempty"`
	Role      string     `json:"role"`
	System    string     `json:"system,omitempty"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func keyWire(k fiveid.APIKey, secret string) KeyWire {
	w := KeyWire{ID: k.ID, Key: secret, Role: string(k.Role), System: k.System, Name: k.Name, CreatedAt: k.CreatedAt}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt
		w.RevokedAt = &t
	}
	return w
}

// RecordRefWire names a source record and its identifier, masked.
type RecordRefWire struct {
	System   string `json:"system"`
	LocalID  string `json:"local_id"`
	IDMasked string `json:"id_number_masked"`
}

// IdentifierConflictWire is a record of the merged customer (from) and one
// of the survivor (into) holding different checksum-valid identifiers of
// one namespace.
type IdentifierConflictWire struct {
	Namespace string        `json:"namespace"`
	From      RecordRefWire `json:"from"`
	Into      RecordRefWire `json:"into"`
}

func conflictsWire(cs []fiveid.IdentifierConflict) []IdentifierConflictWire {
	out := make([]IdentifierConflictWire, len(cs))
	for i, c := range cs {
		out[i] = IdentifierConflictWire{Namespace: c.Namespace,
			From: RecordRefWire{System: c.A.System, LocalID: c.A.LocalID, IDMasked: c.A.MaskedID},
			Into: RecordRefWire{System: c.B.System, LocalID: c.B.LocalID, IDMasked: c.B.MaskedID}}
	}
	return out
}
