package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
	"fiveid/match"
)

// The admin pages: systems, keys, policies, webhooks. Each lists what
// the use case lists and posts to the use case that changes it.

type systemsData struct {
	Systems []fiveid.System
	Kinds   []fiveid.SystemKind
	Tables  []match.IDTable
}

func (con *console) systems(c echo.Context) error {
	s := sess(c)
	ss, err := con.svc.ListSystems(c.Request().Context(), s.p)
	if err != nil {
		return con.failErr(c, err)
	}
	return con.render(c, s, http.StatusOK, "systems", "systems.title", systemsData{Systems: ss,
		Kinds:  []fiveid.SystemKind{fiveid.KindMedical, fiveid.KindEldercare, fiveid.KindFuneral, fiveid.KindOther},
		Tables: []match.IDTable{match.IDTableAuto, match.IDTableNHSA}})
}

func (con *console) createSystem(c echo.Context) error {
	sys, err := con.svc.CreateSystem(c.Request().Context(), sess(c).p, fiveid.System{Code: strings.TrimSpace(c.FormValue("code")),
		Name: c.FormValue("name"), Kind: fiveid.SystemKind(c.FormValue("kind")), IDTable: match.IDTable(c.FormValue("id_table"))})
	return con.done(c, Prefix+"/systems", err, "systems.created", sys.Code)
}

type keysData struct {
	Keys    []fiveid.APIKey
	Systems []fiveid.System
}

func (con *console) keys(c echo.Context) error {
	ctx, s := c.Request().Context(), sess(c)
	ks, err := con.svc.ListKeys(ctx, s.p)
	if err != nil {
		return con.failErr(c, err)
	}
	ss, err := con.svc.ListSystems(ctx, s.p)
	if err != nil {
		return con.failErr(c, err)
	}
	return con.render(c, s, http.StatusOK, "keys", "keys.title", keysData{Keys: ks, Systems: ss})
}

// createKey shows the new secret once, on the page it redirects to.
func (con *console) createKey(c echo.Context) error {
	role := fiveid.Role(c.FormValue("role"))
	system := c.FormValue("system")
	if role != fiveid.RoleSystem {
		system = ""
	}
	_, secret, err := con.svc.CreateKey(c.Request().Context(), sess(c).p, role, system, strings.TrimSpace(c.FormValue("name")))
	return con.done(c, Prefix+"/keys", err, "keys.created", secret)
}

func (con *console) revokeKey(c echo.Context) error {
	n, err := con.svc.RevokeKey(c.Request().Context(), sess(c).p, c.Param("id"), c.FormValue("revoke_grants") != "")
	return con.done(c, Prefix+"/keys", err, "keys.revoked", strconv.Itoa(n))
}

func (con *console) policies(c echo.Context) error {
	s := sess(c)
	ps, err := con.svc.ListPolicies(c.Request().Context(), s.p, "")
	if err != nil {
		return con.failErr(c, err)
	}
	return con.render(c, s, http.StatusOK, "policies", "policies.title", ps)
}

func (con *console) createPolicy(c echo.Context) error {
	var ttl int64 // empty: the use case's default
	if v := strings.TrimSpace(c.FormValue("max_ttl_seconds")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return con.done(c, Prefix+"/policies", invalid("max_ttl_seconds", "max_ttl_seconds must be a number of seconds"), "", "")
		}
		ttl = n
	}
	pol, err := con.svc.CreatePolicy(c.Request().Context(), sess(c).p, fiveid.Policy{Grantee: strings.TrimSpace(c.FormValue("grantee")),
		Scopes: strings.Fields(c.FormValue("scopes")), Purposes: strings.Fields(c.FormValue("purposes")), MaxTTL: time.Duration(ttl) * time.Second})
	return con.done(c, Prefix+"/policies", err, "policies.created", pol.ID)
}

func (con *console) deletePolicy(c echo.Context) error {
	err := con.svc.DeletePolicy(c.Request().Context(), sess(c).p, c.Param("id"))
	return con.done(c, Prefix+"/policies", err, "policies.deleted", c.Param("id"))
}

func (con *console) webhooks(c echo.Context) error {
	s := sess(c)
	ws, err := con.svc.ListWebhooks(c.Request().Context(), s.p)
	if err != nil {
		return con.failErr(c, err)
	}
	return con.render(c, s, http.StatusOK, "webhooks", "webhooks.title", ws)
}

// createWebhook shows the signing secret once.
func (con *console) createWebhook(c echo.Context) error {
	_, secret, err := con.svc.CreateWebhook(c.Request().Context(), sess(c).p, strings.TrimSpace(c.FormValue("url")))
	return con.done(c, Prefix+"/webhooks", err, "webhooks.created", secret)
}

func (con *console) deleteWebhook(c echo.Context) error {
	err := con.svc.DeleteWebhook(c.Request().Context(), sess(c).p, c.Param("id"))
	return con.done(c, Prefix+"/webhooks", err, "webhooks.deleted", c.Param("id"))
}
