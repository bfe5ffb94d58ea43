package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"fiveid"
	"fiveid/match"
)

// operator is the principal of commands run on the service's own machine:
// whoever can reach the store's data directory or DATABASE_URL is an admin.
var operator = fiveid.Principal{KeyID: "cli", Role: fiveid.RoleAdmin}

func withApp(ctx context.Context, cfg config, fn func(a *app) error) error {
	a, err := wire(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

func keysCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	sub, args, err := subcommand("keys", args)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		fs := newCommand("keys create")
		role := fs.String("role", "", "system, auditor or admin")
		system := fs.String("system", "", "the registered system code (role system)")
		name := fs.String("name", "", "a label for the key")
		if _, err := fs.parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			k, secret, err := a.svc.CreateKey(ctx, operator, fiveid.Role(*role), *system, *name)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created key %s (role %s", k.ID, k.Role)
			if k.System != "" {
				fmt.Fprintf(stdout, ", system %s", k.System)
			}
			fmt.Fprintln(stdout, "); the secret is shown once:")
			fmt.Fprintln(stdout, secret)
			return nil
		})
	case "list":
		if _, err := newCommand("keys list").parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			keys, err := a.svc.ListKeys(ctx, operator)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tSYSTEM\tNAME\tCREATED\tREVOKED")
			for _, k := range keys {
				rev := "-"
				if !k.Active() {
					rev = k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, dash(k.System), dash(k.Name), k.CreatedAt.Format(time.RFC3339), rev)
			}
			return tw.Flush()
		})
	case "revoke":
		fs := newCommand("keys revoke")
		revokeGrants := fs.Bool("revoke-grants", false, "also revoke every active grant asked for with this key")
		pos, err := fs.parse(args)
		if err != nil {
			return err
		}
		id := pos[0]
		return withApp(ctx, cfg, func(a *app) error {
			n, err := a.svc.RevokeKey(ctx, operator, id, *revokeGrants)
			if err != nil {
				return err
			}
			if *revokeGrants {
				fmt.Fprintf(stdout, "revoked %s and %d of its active grants\n", id, n)
				return nil
			}
			fmt.Fprintf(stdout, "revoked %s\n", id)
			return nil
		})
	}
	return unknownSubcommand("keys", sub)
}

func systemsCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	sub, args, err := subcommand("systems", args)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		fs := newCommand("systems create")
		code := fs.String("code", "", "stable system code")
		name := fs.String("name", "", "display name")
		kind := fs.String("kind", "other", "medical, eldercare, funeral or other")
		table := fs.String("id-table", "", "ID-type code table: ws364, nhsa, gat2000 or empty")
		if _, err := fs.parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			s, err := a.svc.CreateSystem(ctx, operator, fiveid.System{Code: *code, Name: *name, Kind: fiveid.SystemKind(*kind), IDTable: match.IDTable(*table)})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created system %s (%s)\n", s.Code, s.Kind)
			return nil
		})
	case "list":
		if _, err := newCommand("systems list").parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			systems, err := a.svc.ListSystems(ctx, operator)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CODE\tKIND\tID_TABLE\tNAME")
			for _, s := range systems {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Code, s.Kind, dash(string(s.IDTable)), s.Name)
			}
			return tw.Flush()
		})
	}
	return unknownSubcommand("systems", sub)
}

func maskNumber(s string) string { return match.MaskID(s) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
