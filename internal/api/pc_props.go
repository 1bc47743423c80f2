package api

import (
	"reflect"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/vim"
)

// objectContent returns the properties tp selects of obj: set values in
// propSet (unset ones are left out, as vCenter does), and paths that cannot
// be resolved on this particular value (a sub-property that only some
// subtypes of an interface-typed property have) in missingSet.
func objectContent(obj mo.Reference, tp *typeProps) types.ObjectContent {
	oc := types.ObjectContent{Obj: obj.Reference()}
	if len(tp.paths) > 0 {
		oc.PropSet = make([]types.DynamicProperty, 0, len(tp.paths))
	}
	for _, p := range tp.paths {
		v, ok := vim.Property(obj, p)
		if !ok {
			oc.MissingSet = append(oc.MissingSet, missingProperty(p))
			continue
		}
		if v != nil {
			oc.PropSet = append(oc.PropSet, types.DynamicProperty{Name: p, Val: vim.AnyValue(v)})
		}
	}
	return oc
}

func missingProperty(path string) types.MissingProperty {
	return types.MissingProperty{Path: path, Fault: types.LocalizedMethodFault{
		Fault: &types.InvalidProperty{Name: path}, LocalizedMessage: "Invalid property: " + path}}
}

// enterUpdate returns the ObjectUpdate announcing obj to a filter: every set
// property assigned.
func enterUpdate(obj mo.Reference, tp *typeProps) types.ObjectUpdate {
	oc := objectContent(obj, tp)
	u := types.ObjectUpdate{Kind: types.ObjectUpdateKindEnter, Obj: oc.Obj, MissingSet: oc.MissingSet}
	for _, p := range oc.PropSet {
		u.ChangeSet = append(u.ChangeSet, types.PropertyChange{Name: p.Name, Op: types.PropertyChangeOpAssign, Val: p.Val})
	}
	return u
}

// modifyUpdate returns the changes of the selected properties between two
// values of one object, or ok=false when none changed. A property that
// became unset is assigned no value. With partial set, a change below a
// selected data object is reported at the deepest path that names it
// ("config.hardware.memoryMB" under "config"), as PropertyFilter's
// partialUpdates asks; otherwise the selected property is reported whole.
func modifyUpdate(old, cur mo.Reference, tp *typeProps, partial bool) (u types.ObjectUpdate, ok bool) {
	u = types.ObjectUpdate{Kind: types.ObjectUpdateKindModify, Obj: cur.Reference()}
	assign := func(path string, v any) {
		u.ChangeSet = append(u.ChangeSet, types.PropertyChange{Name: path, Op: types.PropertyChangeOpAssign, Val: vim.AnyValue(v)})
	}
	for i, p := range tp.paths {
		ov, _ := vim.Property(old, p)
		nv, valid := vim.Property(cur, p)
		if !valid {
			continue
		}
		if partial && tp.nested[i] {
			vim.ChangedPaths(p, ov, nv, assign)
			continue
		}
		if !reflect.DeepEqual(ov, nv) {
			assign(p, nv)
		}
	}
	return u, len(u.ChangeSet) > 0
}
