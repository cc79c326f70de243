package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/vigil-project/vigil/internal/rules"
	"github.com/vigil-project/vigil/internal/rules/pack"
)

// runRules is `vigil rules test|lint|list`.
func runRules(_ context.Context, args []string, s stdio) error {
	usage := func() {
		fmt.Fprintln(s.err, "Usage: vigil rules <test|lint|list> [flags]\n\n"+
			"  test [--rules DIR] [--no-pack] FILE...   run rule test files: events in, alerts expected\n"+
			"  lint [--rules DIR] [--no-pack] [--strict] report mistakes in rule files\n"+
			"  list [--rules DIR] [--no-pack]            list the rules in force\n\n"+
			"The embedded rule pack is loaded first; rules in DIR with the same id replace the pack's.\n"+
			"See docs/rules.md.")
	}
	if len(args) == 0 {
		usage()
		return fmt.Errorf("%w: name a rules command: test, lint or list", errUsage)
	}
	switch args[0] {
	case "test":
		return runRulesTest(args[1:], s)
	case "lint":
		return runRulesLint(args[1:], s)
	case "list":
		return runRulesList(args[1:], s)
	case "-h", "--help", "help":
		usage()
		return flag.ErrHelp
	}
	usage()
	return fmt.Errorf("%w: unknown rules command %q", errUsage, args[0])
}

// ruleFlags adds the flags every rules command takes.
func ruleFlags(fs *flag.FlagSet) (dir *string, noPack *bool) {
	dir = fs.String("rules", "", "directory of rule files (*.yaml, *.yml); none: the embedded pack only")
	noPack = fs.Bool("no-pack", false, "leave out the embedded rule pack")
	return dir, noPack
}

func ruleSources(dir string, noPack bool) ([]rules.Source, error) {
	var srcs []rules.Source
	if !noPack {
		srcs = append(srcs, rules.Source{Name: pack.Name, FS: pack.FS()})
	}
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("cannot read the rules directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%w: --rules %s is not a directory", errUsage, dir)
		}
		srcs = append(srcs, rules.Source{Name: dir, FS: os.DirFS(dir)})
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: --no-pack needs --rules DIR", errUsage)
	}
	return srcs, nil
}

func runRulesTest(args []string, s stdio) error {
	fs := newFlags("rules test [--rules DIR] [--no-pack] FILE...",
		"Runs rule test files: each case pushes its events through the engine with the rules and compares the\n"+
			"alerts raised with those expected (and not expected). Exit code 1 when a case fails.\n\n"+
			"Example: vigil rules test --rules ./rules ./rules/tests/*.yaml", s.err)
	dir, noPack := ruleFlags(fs)
	verbose := fs.Bool("v", false, "also list the alerts of passing cases")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	files := fs.Args()
	if len(files) == 0 {
		return fmt.Errorf("%w: name at least one test file", errUsage)
	}
	srcs, err := ruleSources(*dir, *noPack)
	if err != nil {
		return err
	}
	set, err := rules.Compile(rules.Limits{}, srcs...)
	if err != nil {
		return err
	}
	passed, failed := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("cannot read test file: %w", err)
		}
		res, err := rules.RunTests(set, f, data)
		if err != nil {
			return err
		}
		for _, r := range res {
			status := "ok  "
			if r.Passed() {
				passed++
			} else {
				failed++
				status = "FAIL"
			}
			fmt.Fprintf(s.out, "%s  %s:%d  %s (%d events, %d alerts)\n", status, r.File, r.Line, r.Name, r.Events, len(r.Alerts))
			for _, fl := range r.Failures {
				fmt.Fprintf(s.out, "        %s\n", fl)
			}
			if (!r.Passed() || *verbose) && len(r.Alerts) > 0 {
				fmt.Fprintln(s.out, "      raised:")
				for _, a := range r.Alerts {
					fmt.Fprintf(s.out, "        %s\n", rules.FormatAlert(a))
				}
			}
		}
	}
	fmt.Fprintf(s.out, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d rule test(s) failed", failed)
	}
	return nil
}

func runRulesLint(args []string, s stdio) error {
	fs := newFlags("rules lint [--rules DIR] [--no-pack] [--strict]",
		"Reports mistakes in rule files: unknown fields, conditions that are always true or false, values a field\n"+
			"never takes, missing mappings, group_by the engine does not route on, duplicate ids, exceptions on unknown\n"+
			"fields. Exit code 1 on errors (and on warnings with --strict).", s.err)
	dir, noPack := ruleFlags(fs)
	strict := fs.Bool("strict", false, "fail on warnings too")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	srcs, err := ruleSources(*dir, *noPack)
	if err != nil {
		return err
	}
	ps := rules.Lint(rules.Limits{}, srcs...)
	errs, warns := 0, 0
	for _, p := range ps {
		fmt.Fprintln(s.out, p.String())
		if p.Level == rules.LevelError {
			errs++
		} else {
			warns++
		}
	}
	fmt.Fprintf(s.out, "%d error(s), %d warning(s)\n", errs, warns)
	switch {
	case errs > 0:
		return fmt.Errorf("%d error(s) in the rules", errs)
	case warns > 0 && *strict:
		return fmt.Errorf("%d warning(s) in the rules (--strict)", warns)
	}
	return nil
}

func runRulesList(args []string, s stdio) error {
	fs := newFlags("rules list [--rules DIR] [--no-pack]", "Lists the rules in force, where they come from and what they raise.", s.err)
	dir, noPack := ruleFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	srcs, err := ruleSources(*dir, *noPack)
	if err != nil {
		return err
	}
	set, err := rules.Compile(rules.Limits{}, srcs...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tCATEGORY\tSEVERITY\tEVENTS\tFILE")
	for _, r := range set.Rules() {
		cat, sev := r.Category, r.Severity
		if !r.Alerts {
			cat, sev = "(feeds correlations)", "-"
		} else if r.Shadow {
			sev += " (shadow)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s:%d\n", r.ID, r.Kind, cat, sev, strings.Join(r.Events, ","), r.File, r.Line)
	}
	return tw.Flush()
}
