package match

// Finding codes. Stable: API clients may branch on them.
//
//	name:       name_invalid_utf8, name_width_folded, name_control_stripped, name_dot_folded,
//	            name_whitespace_removed, name_placeholder_char, name_traditional_folded,
//	            name_placeholder, name_truncated
//	sex:        sex_unrecognized, sex_changed
//	birth_date: dob_placeholder, dob_unparseable, dob_ambiguous, dob_invalid, dob_future,
//	            dob_partial, dob_time_dropped
//	id_type:    id_type_inferred, id_type_unknown, id_type_missing
//	id_number:  id_fullwidth_folded, id_reformatted, id_placeholder, id_missing, id_too_long,
//	            id_format_invalid, id_upgraded_from_15, id_checksum_invalid, id_province_invalid,
//	            id_birth_invalid, id_dob_mismatch, id_sex_mismatch
var FindingCodes = []string{
	"name_invalid_utf8", "name_width_folded", "name_control_stripped", "name_dot_folded",
	"name_whitespace_removed", "name_placeholder_char", "name_traditional_folded", "name_placeholder", "name_truncated",
	"sex_unrecognized", "sex_changed",
	"dob_placeholder", "dob_unparseable", "dob_ambiguous", "dob_invalid", "dob_future", "dob_partial", "dob_time_dropped",
	"id_type_inferred", "id_type_unknown", "id_type_missing",
	"id_fullwidth_folded", "id_reformatted", "id_placeholder", "id_missing", "id_too_long", "id_format_invalid",
	"id_upgraded_from_15", "id_checksum_invalid", "id_province_invalid", "id_birth_invalid", "id_dob_mismatch", "id_sex_mismatch",
}

// Normalize turns the five elements as a source sent them into the
// canonical Record, with a finding for every repair and doubt.
//
// Irreparable input is a *ValidationError naming the field: a name that is
// empty, or only placeholder characters, after cleaning ("name"); or
// nothing that identifies — neither a usable ID number nor a birth date
// ("id_number" and "birth_date"). A name with a birth date and no ID is
// valid, as is a name with an ID and no birth date.
func Normalize(in Input, opt Options) (Record, error) {
	var r Record
	var fs []Finding
	var f []Finding
	r.Name, f = normalizeName(in.Name)
	fs = append(fs, f...)
	r.Sex, f = normalizeSex(in.Sex)
	fs = append(fs, f...)
	r.BirthDate, f = ParseBirthDate(in.BirthDate, opt.Today)
	fs = append(fs, f...)
	r.ID, f = normalizeID(in.IDType, in.IDNumber, opt.IDTable, opt.Today)
	fs = append(fs, f...)
	if !r.ID.BirthDate.IsZero() && !r.BirthDate.IsZero() && !datesAgree(r.ID.BirthDate, r.BirthDate) {
		fs = append(fs, Finding{"id_number", "id_dob_mismatch", SeverityWarning})
	}
	if r.ID.Sex != SexUnknown && r.Sex != SexUnknown && r.ID.Sex != r.Sex {
		fs = append(fs, Finding{"id_number", "id_sex_mismatch", SeverityWarning})
	}
	r.Findings = fs

	var ve ValidationError
	if r.Name.Key == "" || r.Name.Placeholders == len([]rune(r.Name.Dotless)) {
		ve.Problems = append(ve.Problems, FieldError{"name", "name_required", "a name is required: it is empty or only placeholder characters after cleaning"})
	}
	if r.ID.IsZero() && r.BirthDate.IsZero() {
		msg := "nothing identifies this person: give a usable ID number or a birth date"
		ve.Problems = append(ve.Problems, FieldError{"id_number", "identifier_required", msg}, FieldError{"birth_date", "identifier_required", msg})
	}
	if len(ve.Problems) > 0 {
		return r, &ve
	}
	return r, nil
}

// datesAgree compares two dates at the precision both have.
func datesAgree(a, b Date) bool {
	if a.Year != b.Year {
		return false
	}
	if a.Precision >= PrecisionMonth && b.Precision >= PrecisionMonth && a.Month != b.Month {
		return false
	}
	if a.Precision == PrecisionDay && b.Precision == PrecisionDay && a.Day != b.Day {
		return false
	}
	return true
}
