package pack_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/rules"
	"github.com/vigil-project/vigil/internal/rules/pack"
)

// TestPackLoads compiles the pack with no errors and no warnings.
func TestPackLoads(t *testing.T) {
	set, err := rules.Compile(rules.Limits{}, rules.Source{Name: pack.Name, FS: pack.FS()})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range set.Warnings() {
		t.Errorf("pack warning: %s", w)
	}
}

// TestPack runs every case of testdata/*.yaml.
func TestPack(t *testing.T) {
	set, err := rules.Compile(rules.Limits{}, rules.Source{Name: pack.Name, FS: pack.FS()})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.yaml (%v)", err)
	}
	tested := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := rules.RunTests(set, f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml")+"/"+r.Name, func(t *testing.T) {
				for _, a := range r.Alerts {
					tested[a.Detector] = true
				}
				if !r.Passed() {
					for _, fl := range r.Failures {
						t.Error(fl)
					}
					for _, a := range r.Alerts {
						t.Log("raised:", rules.FormatAlert(a))
					}
				}
			})
		}
	}
	for _, ri := range set.Rules() {
		if ri.Alerts && !tested[ri.ID] {
			t.Errorf("rule %s raised no alert in any case of testdata/", ri.ID)
		}
	}
}
