package vim

import (
	"reflect"
	"strconv"
	"strings"
)

// API versions Vireo speaks. The server reports CurrentVersion and answers
// every version from OldestVersion up, each in its own vocabulary.
const (
	CurrentVersion = "8.0.3.0"
	OldestVersion  = "6.5"
)

// PriorVersions lists the older vim25 versions the server accepts, newest
// first, as /sdk/vimServiceVersions.xml announces them.
var PriorVersions = []string{
	"8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0",
	"7.0.3.0", "7.0.2.1", "7.0.2.0", "7.0.1.1", "7.0.1.0", "7.0.0.0",
	"6.7.3", "6.7.2", "6.7.1", "6.7", "6.5",
}

// CompareVersions compares two dotted API versions numerically, treating a
// missing component as zero ("6.7" == "6.7.0.0"). It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		x, y := part(as, i), part(bs, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func part(s []string, i int) int {
	if i >= len(s) {
		return 0
	}
	n, _ := strconv.Atoi(s[i])
	return n
}

// Supported reports whether a client may speak version v to this server.
func Supported(v string) bool {
	return CompareVersions(v, OldestVersion) >= 0 && CompareVersions(v, CurrentVersion) <= 0
}

// TypeKnown reports whether the vim25 type named name exists in API version v.
func TypeKnown(name, v string) bool {
	since, ok := typeVersion[name]
	return !ok || CompareVersions(since, v) <= 0
}

// ForVersion returns v with everything API version ver does not know removed:
// struct fields tagged vim:"X" with X newer than ver are zeroed, and interface
// values whose dynamic type is newer than ver are dropped (from slices too).
// v is not modified; parts that need no change are shared with the result.
func ForVersion(v any, ver string) any {
	if v == nil || CompareVersions(ver, CurrentVersion) >= 0 {
		return v
	}
	rv := reflect.ValueOf(v)
	out, changed := filterValue(rv, ver)
	if !changed {
		return v
	}
	return out.Interface()
}

// filterValue returns a filtered copy of v and whether anything differs.
func filterValue(v reflect.Value, ver string) (reflect.Value, bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v, false
		}
		e, changed := filterValue(v.Elem(), ver)
		if !changed {
			return v, false
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(e)
		return n, true
	case reflect.Interface:
		if v.IsNil() {
			return v, false
		}
		e := v.Elem()
		if !TypeKnown(typeName(e.Type()), ver) {
			return reflect.Zero(v.Type()), true
		}
		fe, changed := filterValue(e, ver)
		if !changed {
			return v, false
		}
		n := reflect.New(v.Type()).Elem()
		n.Set(fe)
		return n, true
	case reflect.Slice:
		if v.IsNil() || isFlat(v.Type().Elem()) {
			return v, false
		}
		var out reflect.Value
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			drop := e.Kind() == reflect.Interface && !e.IsNil() && !TypeKnown(typeName(e.Elem().Type()), ver)
			fe, changed := e, false
			if !drop {
				fe, changed = filterValue(e, ver)
			}
			if (drop || changed) && !out.IsValid() {
				out = reflect.MakeSlice(v.Type(), 0, v.Len())
				out = reflect.AppendSlice(out, v.Slice(0, i))
			}
			if out.IsValid() && !drop {
				out = reflect.Append(out, fe)
			}
		}
		if !out.IsValid() {
			return v, false
		}
		return out, true
	case reflect.Struct:
		var out reflect.Value
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			var nv reflect.Value
			changed := false
			if since := f.Tag.Get("vim"); since != "" && CompareVersions(since, ver) > 0 && !fv.IsZero() {
				nv, changed = reflect.Zero(f.Type), true
			} else {
				nv, changed = filterValue(fv, ver)
			}
			if changed {
				if !out.IsValid() {
					out = reflect.New(t).Elem()
					out.Set(v)
				}
				out.Field(i).Set(nv)
			}
		}
		if !out.IsValid() {
			return v, false
		}
		return out, true
	}
	return v, false
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
