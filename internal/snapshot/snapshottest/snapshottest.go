// Package snapshottest guards snapshot encodings against fields they do
// not know: a test describes the types a package snapshots, field by field,
// and compares the description with a golden file. A field added to a
// snapshotted type fails the test until its encoding is updated, the
// format version raised and the golden file rewritten (-update-schema).
package snapshottest

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update-schema", false, "rewrite the snapshot schema golden files")

// Schema describes the types of vs and the vigil types they hold, one type
// a line, fields in order with their types. Types named in skip (as
// "package.Type", or a prefix ending in "*") are not described: references
// to configuration rather than state, or types another package's test
// guards.
func Schema(skip []string, vs ...any) string {
	var b strings.Builder
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
			return
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
			return
		case reflect.Struct:
		default:
			return
		}
		if seen[t] || !strings.HasPrefix(t.PkgPath(), "github.com/vigil-project/vigil/") || skipped(skip, t.String()) {
			return
		}
		seen[t] = true
		fmt.Fprintf(&b, "%s {", t)
		for i := range t.NumField() {
			f := t.Field(i)
			if i > 0 {
				b.WriteString(";")
			}
			fmt.Fprintf(&b, " %s %s", f.Name, f.Type)
		}
		b.WriteString(" }\n")
		for i := range t.NumField() {
			walk(t.Field(i).Type)
		}
	}
	for _, v := range vs {
		walk(reflect.TypeOf(v))
	}
	return b.String()
}

func skipped(skip []string, name string) bool {
	return slices.ContainsFunc(skip, func(s string) bool {
		p, ok := strings.CutSuffix(s, "*")
		return name == s || ok && strings.HasPrefix(name, p)
	})
}

// Check compares got with the golden file at path.
func Check(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-schema to create it)", err)
	}
	if string(want) != got {
		t.Errorf("the snapshotted types changed. Write the new fields in the snapshot encoding (and read them), raise "+
			"engine.SnapshotVersion, then rerun with -update-schema to accept.\ngot:\n%s\nwant (%s):\n%s", got, path, want)
	}
}
