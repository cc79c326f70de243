package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzCompile feeds arbitrary rule files to the loader: it must return a
// rule set or problems, never panic or hang, and a set it returns must run.
func FuzzCompile(f *testing.F) {
	for _, dir := range []string{"testdata/rules", "testdata/bench", "pack"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Add(head + "    condition: 'type == \"api.access\" && data.route matches \"^/v1\"'\n")
	f.Add("macros:\n  a: b\n  b: c\n  c: data.status > 1\n" + head + "    condition: a\n")
	f.Fuzz(func(t *testing.T, text string) {
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic(fmt.Sprintf("slow input: %q", text))
			}
		}()
		defer close(done)
		set, ps := compile(Limits{}, true, []Source{memSource("f", map[string]string{"f.yaml": text})})
		if set == nil {
			if len(ps) == 0 {
				t.Fatal("no rule set and no problem")
			}
			return
		}
		// A set that loads evaluates without panicking on an event of each type.
		var vm vmRunner
		for _, r := range set.rules {
			if r.prog == nil {
				continue
			}
			for _, ty := range r.types {
				var env Env
				env.Type = ty.String()
				vm.match(r, &env)
			}
		}
	})
}
