package api

import (
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/vim"
)

// The helpers in this file keep the inventory tree consistent: which folder
// may hold which types, name uniqueness among siblings, and the two sides of
// every parent/child link, always inside one transaction.

// objReader reads objects; both *inventory.Registry and *inventory.Txn are
// readers.
type objReader interface {
	Get(types.ManagedObjectReference) mo.Reference
}

// entityOf returns the ManagedEntity part of the object with ref, or nil.
func entityOf(r objReader, ref types.ManagedObjectReference) *mo.ManagedEntity {
	if e, ok := r.Get(ref).(mo.Entity); ok {
		return e.Entity()
	}
	return nil
}

// editEntity returns the transaction's mutable ManagedEntity part of ref, or
// nil when there is no such entity (or it was deleted in tx).
func editEntity(tx *inventory.Txn, ref types.ManagedObjectReference) *mo.ManagedEntity {
	if e, ok := tx.Edit(ref).(mo.Entity); ok {
		return e.Entity()
	}
	return nil
}

// initEntity sets the fields every new entity carries, as vCenter fills them.
func initEntity(e *mo.ManagedEntity, self types.ManagedObjectReference, name string, parent *types.ManagedObjectReference) {
	e.Self = self
	e.Name = name
	if parent != nil {
		p := *parent
		e.Parent = &p
	}
	e.OverallStatus = types.ManagedEntityStatusGreen
	e.ConfigStatus = types.ManagedEntityStatusGreen
	e.EffectiveRole = []int32{-1}
	e.AlarmActionsEnabled = types.NewBool(true)
}

// folderAllows reports whether folder f may hold children of type typ. A
// child type names the type and its subtypes, except "Folder", which does not
// admit StoragePod (a StoragePod is only allowed where listed).
func folderAllows(f *mo.Folder, typ string) bool {
	for _, ct := range f.ChildType {
		if ct == typ || (ct != "Folder" && inventory.IsA(typ, ct)) {
			return true
		}
	}
	return false
}

// folderFor returns the folder (or storage pod) with ref as r sees it,
// checking that it may hold a child of type typ.
func folderFor(r objReader, ref types.ManagedObjectReference, typ string) (*mo.Folder, error) {
	f := asFolder(r.Get(ref))
	if f == nil {
		if ref.Type == "" {
			ref.Type = "Folder"
		}
		return nil, vim.ManagedObjectNotFound(ref)
	}
	if !folderAllows(f, typ) {
		return nil, childTypeFault(f, typ)
	}
	return f, nil
}

// childTypeFault is vCenter's NotSupported fault for a child type a folder
// cannot hold.
func childTypeFault(f *mo.Folder, typ string) *vim.Fault {
	return vim.NotSupported("The folder '%s' cannot contain a %s; it holds only %s. Use a folder of the right kind.",
		f.Name, typ, strings.Join(f.ChildType, ", "))
}

// lookupAs returns the object with ref as a *T, or ManagedObjectNotFound when
// it is missing or of another type (kind names the expected type).
func lookupAs[T any, PT interface {
	*T
	mo.Reference
}](r objReader, ref types.ManagedObjectReference, kind string) (PT, error) {
	p, ok := r.Get(ref).(PT)
	if !ok {
		if ref.Type == "" {
			ref.Type = kind
		}
		return nil, vim.ManagedObjectNotFound(ref)
	}
	return p, nil
}

// entityNamed returns the first of refs whose entity is called name, or nil.
func entityNamed(r objReader, refs []types.ManagedObjectReference, name string) *mo.ManagedEntity {
	for _, c := range refs {
		if e := entityOf(r, c); e != nil && e.Name == name {
			return e
		}
	}
	return nil
}

// checkUnique returns a DuplicateName fault if an entity other than self
// among refs is called name.
func checkUnique(r objReader, refs []types.ManagedObjectReference, name string, self types.ManagedObjectReference) error {
	for _, c := range refs {
		if c.Value == self.Value {
			continue
		}
		if e := entityOf(r, c); e != nil && e.Name == name {
			return vim.DuplicateName(name, e.Self)
		}
	}
	return nil
}

