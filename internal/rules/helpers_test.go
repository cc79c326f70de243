package rules

import (
	"strings"
	"testing"
	"testing/fstest"
)

// memSource is a rule source held in memory: file name → content.
func memSource(name string, files map[string]string) Source {
	m := fstest.MapFS{}
	for f, text := range files {
		m[f] = &fstest.MapFile{Data: []byte(text)}
	}
	return Source{Name: name, FS: m}
}

// mustCompile compiles one rule file or fails the test.
func mustCompile(t testing.TB, text string) *RuleSet {
	t.Helper()
	set, err := Compile(Limits{}, memSource("r", map[string]string{"rules.yaml": text}))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// problemsOf returns the problems of compiling one rule file, as strings.
func problemsOf(text string, lim Limits) []string {
	_, ps := compile(lim, false, []Source{memSource("r", map[string]string{"rules.yaml": text})})
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func containsAny(list []string, want string) bool {
	for _, s := range list {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}
