package match

import (
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// ParseIDTable accepts "", "ws364", "nhsa" and "gat2000".
func ParseIDTable(s string) (IDTable, error) {
	switch t := IDTable(strings.ToLower(strings.TrimSpace(s))); t {
	case IDTableAuto, IDTableWS364, IDTableNHSA, IDTableGAT2000:
		return t, nil
	}
	return "", fmt.Errorf("unknown ID-type table %q (want ws364, nhsa, gat2000 or empty)", s)
}

// WS 364.3 CV02.01.101 (health records; docs/references.md).
var ws364Codes = map[string]IDType{
	"01": IDTypeCitizen, "02": IDTypeCitizen, "03": IDTypePassport, "04": IDTypeMilitary,
	"05": IDTypeDriver, "06": IDTypeHKMOPermit, "07": IDTypeTWPermit, "99": IDTypeOther,
}

// NHSA psn_cert_type (medical insurance; docs/references.md).
// 04/05 are "HK (Macau) passport / HK-Macau permit": the permit is what
// mainland systems see in practice.
var nhsaCodes = map[string]IDType{
	"01": IDTypeCitizen, "02": IDTypeMilitary, "03": IDTypeMilitary, "04": IDTypeHKMOPermit,
	"05": IDTypeHKMOPermit, "06": IDTypeTWPermit, "07": IDTypeForeignPR, "08": IDTypePassportForeign,
	"09": IDTypeDisability, "10": IDTypeOther, "11": IDTypeOther, "12": IDTypeOther, "13": IDTypeOther,
	"14": IDTypeOther, "15": IDTypeOther, "16": IDTypePassportCN, "17": IDTypeHMTResidence,
	"90": IDTypeCitizen, "91": IDTypeOther, "99": IDTypeOther, "990201": IDTypeBirthCert, "990102": IDTypeOther,
}

// GA/T 2000.156 (public security; docs/references.md).
var gatCodes = map[string]IDType{
	"111": IDTypeCitizen, "112": IDTypeCitizen, "113": IDTypeCitizen, "240": IDTypeCitizen,
	"114": IDTypeMilitary, "115": IDTypeMilitary, "118": IDTypeMilitary, "119": IDTypeMilitary,
	"117": IDTypeBirthCert, "154": IDTypeHMTResidence, "217": IDTypeDisability,
	"412": IDTypePassportCN, "413": IDTypePassportCN, "414": IDTypePassportCN,
	"420": IDTypePassportHKMO, "421": IDTypePassportHKMO,
	"511": IDTypeTWPermit, "512": IDTypeTWPermit, "516": IDTypeHKMOPermit,
	"553": IDTypeForeignPR, "990": IDTypeOther,
	"116": IDTypeOther, "123": IDTypeOther, "131": IDTypeOther, "133": IDTypeOther, "159": IDTypeOther,
	"211": IDTypeOther, "213": IDTypeOther, "215": IDTypeOther, "219": IDTypeOther, "415": IDTypeOther,
	"416": IDTypeOther, "417": IDTypeOther, "418": IDTypeOther, "419": IDTypeOther, "513": IDTypeOther,
	"515": IDTypeOther, "517": IDTypeOther, "552": IDTypeOther, "554": IDTypeOther, "555": IDTypeOther,
	"791": IDTypeOther, "792": IDTypeOther,
}

// idTypeNames are document names as sources type them, and the internal
// enum names. Keys are upper-cased, without spaces.
var idTypeNames = map[string]IDType{
	"居民身份证": IDTypeCitizen, "身份证": IDTypeCitizen, "二代身份证": IDTypeCitizen, "第二代居民身份证": IDTypeCitizen,
	"临时身份证": IDTypeCitizen, "临时居民身份证": IDTypeCitizen, "公民身份号码": IDTypeCitizen, "身份证号": IDTypeCitizen,
	"户口簿": IDTypeCitizen, "户口本": IDTypeCitizen, "居民户口簿": IDTypeCitizen, "居民身份证（户口簿）": IDTypeCitizen,
	"居民身份证(户口簿)": IDTypeCitizen, "社会保障卡": IDTypeCitizen, "社保卡": IDTypeCitizen, "社会医疗保障卡": IDTypeCitizen,
	"护照": IDTypePassport, "普通护照": IDTypePassportCN, "中国护照": IDTypePassportCN, "公务护照": IDTypePassportCN,
	"外国护照": IDTypePassportForeign, "外国人护照": IDTypePassportForeign,
	"香港特别行政区护照": IDTypePassportHKMO, "澳门特别行政区护照": IDTypePassportHKMO,
	"港澳居民来往内地通行证": IDTypeHKMOPermit, "回乡证": IDTypeHKMOPermit, "港澳回乡证": IDTypeHKMOPermit,
	"台湾居民来往大陆通行证": IDTypeTWPermit, "台湾居民来往内地通行证": IDTypeTWPermit, "台胞证": IDTypeTWPermit,
	"港澳台居民居住证": IDTypeHMTResidence, "港澳居民居住证": IDTypeHMTResidence, "台湾居民居住证": IDTypeHMTResidence,
	"居住证":        IDTypeHMTResidence,
	"外国人永久居留身份证": IDTypeForeignPR, "外国人永久居留证": IDTypeForeignPR, "永居证": IDTypeForeignPR,
	"军官证": IDTypeMilitary, "士兵证": IDTypeMilitary, "警官证": IDTypeMilitary, "中国人民解放军军官证": IDTypeMilitary,
	"驾驶证": IDTypeDriver, "机动车驾驶证": IDTypeDriver,
	"出生医学证明": IDTypeBirthCert, "出生证": IDTypeBirthCert, "出生证明": IDTypeBirthCert, "医学出生证明": IDTypeBirthCert,
	"残疾人证": IDTypeDisability, "残疾证": IDTypeDisability,
	"其他": IDTypeOther, "其它": IDTypeOther, "其他法定有效证件": IDTypeOther, "其他身份证件": IDTypeOther,
	"IDCARD": IDTypeCitizen, "ID": IDTypeCitizen, "RESIDENTID": IDTypeCitizen, "PASSPORT": IDTypePassport,
	"OTHER": IDTypeOther,
}

func init() {
	for _, t := range []IDType{IDTypeCitizen, IDTypeHKMOPermit, IDTypeTWPermit, IDTypeHMTResidence, IDTypeForeignPR,
		IDTypePassportCN, IDTypePassportHKMO, IDTypePassportForeign, IDTypePassport, IDTypeMilitary, IDTypeDriver,
		IDTypeBirthCert, IDTypeDisability, IDTypeOther} {
		idTypeNames[string(t)] = t
	}
}

// autoCodes are the codes that mean the same in every table that has them,
// so they are safe to read when a system did not say which table it uses.
var autoCodes = func() map[string]IDType {
	out := map[string]IDType{}
	conflict := map[string]bool{}
	for _, tab := range []map[string]IDType{ws364Codes, nhsaCodes, gatCodes} {
		for c, t := range tab {
			if prev, ok := out[c]; ok && prev != t {
				conflict[c] = true
			}
			out[c] = t
		}
	}
	for c := range conflict {
		delete(out, c)
	}
	return out
}()

// NormalizeIDType maps a declared ID type — a code of the system's table,
// or a document name — to the internal enum. It returns (IDTypeNone, true)
// for an empty value and (IDTypeUnknown, false) for anything it does not
// know: unknown types are kept, never guessed.
func NormalizeIDType(raw string, table IDTable) (IDType, bool) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return IDTypeNone, true
	}
	if !isASCII(s) {
		s = norm.NFKC.String(s)
	}
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	s = strings.ReplaceAll(s, "_", "")
	if t, ok := idTypeNames[s]; ok {
		return t, true
	}
	if t, ok := idTypeNames[strings.ToUpper(strings.TrimSpace(raw))]; ok {
		return t, true
	}
	if allDigits(s) && len(s) == 1 {
		s = "0" + s // "1" for "01"
	}
	var tab map[string]IDType
	switch table {
	case IDTableWS364:
		tab = ws364Codes
	case IDTableNHSA:
		tab = nhsaCodes
	case IDTableGAT2000:
		tab = gatCodes
	default:
		tab = autoCodes
	}
	if t, ok := tab[s]; ok {
		return t, true
	}
	return IDTypeUnknown, false
}
