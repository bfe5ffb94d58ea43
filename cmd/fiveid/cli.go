package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// This file is the command line's grammar: the list of commands, their
// usage texts, and how a command's arguments are parsed. What a command
// does lives beside it (admin.go, steward.go, ...); dispatch in main.go
// calls it.
//
// Conventions (as in the go and git tools):
//   - -h, -help or --help, anywhere before a "--", prints the command's usage
//     to stdout and does nothing else; so does `fiveid help COMMAND`.
//   - A command line that cannot run (unknown command or flag, bad flag
//     value, too few or too many arguments) is a *usageError: run prints it
//     and the command's usage to stderr, and main exits 2.
//   - Every other failure exits 1, except an import that rejected rows
//     (errRowsRejected, 3).

// cmdSpec is one command as its usage presents it.
type cmdSpec struct {
	name  string // "keys revoke"
	args  string // positional arguments: "ID"; "[X]" is optional, "X..." takes any number
	flags string // the flags' synopsis, for the usage line
	about string // first line: the summary in the command list; the rest: more in its help
}

// commands is every command, in the order fiveid's usage lists them. A
// command reads its own spec through newCommand, so a command missing here
// cannot run (and a test fails).
var commands = []cmdSpec{
	{"serve", "", "", "run the HTTP service until interrupted"},
	{"migrate", "", "", "apply database migrations and exit"},
	{"systems create", "", "--code CODE --name NAME [--kind medical|eldercare|funeral|other] [--id-table ws364|nhsa|gat2000]", "register a source system"},
	{"systems list", "", "", "list the source systems"},
	{"keys create", "", "--role system|auditor|admin [--system CODE] [--name TEXT]", "create an API key\nThe secret is shown once, as the last line of the output."},
	{"keys list", "", "", "list the API keys"},
	{"keys revoke", "ID", "[--revoke-grants]", "revoke an API key\nWith --revoke-grants also revoke every grant asked for with the key that is\nstill active (each is logged as a revocation); repeat it to sweep again."},
	{"import", "FILE.csv", "[--rejects FILE] [--chunk N] [--allow-rejects]", "load source records in bulk\n" +
		"Rows that cannot be registered go to the rejects file (default FILE.rejects.csv)\n" +
		"with their line, code and reason. When any row was rejected the import exits 3\n" +
		"(after loading every other row), unless --allow-rejects is given."},
	{"policies create", "", "--grantee CODE --scopes medical,... --purposes treatment,... [--max-ttl 1h]", "allow a system to receive grants"},
	{"policies list", "", "", "list the grant policies"},
	{"policies delete", "ID", "", "delete a grant policy"},
	{"holders create", "", "--system CODE --scopes medical,...", "record that a system holds data of scopes\nIts keys may then introspect the grants of those scopes presented to it."},
	{"holders list", "", "", "list the data holders"},
	{"holders delete", "ID", "", "delete a data holder"},
	{"signing-key rotate", "", "", "make a new grant signing key; the old one stays published"},
	{"audit verify", "", "", "check the grant log's hash chain\nExits 1, naming the first broken entry, when the chain is broken."},
	{"train", "", "[--out weights.json] [--pairs N] [--iterations N] [--random-pairs N]", "estimate match weights from the index (EM)\nLoad the weights file it writes with FIVEID_WEIGHTS."},
	{"scan", "", "", "find likely duplicate customers and open review tasks"},
	{"reindex", "", "", "rewrite every record's blocking keys with the current rules (after an upgrade)"},
	{"merge", "", "--from ID --into ID [--preview] [--override --reason TEXT]", "merge two customers, or preview the merge\nAn identifier conflict needs --override --reason TEXT."},
	{"unmerge", "MERGE_ID", "", "undo a merge"},
	{"link", "", "--system CODE --local-id ID --customer ID", "link a source record to a customer (manual, sticky)"},
	{"unlink", "", "--system CODE --local-id ID", "move a source record to a new customer of its own (manual, sticky)"},
	{"death", "", "--customer ID --date YYYY-MM-DD", "record a customer's death"},
	{"version", "", "", "print the version and VCS revision of this build"},
	{"help", "[COMMAND...]", "", "print the usage of fiveid or of a command"},
}

