package vim

import "reflect"

// ChangedPaths compares old and new, two values of the property at path, and
// calls fn for each nested property that differs, deepest first where it can
// tell: struct and pointer-to-struct fields are compared field by field and
// named "path.field"; anything else (scalars, arrays, interface values,
// references) is compared whole and reported at its own path. value is the
// new value as Property would return it (nil when unset). When old and new
// are not structs of one type, a difference is reported at path itself.
func ChangedPaths(path string, old, new any, fn func(path string, value any)) {
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(new)
	if !ov.IsValid() || !nv.IsValid() || ov.Type() != nv.Type() || ov.Kind() != reflect.Struct || ov.Type() == morefType {
		if !reflect.DeepEqual(old, new) {
			fn(path, new)
		}
		return
	}
	changedFields(path, ov, nv, fn)
}

// changedFields compares two struct values of one type field by field.
func changedFields(path string, ov, nv reflect.Value, fn func(string, any)) {
	fi := fields(ov.Type())
	for _, name := range fi.names {
		idx := fi.index[name]
		of, nf := ov.FieldByIndex(idx), nv.FieldByIndex(idx)
		sub := path + "." + name
		t := of.Type()
		if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Elem() != morefType {
			switch {
			case of.IsNil() && nf.IsNil():
			case of.IsNil() || nf.IsNil():
				fn(sub, valueOf(nf))
			case of.Pointer() != nf.Pointer():
				changedFields(sub, of.Elem(), nf.Elem(), fn)
			}
			continue
		}
		if t.Kind() == reflect.Struct && t != morefType {
			changedFields(sub, of, nf, fn)
			continue
		}
		if !reflect.DeepEqual(of.Interface(), nf.Interface()) {
			fn(sub, valueOf(nf))
		}
	}
}

// valueOf returns a field's value the way Property does: dereferenced, and
// nil when unset.
func valueOf(v reflect.Value) any {
	if v = indirect(v); !v.IsValid() {
		return nil
	}
	if v.Kind() == reflect.Slice && v.Len() == 0 {
		return nil
	}
	return v.Interface()
}
