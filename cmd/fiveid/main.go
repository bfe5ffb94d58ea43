// Command fiveid is the fiveid customer data center: the HTTP service and its
// administration commands (migrate, keys, systems, import).
//
// This package only wires: configuration -> store -> cache -> service -> api.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fiveid:", err)
		os.Exit(1)
	}
}

const usage = `fiveid — customer identity resolution service

Usage:
  fiveid serve                          run the HTTP service
  fiveid migrate                        apply database migrations and exit
  fiveid systems create --code CODE --name NAME [--kind medical|eldercare|funeral|other] [--id-table ws364|nhsa|gat2000]
  fiveid systems list
  fiveid keys create --role system|auditor|admin [--system CODE] [--name TEXT]
  fiveid keys list
  fiveid keys revoke ID
  fiveid import FILE.csv [--rejects FILE]   load source records in bulk
  fiveid policies create --grantee CODE --scopes medical,... --purposes treatment,... [--max-ttl 1h]
  fiveid policies list | delete ID
  fiveid signing-key rotate             new grant signing key; the old one stays published
  fiveid audit verify                   check the grant log's hash chain
  fiveid train [--out weights.json]     estimate match weights from the index (EM)
  fiveid scan                           find likely duplicate customers, open review tasks
  fiveid reindex                        rewrite every record's blocking keys with the current rules (after an upgrade)
  fiveid merge --from ID --into ID [--preview] [--override --reason TEXT]
  fiveid unmerge MERGE_ID
  fiveid link --system CODE --local-id ID --customer ID
  fiveid unlink --system CODE --local-id ID
  fiveid death --customer ID --date YYYY-MM-DD
  fiveid version

Configuration comes from the environment (see README): FIVEID_ADDR,
FIVEID_DATA_DIR, DATABASE_URL, REDIS_URL, FIVEID_ADMIN_KEY, FIVEID_LOG_LEVEL.
`

// run is the whole program; tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("missing command")
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		return serve(ctx, cfg, stdout, stderr, nil)
	case "migrate":
		return migrate(ctx, cfg, stdout)
	case "keys":
		return keysCmd(ctx, cfg, args[1:], stdout)
	case "systems":
		return systemsCmd(ctx, cfg, args[1:], stdout)
	case "import":
		return importCmd(ctx, cfg, args[1:], stdout, stderr)
	case "policies":
		return policiesCmd(ctx, cfg, args[1:], stdout)
	case "signing-key":
		return signingKeyCmd(ctx, cfg, args[1:], stdout)
	case "audit":
		return auditCmd(ctx, cfg, args[1:], stdout)
	case "train":
		return trainCmd(ctx, cfg, args[1:], stdout)
	case "scan":
		return scanCmd(ctx, cfg, stdout)
	case "reindex":
		return reindexCmd(ctx, cfg, stdout)
	case "merge":
		return mergeCmd(ctx, cfg, args[1:], stdout)
	case "unmerge":
		return unmergeCmd(ctx, cfg, args[1:], stdout)
	case "link", "unlink", "death":
		return linkCmd(ctx, cfg, args[0], args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, "fiveid", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// version is set by the linker in release builds.
var version = "dev"
