package match

import (
	"fmt"
	"strings"
)

// This file is the contract between normalization (normalize.go and the
// per-element name.go, sex.go, date.go, lunar.go, id.go, idtype.go) and
// comparison, scoring and blocking (compare.go, score.go, choose.go,
// blocking.go). Change it only together with both sides.

// Input is the five identity elements exactly as a source system sent them.
type Input struct {
	Name      string
	Sex       string
	BirthDate string
	IDType    string
	IDNumber  string
}

// IDTable names the ID-type code table a source system uses. The same code
// means different things in different tables ("03" is a passport in WS 364.3
// CV02.01.101 and an armed-police officer card in NHSA psn_cert_type).
type IDTable string

const (
	IDTableAuto    IDTable = ""        // accept names and unambiguous codes only
	IDTableWS364   IDTable = "ws364"   // WS 364.3 CV02.01.101 (health records)
	IDTableNHSA    IDTable = "nhsa"    // NHSA psn_cert_type (medical insurance)
	IDTableGAT2000 IDTable = "gat2000" // GA/T 2000.156 (public security)
)

// Options tune normalization for one source system.
type Options struct {
	IDTable IDTable
	// Today bounds birth dates (no birth in the future). match has no clock:
	// the caller passes the date; the zero value skips the check.
	Today Date
}

// Sex follows GB/T 2261.1: unknown (0/9) is missing data, not a value.
type Sex uint8

const (
	SexUnknown Sex = iota
	SexMale
	SexFemale
)

// String returns "male", "female" or "unknown".
func (s Sex) String() string {
	switch s {
	case SexMale:
		return "male"
	case SexFemale:
		return "female"
	}
	return "unknown"
}

// Code returns the GB/T 2261.1 code: "1", "2" or "0".
func (s Sex) Code() string {
	switch s {
	case SexMale:
		return "1"
	case SexFemale:
		return "2"
	}
	return "0"
}

// Precision of a birth date. Year-only and year-month dates are kept at their
// precision; nothing is ever invented.
type Precision uint8

const (
	PrecisionNone Precision = iota // missing
	PrecisionYear
	PrecisionMonth
	PrecisionDay
)

// Date is a civil date with a precision. The zero value is a missing date.
type Date struct {
	Year, Month, Day int
	Precision        Precision
}

// IsZero reports a missing date.
func (d Date) IsZero() bool { return d.Precision == PrecisionNone }

// String returns "YYYY-MM-DD", "YYYY-MM", "YYYY" or "" by precision.
func (d Date) String() string {
	switch d.Precision {
	case PrecisionDay:
		return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
	case PrecisionMonth:
		return fmt.Sprintf("%04d-%02d", d.Year, d.Month)
	case PrecisionYear:
		return fmt.Sprintf("%04d", d.Year)
	}
	return ""
}

// IDType is fiveid's internal ID-type enum; every source code table maps onto
// it (idtype.go; the tables are in docs/references.md).
type IDType string

const (
	IDTypeNone            IDType = ""
	IDTypeCitizen         IDType = "CN_RIC"           // 居民身份证 / 户口簿 / 社保卡 (GB 11643)
	IDTypeHKMOPermit      IDType = "HKMO_PERMIT"      // 港澳居民来往内地通行证
	IDTypeTWPermit        IDType = "TW_PERMIT"        // 台湾居民来往大陆通行证
	IDTypeHMTResidence    IDType = "HMT_RESIDENCE"    // 港澳台居民居住证
	IDTypeForeignPR       IDType = "FOREIGN_PR"       // 外国人永久居留身份证
	IDTypePassportCN      IDType = "PASSPORT_CN"      // 中国护照
	IDTypePassportHKMO    IDType = "PASSPORT_HK_MO"   // 香港/澳门特区护照
	IDTypePassportForeign IDType = "PASSPORT_FOREIGN" // 外国护照
	IDTypePassport        IDType = "PASSPORT"         // 护照, issuer not stated
	IDTypeMilitary        IDType = "MILITARY"
	IDTypeDriver          IDType = "DRIVER"
	IDTypeBirthCert       IDType = "BIRTH_CERT"
	IDTypeDisability      IDType = "DISABILITY"
	IDTypeOther           IDType = "OTHER"
	IDTypeUnknown         IDType = "UNKNOWN" // a code fiveid does not know: kept, never guessed
)

// Identifier is a normalized ID number.
type Identifier struct {
	Type      IDType // internal type the source declared (after table mapping)
	TypeRaw   string // the declared type as received, kept when Type is UNKNOWN
	Namespace string // matching namespace: several types share one (户口簿 and 社保卡 carry the citizen number)
	Number    string // canonical full number (18-digit form for upgraded 15-digit citizen numbers)
	// Key is Namespace + ":" + the lifelong part of the number (first 9
	// characters of an HK/Macau permit, first 8 digits of a Taiwan permit,
	// country + number for passports). Equal keys mean the same identifier.
	Key           string
	ChecksumValid bool // a checksum exists for this type and it verifies
	HasChecksum   bool // the type carries a check character
	Upgraded15    bool // a 15-digit citizen number was upgraded to 18 digits
	BirthDate     Date // embedded in the number (citizen numbers), else zero
	Sex           Sex  // embedded in the number (citizen numbers), else unknown
}

// IsZero reports a missing identifier.
func (id Identifier) IsZero() bool { return id.Key == "" }

// Script classifies a name.
type Script uint8

const (
	ScriptNone Script = iota
	ScriptHan
	ScriptLatin
	ScriptMixed
)

// Name is a normalized personal name.
type Name struct {
	// Display is the cleaned name as the person writes it: NFKC, controls and
	// variation selectors stripped, whitespace rules applied, every dot
	// variant folded to U+00B7. Traditional characters are kept.
	Display string
	// Key is the matching key: Display with traditional characters folded to
	// simplified (Han) or upper-cased, accent-free, token-sorted (Latin).
	Key string
	// Dotless is Key without U+00B7 and spaces.
	Dotless string
	Script  Script
	// Pinyin holds, per Han character of Key, every reading (heteronyms,
	// toneless, lower case). Nil for non-Han names.
	Pinyin [][]string
	// PinyinKey is the first reading of each character joined with no
	// separator; used for blocking only.
	PinyinKey string
	// Placeholders counts wildcard characters ('?', '□', '〓', U+FFFD,
	// private use) standing for a character the source could not type. In
	// Key and Dotless each one is written as '?'.
	Placeholders int
}

// IsZero reports a missing name.
func (n Name) IsZero() bool { return n.Key == "" }

// Severity of a finding.
type Severity string

const (
	SeverityInfo    Severity = "info"    // a repair that changes nothing about identity (full-width digits)
	SeverityWarning Severity = "warning" // a doubt worth a data steward's look (checksum invalid, DOB mismatch)
)

// Finding is one repair or doubt found while normalizing.
type Finding struct {
	Field    string // name, sex, birth_date, id_type, id_number
	Code     string // stable machine code, e.g. id_checksum_invalid
	Severity Severity
}

// Record is the normalized form of Input.
type Record struct {
	Name      Name
	Sex       Sex
	BirthDate Date
	ID        Identifier
	Findings  []Finding
}

// FieldError is one irreparable problem with one field.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

// ValidationError reports input that cannot be normalized into anything
// usable (no name, nothing that identifies).
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid identity: " + strings.Join(parts, "; ")
}
