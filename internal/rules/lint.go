package rules

import (
	"fmt"
	"slices"

	"github.com/vigil-project/vigil/internal/event"
)

// Lint compiles the sources like Compile and returns every problem, errors
// and warnings, in file and line order, with the checks only a linter
// makes: conditions that match an empty event (likely always true), lists
// and macros nothing uses. The rule set loads when no problem is an error.
func Lint(lim Limits, srcs ...Source) []Problem {
	set, ps := compile(lim, true, srcs)
	if set == nil {
		return ps
	}
	var extra problems
	var vm vmRunner
	for _, r := range set.rules {
		if r.prog == nil {
			continue
		}
		all := true
		for _, t := range r.types {
			var env Env
			env.fill(&event.Event{Type: t, Tenant: event.DefaultTenant, Telemetry: &event.Telemetry{},
				VehicleEvent: &event.VehicleEvent{}, Command: &event.Command{}, Login: &event.Login{},
				AccountChange: &event.AccountChange{}, APIAccess: &event.APIAccess{}, SMS: &event.SMS{},
				Firmware: &event.Firmware{}, IDS: &event.IDSReport{}})
			env.Data.SHA256 = "" // an empty image, not the digest of zero bytes
			if !vm.match(r, &env) {
				all = false
				break
			}
		}
		if all {
			extra.add(Problem{File: r.File, Line: r.Line, Rule: r.ID, Level: LevelWarning, Msg: fmt.Sprintf(
				"the condition matches an empty %s event: check it is not always true (require a value, e.g. data.x == \"...\")", typesText(r.types))})
		}
	}
	for _, name := range set.unused {
		extra.add(Problem{File: name.pos.file, Line: name.pos.line, Level: LevelWarning, Msg: fmt.Sprintf("%s is defined but no rule uses it", name.what)})
	}
	out := append(ps, extra.list...)
	slices.SortStableFunc(out, func(a, b Problem) int {
		if a.File != b.File {
			if a.File < b.File {
				return -1
			}
			return 1
		}
		return a.Line - b.Line
	})
	return out
}

type vmRunner struct{ st shardState }

func (v *vmRunner) match(r *rule, env *Env) bool {
	out, err := v.st.vm.Run(r.prog, env)
	b, _ := out.(bool)
	return err == nil && b
}

// unusedName is a list or macro no expression refers to.
type unusedName struct {
	what string
	pos  pos
}
