package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"fiveid"
	"fiveid/match"
)

// Offence is a hard case that auto-linked: two people who must never share
// a customer did, or an answer chose between people the evidence cannot
// tell apart. Kind is "twin" or "tie".
type Offence struct {
	Kind   string
	Detail string // people by their number in the dataset, identifiers masked, no names
}

func (o Offence) String() string { return o.Kind + ": " + o.Detail }

// RegistrationOffences lists what registration linked that it must not
// have: a customer holding records of two twins or of two people in a tie
// (same name, sex and birth date — the ties of ds.Ties and any the
// population drew by chance), and a tie's third record (name, sex and
// birth date only) linked to a customer holding other records.
func RegistrationOffences(ctx context.Context, svc *fiveid.Service, reg Registration, ds Dataset) ([]Offence, error) {
	byCustomer := map[string][]int{} // customer -> record indexes
	for i, c := range reg.customers {
		if c != "" {
			byCustomer[c] = append(byCustomer[c], i)
		}
	}
	var out []Offence
	var ids []string
	for c := range byCustomer {
		ids = append(ids, c)
	}
	sort.Strings(ids)
	for _, c := range ids {
		var people []int
		for _, i := range byCustomer[c] {
			if p := ds.Records[i].PersonID; !slices.Contains(people, p) {
				people = append(people, p)
			}
		}
		for x, a := range people {
			for _, b := range people[x+1:] {
				rel := Relation(ds, a, b)
				if rel != "twin" && rel != "tie" {
					continue
				}
				d, err := customerRecords(ctx, svc, c, ds, reg, byCustomer[c])
				if err != nil {
					return nil, err
				}
				out = append(out, Offence{Kind: rel, Detail: fmt.Sprintf("register: customer %s holds records of persons %d and %d: %s", c, a, b, d)})
			}
		}
	}
	for n, t := range ds.Ties {
		c := reg.Customer(t.Third)
		if c == "" || len(byCustomer[c]) < 2 {
			continue
		}
		d, err := customerRecords(ctx, svc, c, ds, reg, byCustomer[c])
		if err != nil {
			return nil, err
		}
		out = append(out, Offence{Kind: "tie", Detail: fmt.Sprintf("register: tie %d (%s): the record with name, sex and birth date only, %s/%s, linked to customer %s: %s",
			n, tieSides(ds, t), ds.Records[t.Third].System, ds.Records[t.Third].LocalID, c, d)})
	}
	return out, nil
}

// customerRecords describes a customer's records: each one's person,
// masked identifier and the decision that linked it.
func customerRecords(ctx context.Context, svc *fiveid.Service, id string, ds Dataset, reg Registration, idx []int) (string, error) {
	v, err := svc.Customer(ctx, admin, id)
	if err != nil {
		return "", fmt.Errorf("customer %s: %w", id, err)
	}
	person := map[string]int{}
	for _, i := range idx {
		person[ds.Records[i].System+"/"+ds.Records[i].LocalID] = ds.Records[i].PersonID
	}
	var parts []string
	for _, r := range v.Records {
		key := r.System + "/" + r.LocalID
		s := fmt.Sprintf("[%s person %d%s", key, person[key], maskedID(r.Raw))
		if r.Link.Grade != "" {
			s += " linked " + pattern(r.Link.Explanation)
		} else {
			s += " started the customer"
		}
		parts = append(parts, s+"]")
	}
	return strings.Join(parts, " "), nil
}

func tieSides(ds Dataset, t Tie) string {
	b := "another valid citizen number"
	if t.NoID {
		b = "no ID"
	}
	return fmt.Sprintf("persons %d (citizen %s) and %d (%s)", t.A, match.MaskID(ds.People[t.A].IDNumber), t.B, b)
}

// IdentificationOffences lists identify's auto-links between twins or
// people in a tie among id's wrong links, and runs every tie probe (name,
// sex and birth date only): any auto-link there is an offence, to either
// person, because the evidence cannot tell them apart.
func IdentificationOffences(ctx context.Context, svc *fiveid.Service, reg Registration, ds Dataset, id Identification) ([]Offence, error) {
	var out []Offence
	for _, w := range id.WrongLinks {
		if w.Relation == "twin" || w.Relation == "tie" {
			out = append(out, Offence{Kind: w.Relation, Detail: "identify: " + w.String()})
		}
	}
	for n, t := range ds.Ties {
		for _, q := range t.Probes {
			res, err := svc.Identify(ctx, fiveid.Principal{KeyID: "benchmark", Role: fiveid.RoleSystem, System: q.System}, q.Input)
			switch {
			case errors.Is(err, fiveid.ErrNeedsReview), errors.Is(err, fiveid.ErrNoMatch):
				continue
			case err != nil:
				return nil, fmt.Errorf("tie %d probe: %w", n, err)
			}
			whose := "another customer"
			if p, ok := reg.PersonOf(res.CustomerID); ok {
				whose = fmt.Sprintf("the customer of person %d", p)
			}
			out = append(out, Offence{Kind: "tie", Detail: fmt.Sprintf("identify: tie %d (%s): name, sex and birth date of person %d → %s, %s: %s",
				n, tieSides(ds, t), q.PersonID, res.CustomerID, whose, pattern(res.Explanation))})
		}
	}
	return out, nil
}