// siblings returns the entities among which e's name must be unique: the
// children of its folder, the child pools of its parent pool, the datastores
// of its datacenter (datastore names are unique per datacenter) or the hosts
// of its compute resource.
func siblings(r objReader, e mo.Entity) []types.ManagedObjectReference {
	me := e.Entity()
	if _, ok := e.(*mo.Datastore); ok {
		if dc := datacenterOf(r, me.Self); dc != nil {
			return dc.Datastore
		}
	}
	if me.Parent == nil {
		return nil
	}
	switch p := r.Get(*me.Parent).(type) {
	case *mo.Folder:
		return p.ChildEntity
	case *mo.StoragePod:
		return p.ChildEntity
	case *mo.ResourcePool:
		return p.ResourcePool
	case *mo.VirtualApp:
		return p.ResourcePool.ResourcePool
	}
	return nil
}

// datacenterOf returns the datacenter that contains ref (or is ref), or nil.
func datacenterOf(r objReader, ref types.ManagedObjectReference) *mo.Datacenter {
	for i := 0; i < 256 && ref.Value != ""; i++ {
		o := r.Get(ref)
		if dc, ok := o.(*mo.Datacenter); ok {
			return dc
		}
		e, ok := o.(mo.Entity)
		if !ok || e.Entity().Parent == nil {
			return nil
		}
		ref = *e.Entity().Parent
	}
	return nil
}

// isAncestor reports whether anc is ref or one of its ancestors.
func isAncestor(r objReader, anc, ref types.ManagedObjectReference) bool {
	for i := 0; i < 256 && ref.Value != ""; i++ {
		if ref.Value == anc.Value {
			return true
		}
		e := entityOf(r, ref)
		if e == nil || e.Parent == nil {
			return false
		}
		ref = *e.Parent
	}
	return false
}

// addChildTxn links child under folder: it appends child to the folder's
// childEntity and points child's parent at the folder. Datastores and
// networks also join their datacenter's datastore or network list.
func addChildTxn(tx *inventory.Txn, folder, child types.ManagedObjectReference) {
	if f := editFolder(tx, folder); f != nil && !containsRef(f.ChildEntity, child) {
		f.ChildEntity = append(f.ChildEntity, child)
	}
	if e := editEntity(tx, child); e != nil {
		p := folder
		e.Parent = &p
	}
	addToDatacenterTxn(tx, folder, child)
}

// removeChildTxn unlinks child from the folder that holds it (its parent is
// left as is: the caller deletes or re-parents child).
func removeChildTxn(tx *inventory.Txn, folder, child types.ManagedObjectReference) {
	if f := editFolder(tx, folder); f != nil {
		f.ChildEntity = dropRef(f.ChildEntity, child)
	}
}

// asFolder returns the Folder part of a folder or storage pod (read only),
// or nil.
func asFolder(o mo.Reference) *mo.Folder {
	switch f := o.(type) {
	case *mo.Folder:
		return f
	case *mo.StoragePod:
		return &f.Folder
	}
	return nil
}

// editFolder returns the mutable Folder (or StoragePod's folder part) with ref.
func editFolder(tx *inventory.Txn, ref types.ManagedObjectReference) *mo.Folder {
	switch f := tx.Edit(ref).(type) {
	case *mo.Folder:
		return f
	case *mo.StoragePod:
		return &f.Folder
	}
	return nil
}

// addToDatacenterTxn adds a datastore or network created under folder to
// its datacenter's list.
func addToDatacenterTxn(tx *inventory.Txn, folder, child types.ManagedObjectReference) {
	isDS, isNet := child.Type == "Datastore", inventory.IsA(child.Type, "Network")
	if !isDS && !isNet {
		return
	}
	dc := datacenterOf(tx, folder)
	if dc == nil {
		return
	}
	d := inventory.Edit[mo.Datacenter](tx, dc.Self)
	switch {
	case isDS && !containsRef(d.Datastore, child):
		d.Datastore = append(d.Datastore, child)
	case isNet && !containsRef(d.Network, child):
		d.Network = append(d.Network, child)
	}
}

// dropRef returns refs without r; an emptied list becomes nil, the form a
// restart gives it, so the inventory reads the same before and after.
func dropRef(refs []types.ManagedObjectReference, r types.ManagedObjectReference) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, x := range refs {
		if x.Value != r.Value {
			out = append(out, x)
		}
	}
	return out
}

// appendRef appends r to *refs unless it is there already.
func appendRef(refs *[]types.ManagedObjectReference, r types.ManagedObjectReference) {
	if !containsRef(*refs, r) {
		*refs = append(*refs, r)
	}
}
