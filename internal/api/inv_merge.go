package api

import (
	"reflect"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/vim"
)

// mergeSet applies the set fields of src to dst, both pointers to the same
// struct type, the way vCenter applies an incremental configuration spec
// (modify=true): a nil pointer, nil interface, nil slice, empty string or
// zero number in src leaves dst's value alone. Pointers to structs are merged
// field by field; option lists ([]BaseOptionValue) are merged by key, and an
// option with an empty value removes that key. src is not retained.
func mergeSet[T any](dst, src *T) {
	if dst == nil || src == nil {
		return
	}
	mergeValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(vim.DeepCopy(src)).Elem())
}

var optionListType = reflect.TypeFor[[]types.BaseOptionValue]()

func mergeValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			if dst.Field(i).CanSet() {
				mergeValue(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Pointer:
		switch {
		case src.IsNil():
		case src.Elem().Kind() == reflect.Struct && !dst.IsNil():
			mergeValue(dst.Elem(), src.Elem())
		default:
			dst.Set(src)
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		if src.Type() == optionListType {
			dst.Set(reflect.ValueOf(mergeOptionsByKey(dst.Interface().([]types.BaseOptionValue), src.Interface().([]types.BaseOptionValue))))
			return
		}
		dst.Set(src)
	case reflect.Interface, reflect.Map:
		if !src.IsNil() {
			dst.Set(src)
		}
	default:
		if !src.IsZero() {
			dst.Set(src)
		}
	}
}

// mergeOptionsByKey updates opts with changes by key; a change whose value is
// empty removes its key.
func mergeOptionsByKey(opts, changes []types.BaseOptionValue) []types.BaseOptionValue {
	out := append([]types.BaseOptionValue(nil), opts...)
	for _, c := range changes {
		cv := c.GetOptionValue()
		i := 0
		for ; i < len(out) && out[i].GetOptionValue().Key != cv.Key; i++ {
		}
		remove := cv.Value == nil || cv.Value == ""
		switch {
		case i < len(out) && remove:
			out = append(out[:i], out[i+1:]...)
		case i < len(out):
			out[i] = c
		case !remove:
			out = append(out, c)
		}
	}
	return out
}
