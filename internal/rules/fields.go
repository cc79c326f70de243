package rules

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/event"
)

// fieldKind is how a field's value reads.
type fieldKind uint8

const (
	kindString fieldKind = iota
	kindInt
	kindFloat
	kindTri // true, false or nil
	kindTime
	kindList // []string
)

var kindLabels = [...]string{"string", "int", "float", "bool or nil", "time", "list of strings"}

func (k fieldKind) String() string { return kindLabels[k] }

// field is one leaf of Env, by its path in conditions.
type field struct {
	Path  string
	Kind  fieldKind
	Doc   string
	On    []event.Type // the types that set it; nil: every type
	Enum  []string     // the values vigil knows, when the field is an enumeration
	Open  bool         // values outside Enum occur (names vigil does not know)
	index []int
}

// setBy reports whether events of type t set the field.
func (f *field) setBy(t event.Type) bool { return f.On == nil || slices.Contains(f.On, t) }

// value reads the field from env as text (lists joined with ", ").
func (f *field) value(env *Env) string {
	v := reflect.ValueOf(env).Elem().FieldByIndex(f.index)
	switch f.Kind {
	case kindString:
		return v.String()
	case kindInt:
		return strconv.FormatInt(v.Int(), 10)
	case kindFloat:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	case kindTri:
		if v.IsNil() {
			return ""
		}
		return strconv.FormatBool(v.Elem().Bool())
	case kindTime:
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	case kindList:
		return strings.Join(v.Interface().([]string), ", ")
	}
	return ""
}

// fields is the catalogue of Env, in declaration order; immutable.
var catalog, fieldByPath = catalogue()

func catalogue() ([]*field, map[string]*field) {
	var out []*field
	var walk func(t reflect.Type, prefix string, index []int, on []event.Type)
	walk = func(t reflect.Type, prefix string, index []int, on []event.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name := sf.Tag.Get("expr")
			path := prefix + name
			idx := append(slices.Clone(index), i)
			fon := on
			if s := sf.Tag.Get("on"); s != "" && s != "*" {
				fon = nil
				for _, n := range strings.Split(s, ",") {
					fon = append(fon, typeByName[n])
				}
			}
			f := &field{Path: path, Doc: sf.Tag.Get("doc"), On: fon, index: idx}
			switch {
			case sf.Type == reflect.TypeFor[time.Time]():
				f.Kind = kindTime
			case sf.Type.Kind() == reflect.Struct:
				walk(sf.Type, path+".", idx, fon)
				continue
			case sf.Type.Kind() == reflect.String:
				f.Kind = kindString
			case sf.Type.Kind() == reflect.Int:
				f.Kind = kindInt
			case sf.Type.Kind() == reflect.Float64:
				f.Kind = kindFloat
			case sf.Type.Kind() == reflect.Interface:
				f.Kind = kindTri
			case sf.Type.Kind() == reflect.Slice:
				f.Kind = kindList
			default:
				panic("rules: Env field of unsupported type " + sf.Type.String())
			}
			f.Enum, f.Open = enumOf(path)
			out = append(out, f)
		}
	}
	walk(reflect.TypeFor[Env](), "", nil, nil)
	m := make(map[string]*field, len(out))
	for _, f := range out {
		m[f.Path] = f
	}
	return out, m
}

var typeByName = func() map[string]event.Type {
	m := map[string]event.Type{}
	for _, t := range event.Types() {
		m[t.String()] = t
	}
	return m
}()

// names lists the non-empty names of an enumeration.
func names[T interface {
	~uint8
	String() string
}]() []string {
	var out []string
	for i := 1; i < 255; i++ {
		if s := T(i).String(); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// enumOf returns the values vigil knows for a field and whether others occur.
func enumOf(path string) ([]string, bool) {
	switch path {
	case "type":
		var out []string
		for _, t := range event.Types() {
			out = append(out, t.String())
		}
		return out, false
	case "data.name":
		return names[event.VehicleEventName](), true
	case "data.origin":
		return names[event.Origin](), false
	case "data.command":
		return names[event.CommandKind](), true
	case "data.stage":
		return names[event.Stage](), false
	case "data.channel":
		return append(names[event.Channel](), names[event.FirmwareChannel]()...), false
	case "data.actor.role":
		return names[event.Role](), false
	case "data.result":
		return append(names[event.LoginResult](), names[event.FirmwareResult]()...), false
	case "data.reason":
		return names[event.LoginReason](), false
	case "data.method":
		return append(names[event.LoginMethod](), names[event.HTTPMethod]()...), false
	case "data.change":
		return names[event.ChangeKind](), false
	case "data.direction":
		return names[event.SMSDirection](), false
	case "data.kind":
		return names[event.SMSKind](), false
	case "data.auth":
		return names[event.SMSAuth](), false
	case "data.signature.alg":
		return names[event.SignatureAlg](), false
	case "data.severity":
		return names[event.Severity](), false
	case "data.signals.Vehicle.LowVoltageSystemState":
		return names[event.LowVoltageState](), false
	case "data.fields":
		return event.PersonalFields(127).Names(), false
	}
	return nil, false
}
