package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCases runs testdata/cases/*.yaml against testdata/rules.
func TestCases(t *testing.T) {
	set, err := Compile(Limits{}, Source{Name: "testdata/rules", FS: os.DirFS("testdata/rules")})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/cases/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/cases/*.yaml")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunTests(set, f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml")+"/"+r.Name, func(t *testing.T) {
				for _, fl := range r.Failures {
					t.Error(fl)
				}
				if !r.Passed() {
					for _, a := range r.Alerts {
						t.Log("raised:", FormatAlert(a))
					}
				}
			})
		}
	}
}
