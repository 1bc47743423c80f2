package vim

import (
	"reflect"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// fieldIndex maps vim property names to struct field indexes for one type.
type fieldIndex map[string][]int

var fieldCache syncMap[reflect.Type, fieldIndex]

// fields returns the vim property names of struct type t. Names come from the
// json tag (mo types) or the xml tag (data objects); embedded structs are
// flattened, as vim25 inheritance is.
func fields(t reflect.Type) fieldIndex {
	if fi, ok := fieldCache.Load(t); ok {
		return fi
	}
	fi := fieldIndex{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if !f.IsExported() {
				continue
			}
			name := tagName(f.Tag.Get("json"))
			if name == "" {
				name = tagName(f.Tag.Get("xml"))
			}
			if name == "" || name == "-" {
				continue
			}
			if _, dup := fi[name]; !dup {
				fi[name] = idx
			}
		}
	}
	walk(t, nil)
	fieldCache.Store(t, fi)
	return fi
}

func tagName(tag string) string {
	if i := strings.IndexByte(tag, ','); i >= 0 {
		tag = tag[:i]
	}
	return tag
}

// HasProperty reports whether the first element of path names a property of
// obj's type, whatever its value.
func HasProperty(obj any, path string) bool {
	t := reflect.TypeOf(obj)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return false
	}
	name, _, _ := strings.Cut(path, ".")
	_, ok := fields(t)[name]
	return ok
}

// Property returns the value at path, a dot-separated list of vim property
// names ("summary.runtime.powerState"), in obj. ok is false when a name on the
// path is not a property of the value it is applied to. A nil pointer or
// interface met on the way yields (nil, true): the property exists but is unset.
// The returned value aliases obj and must not be modified.
func Property(obj any, path string) (value any, ok bool) {
	v := reflect.ValueOf(obj)
	for rest := path; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ".")
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return nil, true
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return nil, false
		}
		idx, found := fields(v.Type())[name]
		if !found {
			return nil, false
		}
		v = v.FieldByIndex(idx)
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, true
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice && v.Len() == 0 {
		return nil, true
	}
	if v.Kind() == reflect.Struct && v.Type() == reflect.TypeFor[types.ManagedObjectReference]() {
		return v.Interface(), true
	}
	return v.Interface(), true
}

// IsUnset reports whether a Property value is absent (nil or zero string for
// optional values), so a PropertyCollector may leave it out.
func IsUnset(v any) bool { return v == nil }

// AnyValue wraps v so that it can travel in an xsd:anyType slot: slices become
// the matching ArrayOfX type. Other values are returned unchanged.
func AnyValue(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() == reflect.Uint8 {
		return v
	}
	at, ok := arrayType(rv.Type())
	if !ok {
		return v
	}
	a := reflect.New(at).Elem()
	a.Field(0).Set(rv)
	return a.Interface()
}

var arrayCache syncMap[reflect.Type, reflect.Type]

func arrayType(st reflect.Type) (reflect.Type, bool) {
	if t, ok := arrayCache.Load(st); ok {
		return t, t != nil
	}
	et := st.Elem()
	var name string
	switch et.Kind() {
	case reflect.String:
		name = "String"
		if et.Name() != "string" {
			name = et.Name()
		}
	case reflect.Int32:
		name = "Int"
	case reflect.Int64:
		name = "Long"
	case reflect.Int16:
		name = "Short"
	case reflect.Bool:
		name = "Boolean"
	case reflect.Float32:
		name = "Float"
	case reflect.Float64:
		name = "Double"
	case reflect.Interface:
		name = strings.TrimPrefix(et.Name(), "Base")
	default:
		name = et.Name()
	}
	t, ok := types.TypeFunc()("ArrayOf" + name)
	if ok && (t.Kind() != reflect.Struct || t.NumField() != 1 || t.Field(0).Type != st) {
		ok = false
	}
	if !ok {
		t = nil
	}
	arrayCache.Store(st, t)
	return t, ok
}
