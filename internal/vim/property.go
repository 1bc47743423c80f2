package vim

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// fieldIndex maps vim property names to struct field indexes for one type.
type fieldIndex struct {
	index map[string][]int
	// names lists the property names in declaration order.
	names []string
}

var fieldCache syncMap[reflect.Type, *fieldIndex]

// fields returns the vim property names of struct type t. Names come from the
// json tag (mo types) or the xml tag (data objects); embedded structs are
// flattened, as vim25 inheritance is.
func fields(t reflect.Type) *fieldIndex {
	if fi, ok := fieldCache.Load(t); ok {
		return fi
	}
	fi := &fieldIndex{index: map[string][]int{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if !f.IsExported() || f.Name == "Self" && f.Type == morefType {
				// A managed object's own reference is not one of its properties.
				continue
			}
			name := tagName(f.Tag.Get("json"))
			if name == "" {
				name = tagName(f.Tag.Get("xml"))
			}
			if name == "" || name == "-" {
				continue
			}
			if _, dup := fi.index[name]; !dup {
				fi.index[name] = idx
				fi.names = append(fi.names, name)
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

var (
	morefType   = reflect.TypeFor[types.ManagedObjectReference]()
	managedType syncMap[string, reflect.Type]
)

// ManagedType returns the struct type of the vim25 managed object type name
// ("VirtualMachine", "ManagedEntity"), as govmomi's mo package defines it.
func ManagedType(name string) (reflect.Type, bool) {
	if t, ok := managedType.Load(name); ok {
		return t, t != nil
	}
	var t reflect.Type
	if mo.IsManagedObjectType(name) {
		v, err := mo.ObjectContentToType(types.ObjectContent{Obj: types.ManagedObjectReference{Type: name}})
		if err == nil {
			t = reflect.TypeOf(v)
		}
	}
	managedType.Store(name, t)
	return t, t != nil
}

// PropertyNames returns the top-level property names of a managed object or
// data object struct type t (a pointer is dereferenced), in declaration order.
// The result must not be modified.
func PropertyNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return fields(t).names
}

// segment is one element of a property path: a property name, optionally
// followed by a key selecting one element of an array ("device[4000]",
// `extraConfig["guestinfo.x"]`).
type segment struct {
	name   string
	key    any // nil, int32 or string
	hasKey bool
}

// nextSegment splits the first segment off path. ok is false for a malformed
// path.
func nextSegment(path string) (seg segment, rest string, ok bool) {
	i := strings.IndexAny(path, ".[")
	if i < 0 {
		return segment{name: path}, "", path != ""
	}
	seg.name = path[:i]
	if seg.name == "" {
		return seg, "", false
	}
	if path[i] == '.' {
		rest = path[i+1:]
		return seg, rest, rest != ""
	}
	// path[i] == '[': a key up to the matching ']' (a quoted key may hold
	// dots and brackets).
	body := path[i+1:]
	var end int
	if strings.HasPrefix(body, `"`) {
		q := strings.IndexByte(body[1:], '"')
		if q < 0 || len(body) < q+3 || body[q+2] != ']' {
			return seg, "", false
		}
		seg.key, end = body[1:q+1], q+2
	} else {
		end = strings.IndexByte(body, ']')
		if end < 0 {
			return seg, "", false
		}
		n, err := strconv.ParseInt(body[:end], 0, 32)
		if err != nil {
			return seg, "", false
		}
		seg.key = int32(n)
	}
	seg.hasKey = true
	rest = body[end+1:]
	switch {
	case rest == "":
		return seg, "", true
	case rest[0] == '.' && len(rest) > 1:
		return seg, rest[1:], true
	}
	return seg, "", false
}

// CheckPath reports whether path can name a property of values of type t. It
// is false only when the path is certainly invalid: a name that t's
// declared type does not have, a sub-property of an array (other than a keyed
// element) or of a managed object reference, or malformed syntax. Past an
// interface-typed value whose base type lacks a name, the path is accepted:
// only the value's dynamic type can tell.
func CheckPath(t reflect.Type, path string) bool {
	for rest := path; ; {
		seg, next, ok := nextSegment(rest)
		if !ok {
			return false
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Interface {
			base, ok := baseType(t)
			if !ok {
				return true
			}
			if _, found := fields(base).index[seg.name]; !found {
				return true
			}
			t = base
		}
		if t.Kind() != reflect.Struct || t == morefType {
			return false
		}
		idx, found := fields(t).index[seg.name]
		if !found {
			return false
		}
		t = t.FieldByIndex(idx).Type
		if seg.hasKey {
			if t.Kind() != reflect.Slice || !keyFits(t.Elem(), seg.key) {
				return false
			}
			t = t.Elem()
		}
		if next == "" {
			return true
		}
		if t.Kind() == reflect.Slice {
			return false
		}
		rest = next
	}
}

// keyFits reports whether key can select an element of a slice of elem:
// the element's key property must be an integer for an int32 key and a
// string for a quoted one ("device[4000]", not `device["4000"]`). Elements of
// an interface type are checked against their base type when it has a key.
func keyFits(elem reflect.Type, key any) bool {
	for elem.Kind() == reflect.Pointer {
		elem = elem.Elem()
	}
	if elem.Kind() == reflect.Interface {
		base, ok := baseType(elem)
		if !ok {
			return true
		}
		elem = base
	}
	if elem.Kind() != reflect.Struct {
		return false
	}
	idx, ok := fields(elem).index["key"]
	if !ok {
		return false
	}
	k := elem.FieldByIndex(idx).Type
	for k.Kind() == reflect.Pointer {
		k = k.Elem()
	}
	switch key.(type) {
	case int32:
		return k.Kind() >= reflect.Int && k.Kind() <= reflect.Int64
	case string:
		return k.Kind() == reflect.String
	}
	return false
}

// StructPath reports whether path leads from type t to a data object
// through struct and pointer fields only (no interface, array or key on the
// way), so that the property names below it are the same for every value. A
// PropertyCollector may then report a change below path by its nested path.
func StructPath(t reflect.Type, path string) bool {
	for rest := path; rest != ""; {
		seg, next, ok := nextSegment(rest)
		if !ok || seg.hasKey {
			return false
		}
		rest = next
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == morefType {
			return false
		}
		idx, found := fields(t).index[seg.name]
		if !found {
			return false
		}
		t = t.FieldByIndex(idx).Type
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != morefType
}

// baseType returns the struct type behind a vim25 BaseX interface type.
func baseType(t reflect.Type) (reflect.Type, bool) {
	name, ok := strings.CutPrefix(t.Name(), "Base")
	if !ok {
		return nil, false
	}
	bt, ok := types.TypeFunc()(name)
	if !ok || bt.Kind() != reflect.Struct {
		return nil, false
	}
	return bt, true
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
	seg, _, ok := nextSegment(path)
	if !ok {
		return false
	}
	_, found := fields(t).index[seg.name]
	return found
}

// Property returns the value at path in obj. path is a dot-separated list of
// vim property names ("summary.runtime.powerState"); a name may select one
// element of an array by its key ("config.hardware.device[4000]",
// `config.extraConfig["guestinfo.x"]`). ok is false when a name on the path
// is not a property of the value it is applied to. An unset value on the way
// (nil pointer or interface, empty array, no element with the key) yields
// (nil, true): the property exists but is unset. Pointers are dereferenced,
// so a data object comes back as a struct value; a managed object reference
// is a leaf. The returned value aliases obj and must not be modified.
func Property(obj any, path string) (value any, ok bool) {
	v := reflect.ValueOf(obj)
	var last reflect.StructField // the field the path ends on, if not keyed
	for rest := path; rest != ""; {
		seg, next, valid := nextSegment(rest)
		if !valid {
			return nil, false
		}
		rest = next
		if v = indirect(v); !v.IsValid() {
			return nil, true
		}
		if v.Kind() != reflect.Struct || v.Type() == morefType {
			return nil, false
		}
		idx, found := fields(v.Type()).index[seg.name]
		if !found {
			return nil, false
		}
		last = v.Type().FieldByIndex(idx)
		v = v.FieldByIndex(idx)
		if seg.hasKey {
			last = reflect.StructField{}
			if v.Kind() != reflect.Slice {
				return nil, false
			}
			if v = elementByKey(v, seg.key); !v.IsValid() {
				return nil, true
			}
		} else if v.Kind() == reflect.Slice && rest != "" {
			return nil, false
		}
	}
	if v = indirect(v); !v.IsValid() {
		return nil, true
	}
	if v.Kind() == reflect.Slice && v.Len() == 0 {
		return nil, true
	}
	if unsetScalar(last, v) {
		return nil, true
	}
	return v.Interface(), true
}

// unsetScalar reports whether v, the value of field f, is an optional
// scalar left at its zero value ("" for an unset guest.ipAddress): such a
// field is omitted on the wire, so a PropertyCollector reports it unset, as
// vCenter does. A pointer field set to a zero value is set.
func unsetScalar(f reflect.StructField, v reflect.Value) bool {
	if f.Type == nil || f.Type.Kind() == reflect.Pointer || !strings.Contains(f.Tag.Get("xml"), ",omitempty") {
		return false
	}
	switch v.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return v.IsZero()
	}
	return false
}

// indirect dereferences pointers and interfaces; the zero Value means nil.
func indirect(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// elementByKey returns the element of slice s whose key property equals key,
// or the zero Value.
func elementByKey(s reflect.Value, key any) reflect.Value {
	for i := 0; i < s.Len(); i++ {
		e := s.Index(i)
		ev := indirect(e)
		if ev.Kind() != reflect.Struct {
			continue
		}
		idx, ok := fields(ev.Type()).index["key"]
		if !ok {
			continue
		}
		k := ev.FieldByIndex(idx)
		switch want := key.(type) {
		case int32:
			if k.CanInt() && k.Int() == int64(want) {
				return e
			}
		case string:
			if k.Kind() == reflect.String && k.String() == want {
				return e
			}
		}
	}
	return reflect.Value{}
}

// IsUnset reports whether a Property value is absent, so a PropertyCollector
// leaves it out.
func IsUnset(v any) bool { return v == nil }

// AnyValue wraps v so that it can travel in an xsd:anyType slot: slices become
// the matching ArrayOfX type (bytes, such as a host's config.certificate,
// ArrayOfByte). Other values are returned unchanged.
func AnyValue(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return v
	}
	if rv.Type().Elem().Kind() == reflect.Uint8 {
		return types.ArrayOfByte{Byte: types.ByteSlice(rv.Bytes())}
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
	case reflect.Int8:
		name = "Byte"
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
