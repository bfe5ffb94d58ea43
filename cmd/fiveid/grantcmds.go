package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"fiveid"
)

func policiesCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	sub, args, err := subcommand("policies", args)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		fs := newCommand("policies create")
		grantee := fs.String("grantee", "", "the system code that may receive grants")
		scopes := fs.String("scopes", "", "comma-separated scopes, e.g. medical,eldercare")
		purposes := fs.String("purposes", "", "comma-separated purposes, e.g. treatment,care")
		ttl := fs.Duration("max-ttl", time.Hour, "longest grant lifetime (at most 24h)")
		if _, err := fs.parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			p, err := a.svc.CreatePolicy(ctx, operator, fiveid.Policy{
				Grantee: *grantee, Scopes: splitList(*scopes), Purposes: splitList(*purposes), MaxTTL: *ttl,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created policy %s: %s may receive %s for %s, up to %s\n",
				p.ID, p.Grantee, strings.Join(p.Scopes, ","), strings.Join(p.Purposes, ","), p.MaxTTL)
			return nil
		})
	case "list":
		if _, err := newCommand("policies list").parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			pols, err := a.svc.ListPolicies(ctx, operator, "")
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tGRANTEE\tSCOPES\tPURPOSES\tMAX_TTL")
			for _, p := range pols {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Grantee, strings.Join(p.Scopes, ","), strings.Join(p.Purposes, ","), p.MaxTTL)
			}
			return tw.Flush()
		})
	case "delete":
		pos, err := newCommand("policies delete").parse(args)
		if err != nil {
			return err
		}
		id := pos[0]
		return withApp(ctx, cfg, func(a *app) error {
			if err := a.svc.DeletePolicy(ctx, operator, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted %s\n", id)
			return nil
		})
	}
	return unknownSubcommand("policies", sub)
}

func holdersCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	sub, args, err := subcommand("holders", args)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		fs := newCommand("holders create")
		system := fs.String("system", "", "the system code that holds the data")
		scopes := fs.String("scopes", "", "comma-separated scopes it holds data of, e.g. medical,eldercare")
		if _, err := fs.parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			h, err := a.svc.CreateHolder(ctx, operator, fiveid.Holder{System: *system, Scopes: splitList(*scopes)})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created holder %s: %s holds %s data\n", h.ID, h.System, strings.Join(h.Scopes, ","))
			return nil
		})
	case "list":
		if _, err := newCommand("holders list").parse(args); err != nil {
			return err
		}
		return withApp(ctx, cfg, func(a *app) error {
			hs, err := a.svc.ListHolders(ctx, operator, "")
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSYSTEM\tSCOPES\tCREATED")
			for _, h := range hs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.ID, h.System, strings.Join(h.Scopes, ","), h.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		})
	case "delete":
		pos, err := newCommand("holders delete").parse(args)
		if err != nil {
			return err
		}
		id := pos[0]
		return withApp(ctx, cfg, func(a *app) error {
			if err := a.svc.DeleteHolder(ctx, operator, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted %s\n", id)
			return nil
		})
	}
	return unknownSubcommand("holders", sub)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func signingKeyCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	sub, args, err := subcommand("signing-key", args)
	if err != nil {
		return err
	}
	if _, err := newCommand("signing-key " + sub).parse(args); err != nil {
		return err
	}
	return withApp(ctx, cfg, func(a *app) error {
		k, err := a.svc.RotateSigningKey(ctx, operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key %s is active; the previous one stays published for %s\n", k.ID, fiveid.MaxGrantTTL)
		return nil
	})
}

func auditCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	sub, args, err := subcommand("audit", args)
	if err != nil {
		return err
	}
	if _, err := newCommand("audit " + sub).parse(args); err != nil {
		return err
	}
	return withApp(ctx, cfg, func(a *app) error {
		res, err := a.svc.VerifyAudit(ctx, operator)
		if err != nil {
			return err
		}
		if !res.OK {
			fmt.Fprintf(stdout, "grant log BROKEN at entry %d: %s (%d entries verified before it)\n", res.FirstBroken, res.Reason, res.Entries)
			return fmt.Errorf("grant log chain is broken at entry %d", res.FirstBroken)
		}
		fmt.Fprintf(stdout, "grant log OK: %d entries, head %s\n", res.Entries, res.Head)
		return nil
	})
}
