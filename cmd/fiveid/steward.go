package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"fiveid"
)

// scanCmd runs the duplicate scan and prints what it opened.
func scanCmd(ctx context.Context, cfg config, stdout io.Writer) error {
	return withApp(ctx, cfg, func(a *app) error {
		res, err := a.svc.ScanDuplicates(ctx, operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "scanned %d records, scored %d candidate pairs, opened %d review tasks\n", res.Records, res.Pairs, res.TasksOpened)
		return nil
	})
}

// reindexCmd rewrites every record's blocking keys with the current rules
// (after an upgrade that changes them), beside live traffic.
func reindexCmd(ctx context.Context, cfg config, stdout io.Writer) error {
	return withApp(ctx, cfg, func(a *app) error {
		res, err := a.svc.Reindex(ctx, operator, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reindexed %d of %d records (%d with keys rewritten, the others' already current; %d registered again meanwhile, %d no longer valid and left as they were; comparison features stored for %d)\n",
			res.Updated, res.Records, res.Rewritten, res.Changed, res.Invalid, res.Features)
		if _, err := a.svc.RefreshStatistics(ctx, operator); err != nil {
			return err
		}
		return nil
	})
}

// mergeCmd previews or commits a merge.
func mergeCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := newCommand("merge")
	from := fs.String("from", "", "the customer that goes away (redirects to --into)")
	into := fs.String("into", "", "the surviving customer")
	preview := fs.Bool("preview", false, "show the survivor without changing anything")
	override := fs.Bool("override", false, "merge even though the customers' records hold different identifiers of one namespace (needs --reason)")
	reason := fs.String("reason", "", "why (kept on the merge and in both histories; required with --override)")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	return withApp(ctx, cfg, func(a *app) error {
		if *preview {
			plan, err := a.svc.PreviewMerge(ctx, operator, *from, *into)
			if err != nil {
				return err
			}
			c := plan.Into
			fmt.Fprintf(stdout, "survivor %s: name %s, sex %s, birth date %s, %s %s; %d records move\n",
				c.ID, dash(c.Name), dash(c.Sex), dash(c.BirthDate), dash(c.IDType), dash(maskNumber(c.IDNumber)), len(plan.Moved))
			if len(plan.Conflicts) > 0 {
				printConflicts(stdout, plan.Conflicts)
				fmt.Fprintln(stdout, "merging them needs --override --reason TEXT")
			}
			return nil
		}
		m, err := a.svc.CommitMerge(ctx, operator, *from, *into, fiveid.MergeOptions{Override: *override, Reason: *reason})
		var ic *fiveid.IdentifierConflictError
		if errors.As(err, &ic) {
			printConflicts(stdout, ic.Conflicts)
			return fmt.Errorf("%w; merging them needs --override --reason TEXT", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "merged %s into %s (merge %s; undo with fiveid unmerge %s)\n", m.From, m.Into, m.ID, m.ID)
		if m.Override {
			fmt.Fprintln(stdout, "identifier conflict overridden; the reason is kept on the merge and in both histories")
		}
		return nil
	})
}

// printConflicts names the records whose identifiers conflict, masked.
func printConflicts(w io.Writer, cs []fiveid.IdentifierConflict) {
	for _, c := range cs {
		fmt.Fprintf(w, "identifier conflict (%s): from %s/%s %s, into %s/%s %s\n",
			c.Namespace, c.A.System, c.A.LocalID, c.A.MaskedID, c.B.System, c.B.LocalID, c.B.MaskedID)
	}
}

func unmergeCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	pos, err := newCommand("unmerge").parse(args)
	if err != nil {
		return err
	}
	return withApp(ctx, cfg, func(a *app) error {
		m, err := a.svc.Unmerge(ctx, operator, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unmerged %s: %s and %s are separate again (and remembered as not a duplicate)\n", m.ID, m.From, m.Into)
		return nil
	})
}

// linkCmd links, unlinks, or records a death from scripts.
func linkCmd(ctx context.Context, cfg config, name string, args []string, stdout io.Writer) error {
	fs := newCommand(name)
	// Each of the three takes only the flags it uses.
	var system, localID, customer, date string
	if name != "death" {
		fs.StringVar(&system, "system", "", "the source system code")
		fs.StringVar(&localID, "local-id", "", "the source record's local ID")
	}
	if name != "unlink" {
		fs.StringVar(&customer, "customer", "", "the customer ID")
	}
	if name == "death" {
		fs.StringVar(&date, "date", "", "date of death")
	}
	if _, err := fs.parse(args); err != nil {
		return err
	}
	return withApp(ctx, cfg, func(a *app) error {
		switch name {
		case "link":
			if err := a.svc.Link(ctx, operator, system, localID, customer); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "linked %s/%s to %s (manual, sticky)\n", system, localID, customer)
		case "unlink":
			id, err := a.svc.Unlink(ctx, operator, system, localID)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "unlinked %s/%s into new customer %s (manual, sticky)\n", system, localID, id)
		case "death":
			c, err := a.svc.RecordDeath(ctx, operator, customer, date, "admin")
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "recorded the death of %s on %s\n", c.ID, c.DeathDate)
		}
		return nil
	})
}
