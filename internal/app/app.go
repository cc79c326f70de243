// Package app wires vigil's parts into its subcommands. cmd/vigil only
// calls Main, so tests can run any subcommand in-process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one subcommand.
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

// stdio carries a command's standard streams.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func commands() map[string]subcommand {
	return map[string]subcommand{
		"replay": {"read events from a file, run every detector on event time, write alerts", runReplay},
		"simulate": {"generate a simulated fleet with labelled attacks as NDJSON", func(ctx context.Context, args []string, s stdio) error {
			return runSimulate(ctx, args, s.out, s.err)
		}},
		"bench":        {"measure throughput, latency and memory of the engine", runBench},
		"audit":        {"verify or export the tamper-evident audit log", runAudit},
		"keys":         {"create API keys (shown once, stored hashed)", runKeys},
		"users":        {"create users who sign in to the console with a password", runUsers},
		"check-config": {"load a configuration file and report the first problem", runCheckConfig},
		"demo":         {"a first look: the server plus a simulated fleet under attack streaming into it", runDemo},
		"rules":        {"test, lint and list user rules (YAML)", runRules},
		"serve":        {"run the service: HTTP ingest, durable store, detection, REST API", runServe},
		"eval":         {"score the detectors against simulated attacks: recall, precision, delay, false alarms", runEval},
		"detectors":    {"list the built-in detectors", runDetectors},
		"privacy":      {"pseudonymisation: make a key, pseudonymise values for rules, erase a data subject", runPrivacy},
		"version": {"print the version", func(_ context.Context, _ []string, s stdio) error {
			_, err := fmt.Fprintln(s.out, "vigil", Version)
			return err
		}},
	}
}

// Version is set at build time with -ldflags "-X ...app.Version=...".
var Version = "dev"

// errUsage marks errors caused by wrong arguments (exit code 2).
var errUsage = errors.New("usage")

// Main runs the subcommand named in args and returns the process exit code:
// 0 on success, 1 on failure, 2 on a usage error.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	err := c.run(ctx, args[1:], stdio{stdin, stdout, stderr})
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer, cmds map[string]subcommand) {
	fmt.Fprintln(w, "vigil: finds attacks and data leaks in the data of connected-car back-ends.")
	fmt.Fprintln(w, "\nUsage: vigil <command> [flags]   (vigil <command> -h for its flags)\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nA first look:  vigil simulate --vehicles 2000 --duration 24h --attacks all | vigil replay")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: vigil %s\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}
