package inventory

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Derived lists are the inverse of a reference every member holds: a
// folder's childEntity (each child's parent), a resource pool's vm and
// resourcePool (each VM's resourcePool, each child pool's parent), a host's
// vm (each VM's runtime.host), and a datastore's or network's vm (each VM's
// datastore and network lists). They grow with the inventory, so they are
// not stored: the stored form of an object leaves them out, Load rebuilds
// them, and in memory they are kept in creation (MoRef number) order so a
// restart reproduces them exactly. Storing them would make every VM creation
// rewrite lists as long as the inventory.

// storedForm returns obj without its derived lists: a shallow copy when obj
// has any, obj itself otherwise.
func storedForm(obj mo.Reference) mo.Reference {
	switch o := obj.(type) {
	case *mo.Folder:
		c := *o
		c.ChildEntity = nil
		return &c
	case *mo.StoragePod:
		c := *o
		c.ChildEntity = nil
		return &c
	case *mo.ResourcePool:
		c := *o
		c.Vm, c.ResourcePool = nil, nil
		return &c
	case *mo.HostSystem:
		c := *o
		c.Vm = nil
		return &c
	case *mo.Datastore:
		c := *o
		c.Vm = nil
		return &c
	case *mo.Network:
		c := *o
		c.Vm = nil
		return &c
	case *mo.DistributedVirtualPortgroup:
		c := *o
		c.Vm = nil
		return &c
	}
	return obj
}

// derivedLists returns pointers to obj's derived lists.
func derivedLists(obj mo.Reference) []*[]types.ManagedObjectReference {
	switch o := obj.(type) {
	case *mo.Folder:
		return []*[]types.ManagedObjectReference{&o.ChildEntity}
	case *mo.StoragePod:
		return []*[]types.ManagedObjectReference{&o.ChildEntity}
	case *mo.ResourcePool:
		return []*[]types.ManagedObjectReference{&o.Vm, &o.ResourcePool}
	case *mo.HostSystem:
		return []*[]types.ManagedObjectReference{&o.Vm}
	case *mo.Datastore:
		return []*[]types.ManagedObjectReference{&o.Vm}
	case *mo.Network:
		return []*[]types.ManagedObjectReference{&o.Vm}
	case *mo.DistributedVirtualPortgroup:
		return []*[]types.ManagedObjectReference{&o.Vm}
	}
	return nil
}

// sortDerived puts obj's derived lists in creation order, and makes empty
// ones nil as Load rebuilds them; it does not allocate for lists already in
// order.
func sortDerived(obj mo.Reference) {
	for _, l := range derivedLists(obj) {
		if len(*l) == 0 {
			*l = nil
		} else if !slices.IsSortedFunc(*l, compareRefs) {
			slices.SortFunc(*l, compareRefs)
		}
	}
}

// compareRefs orders MoRefs by their number (creation order), then by value.
func compareRefs(a, b types.ManagedObjectReference) int {
	na, nb := refNumber(a.Value), refNumber(b.Value)
	if na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Value, b.Value)
}

func refNumber(v string) int64 {
	i := len(v)
	for i > 0 && v[i-1] >= '0' && v[i-1] <= '9' {
		i--
	}
	n, err := strconv.ParseInt(v[i:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// rebuildDerived fills the derived lists of every object in objs from the
// references their members hold.
func rebuildDerived(objs map[string]*entry) {
	add := func(owner *types.ManagedObjectReference, member types.ManagedObjectReference, pick func(mo.Reference) *[]types.ManagedObjectReference) {
		if owner == nil {
			return
		}
		e := objs[owner.Value]
		if e == nil {
			return
		}
		if l := pick(e.obj); l != nil {
			*l = append(*l, member)
		}
	}
	childList := func(o mo.Reference) *[]types.ManagedObjectReference {
		switch p := o.(type) {
		case *mo.Folder:
			return &p.ChildEntity
		case *mo.StoragePod:
			return &p.ChildEntity
		case *mo.ResourcePool:
			return &p.ResourcePool
		}
		return nil
	}
	vmList := func(o mo.Reference) *[]types.ManagedObjectReference {
		switch p := o.(type) {
		case *mo.ResourcePool:
			return &p.Vm
		case *mo.HostSystem:
			return &p.Vm
		case *mo.Datastore:
			return &p.Vm
		case *mo.Network:
			return &p.Vm
		case *mo.DistributedVirtualPortgroup:
			return &p.Vm
		}
		return nil
	}
	for _, e := range objs {
		ent, ok := e.obj.(mo.Entity)
		if !ok {
			continue
		}
		self := ent.Reference()
		if vm, ok := e.obj.(*mo.VirtualMachine); ok {
			add(vm.ResourcePool, self, vmList)
			add(vm.Runtime.Host, self, vmList)
			for i := range vm.Datastore {
				add(&vm.Datastore[i], self, vmList)
			}
			for i := range vm.Network {
				add(&vm.Network[i], self, vmList)
			}
		}
		p := ent.Entity().Parent
		if p == nil || objs[p.Value] == nil {
			continue
		}
		if _, isVM := e.obj.(*mo.VirtualMachine); isVM {
			if _, inFolder := objs[p.Value].obj.(*mo.Folder); !inFolder {
				continue // a vApp's VM is listed through resourcePool.vm
			}
		}
		add(p, self, childList)
	}
	for _, e := range objs {
		sortDerived(e.obj)
	}
}

// onlyDerivedChanged reports whether new differs from old at most in its
// derived lists, so its stored form need not be written again. Adding a VM
// changes the derived lists of its host, pool, folder, datastores and
// networks; this keeps that from rewriting those objects.
func onlyDerivedChanged(old, new mo.Reference) bool {
	if derivedLists(new) == nil {
		return false
	}
	return reflect.DeepEqual(storedForm(old), storedForm(new))
}
