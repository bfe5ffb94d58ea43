// Command fiveid is the fiveid customer data center: the HTTP service and its
// administration commands (migrate, keys, systems, import).
//
// This package only wires: configuration -> store -> cache -> service -> api.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"fiveid/internal/gctune"
)

func main() {
	gctune.Apply(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	var ue *usageError
	if err != nil && !errors.As(err, &ue) { // run printed a usage error with the usage
		fmt.Fprintln(os.Stderr, "fiveid:", err)
	}
	os.Exit(exitCode(err))
}

// run is the whole program; tests call it too. A request for help prints
// usage to stdout and returns nil; a *usageError is printed with usage to
// stderr and returned (exit 2, see exitCode).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdin, stdout, stderr)
	var he *helpError
	var ue *usageError
	switch {
	case errors.As(err, &he):
		fmt.Fprint(stdout, he.usage)
		return nil
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "fiveid: %v\n\n%s", ue, ue.usage)
	}
	return err
}

// dispatch runs the command args name. Each command parses its own
// arguments (see command.parse in cli.go) before it touches the store.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	top := flag.NewFlagSet("fiveid", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	showVersion := top.Bool("version", false, "")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &helpError{topUsage()}
		}
		return &usageError{usage: topUsage(), err: err}
	}
	args = top.Args()
	if *showVersion {
		args = append([]string{"version"}, args...)
	}
	if len(args) == 0 {
		return &usageError{usage: topUsage(), err: errors.New("missing command")}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "version":
		if _, err := newCommand("version").parse(rest); err != nil {
			return err
		}
		fmt.Fprint(stdout, versionText(debug.ReadBuildInfo()))
		return nil
	case "help":
		words, err := newCommand("help").parse(rest)
		if err != nil {
			return err
		}
		if len(words) == 0 {
			return &helpError{topUsage()}
		}
		if !isCommand(words) {
			return &usageError{cmd: "help", usage: topUsage(), err: fmt.Errorf("unknown command %q", strings.Join(words, " "))}
		}
		return dispatch(ctx, append(words, "--help"), getenv, stdin, stdout, stderr)
	}
	cfg, err := loadConfig(getenv)
	// A request for help needs no configuration: the command returns its
	// usage before it reads cfg.
	if err != nil && !asksHelp(args) {
		return err
	}
	switch name {
	case "serve":
		if _, err := newCommand("serve").parse(rest); err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr, nil)
	case "migrate":
		if _, err := newCommand("migrate").parse(rest); err != nil {
			return err
		}
		return migrate(ctx, cfg, stdout)
	case "keys":
		return keysCmd(ctx, cfg, rest, stdout)
	case "systems":
		return systemsCmd(ctx, cfg, rest, stdout)
	case "import":
		return importCmd(ctx, cfg, rest, stdout, stderr)
	case "policies":
		return policiesCmd(ctx, cfg, rest, stdout)
	case "holders":
		return holdersCmd(ctx, cfg, rest, stdout)
	case "signing-key":
		return signingKeyCmd(ctx, cfg, rest, stdout)
	case "audit":
		return auditCmd(ctx, cfg, rest, stdout)
	case "train":
		return trainCmd(ctx, cfg, rest, stdout)
	case "scan":
		if _, err := newCommand("scan").parse(rest); err != nil {
			return err
		}
		return scanCmd(ctx, cfg, stdout)
	case "reindex":
		if _, err := newCommand("reindex").parse(rest); err != nil {
			return err
		}
		return reindexCmd(ctx, cfg, stdout)
	case "merge":
		return mergeCmd(ctx, cfg, rest, stdout)
	case "unmerge":
		return unmergeCmd(ctx, cfg, rest, stdout)
	case "link", "unlink", "death":
		return linkCmd(ctx, cfg, name, rest, stdout)
	}
	return &usageError{usage: topUsage(), err: fmt.Errorf("unknown command %q", name)}
}