const (
	exitFailure  = 1 // the command ran and failed
	exitUsage    = 2 // the command line is wrong; nothing ran
	exitRejected = 3 // import: every other row was loaded, some were rejected
)

// exitCode is the process's exit status for run's result.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errRowsRejected):
		return exitRejected
	}
	return exitFailure
}

// errRowsRejected is an import that loaded what it could and rejected the
// rest (see importCmd's --allow-rejects). A distinct exit status lets a
// script tell "some rows need fixing" from "the import failed".
var errRowsRejected = errors.New("rows rejected")

// usageError is a command line that cannot run. run prints it with usage
// to stderr; main exits 2.
type usageError struct {
	cmd   string // "keys revoke"; empty for fiveid itself
	usage string
	err   error
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return e.err.Error()
	}
	return e.cmd + ": " + e.err.Error()
}

func (e *usageError) Unwrap() error { return e.err }

// helpError is a request for usage (-h, --help, help): run prints usage to
// stdout and succeeds. It unwraps to flag.ErrHelp.
type helpError struct{ usage string }

func (e *helpError) Error() string { return "help requested" }
func (e *helpError) Unwrap() error { return flag.ErrHelp }

// command is one command's flags and positional arguments. Define flags
// on it (it is a *flag.FlagSet), then parse.
type command struct {
	*flag.FlagSet
	spec cmdSpec
}

// newCommand returns the named command of the commands table, with no
// flags defined yet. An unknown name is a programming error.
func newCommand(name string) *command {
	for _, s := range commands {
		if s.name == name {
			fs := flag.NewFlagSet("fiveid "+name, flag.ContinueOnError)
			// parse reports errors and usage; the flag package prints nothing.
			fs.SetOutput(io.Discard)
			fs.Usage = func() {}
			return &command{FlagSet: fs, spec: s}
		}
	}
	panic(fmt.Sprintf("command %q is not in the commands table", name))
}

// parse parses args, flags and positional arguments in any order (a "--"
// ends the flags), and checks the number of positional arguments against
// the spec. It returns the positional arguments, a *helpError when args ask
// for help, or a *usageError.
func (c *command) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpError{c.usage()}
			}
			return nil, c.usageError(err)
		}
		rest := c.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	lo, hi := argCounts(c.spec.args)
	switch {
	case len(pos) < lo:
		return nil, c.usageError(fmt.Errorf("missing %s", strings.Join(strings.Fields(c.spec.args)[len(pos):lo], " ")))
	case hi >= 0 && len(pos) > hi:
		return nil, c.usageError(fmt.Errorf("unexpected argument %q", pos[hi]))
	}
	return pos, nil
}

func (c *command) usageError(err error) error {
	return &usageError{cmd: c.spec.name, usage: c.usage(), err: err}
}

// usage is the command's help: its usage line, what it does, its flags.
func (c *command) usage() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Usage: %s\n\n", synopsis(c.spec))
	summary, more, _ := strings.Cut(c.spec.about, "\n")
	fmt.Fprintf(&b, "%s.\n\n", capitalize(summary))
	if more != "" {
		fmt.Fprintf(&b, "%s\n\n", more)
	}
	b.WriteString("Flags:\n")
	c.SetOutput(&b)
	c.PrintDefaults()
	c.SetOutput(io.Discard)
	b.WriteString("  -h, --help\n    \tprint this help\n")
	return b.String()
}

// argCounts is the least and the most number of positional arguments a
// spec's args take; most is -1 for any number.
func argCounts(args string) (lo, hi int) {
	for _, a := range strings.Fields(args) {
		switch {
		case strings.HasSuffix(a, "...") || strings.HasSuffix(a, "...]"):
			return lo, -1
		case strings.HasPrefix(a, "["):
			hi++
		default:
			lo++
			hi++
		}
	}
	return lo, hi
}

