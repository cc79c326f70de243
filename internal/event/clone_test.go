package event_test

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
)

// fill sets every field reachable from v to a value that is not zero,
// allocating every pointer and giving every slice two elements, so a
// field added to the model is filled without this test knowing it. It
// fails on what it cannot fill (an unexported field, a map, …): Clone
// and this test must then learn it.
func fill(t *testing.T, v reflect.Value, path string, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n%100 + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n%100 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path, n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				t.Fatalf("%s.%s is unexported: Clone and this test do not know it", path, f.Name)
			}
			fill(t, v.Field(i), path+"."+f.Name, n)
		}
	default:
		t.Fatalf("%s is a %s: Clone and this test do not know it", path, v.Kind())
	}
}

// scribble changes every field reachable from v in place, through the
// pointers and slices it holds.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Pointer:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			scribble(v.Field(i))
		}
	}
}

// firstDiff returns the path of the first leaf where a and b differ.
func firstDiff(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path
			}
			return ""
		}
		return firstDiff(a.Elem(), b.Elem(), path)
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return path
		}
		for i := range a.Len() {
			if d := firstDiff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if d := firstDiff(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
	default:
		if !a.Equal(b) {
			return path
		}
	}
	return ""
}

// TestCloneSharesNothing: an event with every field and every payload
// set is cloned; changing every field of the clone changes nothing in
// the original.
func TestCloneSharesNothing(t *testing.T) {
	newFull := func() *event.Event {
		ev := &event.Event{}
		n := 0
		fill(t, reflect.ValueOf(ev).Elem(), "Event", &n)
		return ev
	}
	for typ := event.Type(0); typ < event.NumTypes; typ++ {
		t.Run(fmt.Sprintf("%d-%s", typ, typ), func(t *testing.T) {
			orig, want := newFull(), newFull()
			orig.Type, want.Type = typ, typ
			c := orig.Clone()
			if !reflect.DeepEqual(c, orig) {
				t.Fatal("the clone differs from the original")
			}
			scribble(reflect.ValueOf(c).Elem())
			if reflect.DeepEqual(c, orig) {
				t.Fatal("scribbling changed nothing")
			}
			if d := firstDiff(reflect.ValueOf(orig).Elem(), reflect.ValueOf(want).Elem(), "Event"); d != "" {
				t.Fatalf("changing the clone changed the original's %s: Clone shares it", d)
			}
		})
	}
}

// TestCloneSpecExamples: a clone of each decoded example encodes as the
// original does, and the original keeps its bytes when the clone's
// payload is changed.
func TestCloneSpecExamples(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(event.Limits{})
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		ev, err := dec.Decode(line)
		if err != nil {
			t.Fatalf("line %d rejected: %v", i+1, err)
		}
		before := event.AppendJSON(nil, ev)
		c := ev.Clone()
		if got := event.AppendJSON(nil, c); !bytes.Equal(got, before) {
			t.Fatalf("line %d: the clone encodes as\n%s\nwant\n%s", i+1, got, before)
		}
		scribble(reflect.ValueOf(c).Elem())
		if got := event.AppendJSON(nil, ev); !bytes.Equal(got, before) {
			t.Fatalf("line %d: changing the clone changed the original:\n%s\nwant\n%s", i+1, got, before)
		}
	}
}
