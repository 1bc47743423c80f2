package vim

import "reflect"

// DeepCopy returns a copy of v that shares no pointers, slices, maps or
// interface values with it. Unexported struct fields are copied shallowly;
// vim25 types have none that matter. v may be nil.
func DeepCopy[T any](v T) T {
	src := reflect.ValueOf(&v).Elem()
	dst := reflect.New(src.Type()).Elem()
	copyValue(dst, src)
	out, _ := dst.Interface().(T) // a nil interface T fails the assertion and stays nil
	return out
}

func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		n := reflect.New(src.Type().Elem())
		copyValue(n.Elem(), src.Elem())
		dst.Set(n)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		e := src.Elem()
		n := reflect.New(e.Type()).Elem()
		copyValue(n, e)
		dst.Set(n)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		n := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if isFlat(src.Type().Elem()) {
			reflect.Copy(n, src)
		} else {
			for i := 0; i < src.Len(); i++ {
				copyValue(n.Index(i), src.Index(i))
			}
		}
		dst.Set(n)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		n := reflect.MakeMapWithSize(src.Type(), src.Len())
		it := src.MapRange()
		for it.Next() {
			v := reflect.New(it.Value().Type()).Elem()
			copyValue(v, it.Value())
			n.SetMapIndex(it.Key(), v)
		}
		dst.Set(n)
	case reflect.Struct:
		dst.Set(src)
		if isFlat(src.Type()) {
			return
		}
		for i := 0; i < src.NumField(); i++ {
			if !dst.Field(i).CanSet() {
				continue
			}
			copyValue(dst.Field(i), src.Field(i))
		}
	default:
		dst.Set(src)
	}
}

var flatCache syncMap[reflect.Type, bool]

// isFlat reports whether values of t hold no references, so a plain
// assignment copies them completely.
func isFlat(t reflect.Type) bool {
	if v, ok := flatCache.Load(t); ok {
		return v
	}
	flat := computeFlat(t, map[reflect.Type]bool{})
	flatCache.Store(t, flat)
	return flat
}

func computeFlat(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return false
	case reflect.Array:
		return computeFlat(t.Elem(), seen)
	case reflect.Struct:
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			if !computeFlat(t.Field(i).Type, seen) {
				return false
			}
		}
		return true
	default:
		return true
	}
}

func reflectTypeOf(v any) reflect.Type { return reflect.TypeOf(v) }