func synopsis(s cmdSpec) string {
	return strings.Join(strings.Fields("fiveid "+s.name+" "+s.args+" "+s.flags), " ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// isCommand says whether words name a command or a group of commands
// ("keys").
func isCommand(words []string) bool {
	name := strings.Join(words, " ")
	for _, s := range commands {
		if s.name == name || strings.HasPrefix(s.name, name+" ") {
			return true
		}
	}
	return false
}

// asksHelp says whether args are a command's words followed by -h or
// --help, so that the command prints its usage before it parses anything
// else: then it needs no configuration.
func asksHelp(args []string) bool {
	for i, a := range args {
		if isHelpFlag(a) {
			return isCommand(args[:i])
		}
		if !isCommand(args[:i+1]) {
			return false
		}
	}
	return false
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// subcommand splits the arguments of a group of commands ("keys") into the
// subcommand's name and its arguments.
func subcommand(group string, args []string) (string, []string, error) {
	switch {
	case len(args) == 0:
		return "", nil, &usageError{cmd: group, usage: groupUsage(group), err: errors.New("missing subcommand")}
	case isHelpFlag(args[0]) || args[0] == "help":
		return "", nil, &helpError{groupUsage(group)}
	case !isCommand([]string{group, args[0]}):
		return "", nil, unknownSubcommand(group, args[0])
	}
	return args[0], args[1:], nil
}

func unknownSubcommand(group, sub string) error {
	return &usageError{cmd: group, usage: groupUsage(group), err: fmt.Errorf("unknown subcommand %q", sub)}
}

// groupUsage lists a group's commands.
func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: fiveid %s SUBCOMMAND\n\nSubcommands:\n", group)
	listCommands(&b, group+" ")
	fmt.Fprintf(&b, "\nRun `fiveid %s SUBCOMMAND --help` for a subcommand's flags.\n", group)
	return b.String()
}

// listCommands writes one line per command whose name starts with prefix.
func listCommands(w io.Writer, prefix string) {
	for _, s := range commands {
		if !strings.HasPrefix(s.name, prefix) {
			continue
		}
		line := strings.TrimSpace(s.name + " " + s.args)
		about, _, _ := strings.Cut(s.about, "\n")
		fmt.Fprintf(w, "  %-26s %s\n", line, about)
	}
}

// topUsage is fiveid's own usage.
func topUsage() string {
	var b strings.Builder
	b.WriteString("fiveid — customer identity resolution service\n\nUsage: fiveid COMMAND [ARGUMENTS]\n\nCommands:\n")
	listCommands(&b, "")
	b.WriteString(`
Flags:
  -h, --help                 print this help
  --version                  print the version and VCS revision

Run ` + "`fiveid help COMMAND`" + ` or ` + "`fiveid COMMAND --help`" + ` for a command's flags.

Exit status: 0 success, 1 failure, 2 usage error (nothing ran),
3 import loaded every valid row but rejected some (see import --allow-rejects).

Configuration comes from the environment (see README): FIVEID_ADDR,
FIVEID_DATA_DIR, DATABASE_URL, REDIS_URL, FIVEID_ADMIN_KEY, FIVEID_LOG_LEVEL.
`)
	return b.String()
}

// versionText describes the build from its build information (ok false:
// none): the main module's version ("(devel)" when unknown, as from a
// plain go build before Go 1.24), then the VCS revision, its time and
// whether the tree had uncommitted changes, then the Go version.
func versionText(bi *debug.BuildInfo, ok bool) string {
	version, rev, at, modified, goVersion := "(devel)", "", "", false, ""
	if ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fiveid %s", version)
	if rev == "" {
		b.WriteString(", revision unknown")
	} else {
		fmt.Fprintf(&b, ", revision %s", rev)
		var notes []string
		if at != "" {
			notes = append(notes, at)
		}
		if modified {
			notes = append(notes, "modified")
		}
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
		}
	}
	if goVersion != "" {
		fmt.Fprintf(&b, ", %s", goVersion)
	}
	return b.String() + "\n"
}
