package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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

// mergeCmd previews or commits a merge.
func mergeCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stdout)
	from := fs.String("from", "", "the customer that goes away (redirects to --into)")
	into := fs.String("into", "", "the surviving customer")
	preview := fs.Bool("preview", false, "show the survivor without changing anything")
	if err := fs.Parse(args); err != nil {
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
			return nil
		}
		m, err := a.svc.CommitMerge(ctx, operator, *from, *into)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "merged %s into %s (merge %s; undo with fiveid unmerge %s)\n", m.From, m.Into, m.ID, m.ID)
		return nil
	})
}

func unmergeCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("unmerge: want exactly one merge ID")
	}
	return withApp(ctx, cfg, func(a *app) error {
		m, err := a.svc.Unmerge(ctx, operator, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unmerged %s: %s and %s are separate again (and remembered as not a duplicate)\n", m.ID, m.From, m.Into)
		return nil
	})
}
