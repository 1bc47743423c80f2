package api

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// The ManagedEntity methods serve every entity type that does not register
// its own (the VM code registers VirtualMachine's Rename_Task and
// Destroy_Task; resource_pool.go registers ResourcePool's Destroy_Task).
func (s *Service) registerEntity(t *soap.Table) {
	soap.Register(t, "ManagedEntity", "Rename_Task", s.renameEntity)
	soap.Register(t, "ManagedEntity", "Destroy_Task", s.destroyEntity)
	soap.Register(t, "ManagedEntity", "Reload", s.reloadEntity)
}

func (s *Service) reloadEntity(ctx *soap.Context, _ *types.Reload) (any, error) {
	return &types.ReloadResponse{}, nil
}

func (s *Service) renameEntity(ctx *soap.Context, req *types.Rename_Task) (any, error) {
	this, name, user := ctx.This, req.NewName, ctx.UserName()
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: this, DescriptionID: this.Type + ".rename", User: user},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			return nil, s.Rename(tctx, user, this, name, t.ChainID)
		})
	if err != nil {
		return nil, err
	}
	return &types.Rename_TaskResponse{Returnval: ref}, nil
}

// Rename renames an entity, as ManagedEntity.Rename_Task does. The name is
// checked and escaped as at creation and must be unique among the entity's
// siblings (datastores: in the datacenter). A datacenter posts a
// DatacenterRenamedEvent and a datastore a DatastoreRenamedEvent. Faults:
// InvalidName, DuplicateName, NotSupported (hosts, which are named by their
// address; a datacenter's own folders; root resource pools),
// ManagedObjectNotFound.
func (s *Service) Rename(ctx context.Context, user string, ref types.ManagedObjectReference, newName string, chain int32) error {
	name, err := entityName(newName, "entity")
	if err != nil {
		return err
	}
	var (
		ev  types.BaseEvent
		msg string
	)
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		obj, ok := tx.Get(ref).(mo.Entity)
		if !ok {
			return vim.ManagedObjectNotFound(ref)
		}
		if err := renamable(tx, obj); err != nil {
			return err
		}
		old := obj.Entity().Name
		if old == name {
			return nil
		}
		if err := checkUnique(tx, siblings(tx, obj), name, ref); err != nil {
			return err
		}
		switch o := obj.(type) {
		case *mo.Datacenter:
			ev = &types.DatacenterRenamedEvent{OldName: old, NewName: name}
			msg = fmt.Sprintf("Renamed datacenter from %s to %s", old, name)
		case *mo.Datastore:
			ev, msg = datastoreRenamedEvent(o, name)
			renameDatastoreTxn(tx, ref, name)
		case *mo.Network:
			setNetworkName(inventory.Edit[mo.Network](tx, ref), name)
		case *mo.ResourcePool:
			if sum, ok := inventory.Edit[mo.ResourcePool](tx, ref).Summary.(*types.ResourcePoolSummary); ok {
				sum.Name = name
			}
		}
		editEntity(tx, ref).Name = name
		return nil
	})
	if err != nil || ev == nil {
		return err
	}
	s.postEvent(ev, user, chain, ref, msg)
	return nil
}

// renamable refuses renaming the entities vCenter keeps the names of.
func renamable(r objReader, obj mo.Entity) error {
	e := obj.Entity()
	switch o := obj.(type) {
	case *mo.HostSystem:
		return vim.NotSupported("A host is named by its address; '%s' cannot be renamed.", e.Name)
	case *mo.Folder:
		if e.Parent != nil && e.Parent.Type == "Datacenter" {
			return vim.NotSupported("The '%s' folder of a datacenter cannot be renamed.", e.Name)
		}
	case *mo.ResourcePool:
		if isRootPool(o) {
			return vim.NotSupported("'%s' is the root resource pool of '%s' and cannot be renamed.", e.Name, entityOf(r, o.Owner).Name)
		}
	}
	return nil
}

func (s *Service) destroyEntity(ctx *soap.Context, _ *types.Destroy_Task) (any, error) {
	this, user := ctx.This, ctx.UserName()
	if this.Type == "Datacenter" && s.isESX() {
		return nil, vim.NotSupported("The datacenter of an ESX host cannot be destroyed.")
	}
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: this, DescriptionID: this.Type + ".destroy", User: user},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			return nil, s.Destroy(tctx, user, this, t.ChainID)
		})
	if err != nil {
		return nil, err
	}
	return &types.Destroy_TaskResponse{Returnval: ref}, nil
}

// Destroy removes an entity and everything under it from the inventory, as
// ManagedEntity.Destroy_Task does:
//   - a folder or datacenter: all its contents, recursively;
//   - a cluster or standalone compute resource: its hosts and pools;
//   - a host (in a cluster; only in maintenance mode or disconnected): its
//     VMs are removed from the inventory, their files stay on the host;
//   - a VM in a destroyed folder: deleted with its files;
//   - a datastore or network: only when no VM (network: no host) outside
//     what is destroyed uses it; one that only removed hosts and VMs used
//     goes with them, as vCenter knows datastores and networks only
//     through their hosts;
//   - a datastore cluster: its datastores move to its folder;
//   - a resource pool: see DestroyResourcePool; a VM: see DestroyVM.
//
// Nothing is removed while a VM in the way is powered on (InvalidPowerState).
// Posts ClusterDestroyedEvent, HostRemovedEvent, DatastoreDestroyedEvent,
// ResourcePoolDestroyedEvent and VmRemovedEvent as they apply. Faults:
// NotSupported, InvalidState, InvalidPowerState, ResourceInUse,
// ManagedObjectNotFound.
func (s *Service) Destroy(ctx context.Context, user string, ref types.ManagedObjectReference, chain int32) error {
	switch s.reg.Get(ref).(type) {
	case *mo.ResourcePool:
		return s.DestroyResourcePool(ctx, user, ref, chain)
	case *mo.VirtualMachine:
		return s.DestroyVM(ctx, user, ref)
	case *mo.StoragePod:
		return s.destroyPod(ctx, ref)
	}
	var td *teardown
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		obj, ok := tx.Get(ref).(mo.Entity)
		if !ok {
			return vim.ManagedObjectNotFound(ref)
		}
		if err := destroyable(obj); err != nil {
			return err
		}
		td = &teardown{s: s, tx: tx, user: user, chain: chain, gone: map[string]mo.Reference{}}
		if err := td.collect(ref, true); err != nil {
			return err
		}
		td.collectOrphans()
		if err := td.checkUsers(); err != nil {
			return err
		}
		td.apply()
		return nil
	})
	if err != nil {
		return err
	}
	s.emit(td.events)
	for _, f := range td.files {
		s.deleteVMFiles(ctx, f)
	}
	for _, o := range td.gone {
		if h, ok := o.(*mo.HostSystem); ok && s.agents != nil {
			if err := s.agents.Remove(ctx, h.Self); err != nil {
				s.log.Warn("forget host agent", "host", h.Self.Value, "err", err)
			}
		}
	}
	return nil
}

// destroyable refuses destroying what vCenter keeps.
func destroyable(obj mo.Entity) error {
	e := obj.Entity()
	switch o := obj.(type) {
	case *mo.Folder:
		if e.Parent == nil {
			return vim.NotSupported("The root folder cannot be destroyed.")
		}
		if e.Parent.Type == "Datacenter" {
			return vim.NotSupported("The '%s' folder of a datacenter goes away only with the datacenter.", e.Name)
		}
	case *mo.HostSystem:
		if e.Parent != nil && e.Parent.Type == "ComputeResource" {
			return vim.NotSupported("'%s' is a standalone host; destroy its compute resource %s instead.", e.Name, e.Parent.Value)
		}
		if !o.Runtime.InMaintenanceMode && o.Runtime.ConnectionState == types.HostSystemConnectionStateConnected {
			return vim.InvalidState("The host %s must be in maintenance mode (or disconnected) before it is removed from its cluster.", e.Name)
		}
	}
	return nil
}

// teardown collects what a Destroy removes and unlinks it from what stays.
type teardown struct {
	s     *Service
	tx    *inventory.Txn
	user  string
	chain int32
	// gone holds every removed object as it was before the change.
	gone  map[string]mo.Reference
	order []mo.Reference
	// files holds the deleted VMs whose hosts must delete their files.
	files  []*mo.VirtualMachine
	events []pendingEvent
}

func (d *teardown) mark(o mo.Reference) bool {
	id := o.Reference().Value
	if _, ok := d.gone[id]; ok {
		return false
	}
	d.gone[id] = o
	d.order = append(d.order, o)
	return true
}

// collect adds ref and what goes with it. deleteVM says whether a VM met
// here is deleted (in a destroyed folder) rather than unregistered.
func (d *teardown) collect(ref types.ManagedObjectReference, deleteVM bool) error {
	o := d.tx.Get(ref)
	if o == nil {
		return nil
	}
	if _, seen := d.gone[ref.Value]; seen {
		return nil
	}
	var next []types.ManagedObjectReference
	switch x := o.(type) {
	case *mo.Folder:
		next = x.ChildEntity
	case *mo.StoragePod:
		next = x.ChildEntity
	case *mo.Datacenter:
		next = []types.ManagedObjectReference{x.VmFolder, x.HostFolder, x.DatastoreFolder, x.NetworkFolder}
	case *mo.ClusterComputeResource:
		d.capture(&types.ClusterDestroyedEvent{}, ref, fmt.Sprintf("Removed cluster %s in datacenter %s", x.Name, d.dcName(ref)))
		next = append(append(next, x.Host...), optRefs(x.ResourcePool)...)
	case *mo.ComputeResource:
		next = append(append(next, x.Host...), optRefs(x.ResourcePool)...)
	case *mo.HostSystem:
		d.capture(&types.HostRemovedEvent{}, ref, fmt.Sprintf("Removed host %s in %s", x.Name, d.dcName(ref)))
		for _, v := range x.Vm {
			if err := d.collectVM(v, false); err != nil {
				return err
			}
		}
	case *mo.ResourcePool:
		if !isRootPool(x) {
			d.capture(&types.ResourcePoolDestroyedEvent{ResourcePoolEvent: types.ResourcePoolEvent{ResourcePool: poolArg(x.Name, ref)}},
				x.Owner, fmt.Sprintf("Removed resource pool %s on %s in %s", x.Name, entityOf(d.tx, x.Owner).Name, d.dcName(ref)))
		}
		for _, v := range x.Vm {
			if err := d.collectVM(v, false); err != nil {
				return err
			}
		}
		next = x.ResourcePool
	case *mo.VirtualMachine:
		return d.collectVM(ref, deleteVM)
	case *mo.Datastore:
		d.capture(&types.DatastoreDestroyedEvent{DatastoreEvent: types.DatastoreEvent{Datastore: dsArg(x.Name, ref)}},
			ref, fmt.Sprintf("Removed unconfigured datastore %s", x.Name))
	case *mo.Network:
	default:
		return vim.NotSupported("Destroying %s objects is not supported yet (%s).", ref.Type, ref.Value)
	}
	d.mark(o)
	for _, c := range next {
		if err := d.collect(c, deleteVM); err != nil {
			return err
		}
	}
	return nil
}

// optRefs returns r as a list of zero or one reference.
func optRefs(r *types.ManagedObjectReference) []types.ManagedObjectReference {
	if r == nil {
		return nil
	}
	return []types.ManagedObjectReference{*r}
}

func (d *teardown) capture(ev types.BaseEvent, entity types.ManagedObjectReference, msg string) {
	d.events = append(d.events, d.s.captureEvent(ev, d.user, d.chain, entity, msg))
}

func (d *teardown) dcName(ref types.ManagedObjectReference) string {
	return dcNameOf(datacenterOf(d.tx, ref))
}

// collectVM adds a VM, which must be powered off. A deleted VM's files are
// deleted by its host after the commit.
func (d *teardown) collectVM(ref types.ManagedObjectReference, deleteFiles bool) error {
	vm, ok := d.tx.Get(ref).(*mo.VirtualMachine)
	if !ok {
		return nil
	}
	if st := vm.Runtime.PowerState; st != types.VirtualMachinePowerStatePoweredOff {
		return vim.NewFault(&types.InvalidPowerState{ExistingState: st, RequestedState: types.VirtualMachinePowerStatePoweredOff},
			"The virtual machine '%s' is %s; power it off before destroying what contains it.", vm.Name, st)
	}
	if !d.mark(vm) {
		return nil
	}
	host := "?"
	if vm.Runtime.Host != nil {
		host = entityOf(d.tx, *vm.Runtime.Host).Name
		if deleteFiles && vm.Config != nil {
			d.files = append(d.files, vm)
		}
	}
	d.capture(&types.VmRemovedEvent{}, ref, fmt.Sprintf("Removed %s on %s from %s", vm.Name, host, d.dcName(ref)))
	return nil
}

// collectOrphans adds the datastores and networks that only removed hosts
// and VMs use: vCenter knows them only through their hosts.
func (d *teardown) collectOrphans() {
	for _, o := range d.order {
		h, ok := o.(*mo.HostSystem)
		if !ok {
			continue
		}
		for _, r := range append(append([]types.ManagedObjectReference(nil), h.Datastore...), h.Network...) {
			switch x := d.tx.Get(r).(type) {
			case *mo.Datastore:
				if d.allGone(mountKeys(x.Host)) && d.allGone(x.Vm) {
					d.mark(x)
				}
			case *mo.Network:
				if d.allGone(x.Host) && d.allGone(x.Vm) {
					d.mark(x)
				}
			}
		}
	}
}

func (d *teardown) allGone(refs []types.ManagedObjectReference) bool {
	for _, r := range refs {
		if _, ok := d.gone[r.Value]; !ok {
			return false
		}
	}
	return true
}

func mountKeys(ms []types.DatastoreHostMount) []types.ManagedObjectReference {
	out := make([]types.ManagedObjectReference, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Key)
	}
	return out
}

// checkUsers refuses removing a datastore or network that stays in use.
func (d *teardown) checkUsers() error {
	for _, o := range d.order {
		var users []types.ManagedObjectReference
		var name, kind string
		switch x := o.(type) {
		case *mo.Datastore:
			users, name, kind = x.Vm, x.Name, "datastore"
		case *mo.Network:
			users, name, kind = append(append(users, x.Vm...), x.Host...), x.Name, "network"
		default:
			continue
		}
		for _, u := range users {
			if _, ok := d.gone[u.Value]; !ok {
				ue := entityOf(d.tx, u)
				if ue == nil {
					continue
				}
				return vim.NewFault(&types.ResourceInUse{Type: kind, Name: name},
					"The %s '%s' is in use by %s '%s'; remove that first.", kind, name, u.Type, ue.Name)
			}
		}
	}
	return nil
}

// apply deletes what was collected and unlinks it from what stays; the
// compute resources that lose hosts or mounts are refreshed.
func (d *teardown) apply() {
	for _, o := range d.order {
		d.tx.Delete(o.Reference())
	}
	var hosts []types.ManagedObjectReference
	for _, o := range d.order {
		hosts = append(hosts, d.unlink(o)...)
	}
	for _, o := range d.order {
		if h, ok := o.(*mo.HostSystem); ok && h.Parent != nil {
			refreshComputeTxn(d.tx, *h.Parent)
		}
	}
	refreshHostsComputeTxn(d.tx, hosts)
}

// unlink removes o from the relationship lists of the objects that stay; it
// returns the surviving hosts whose mounts changed. Edits of deleted
// objects return nil and are skipped.
func (d *teardown) unlink(o mo.Reference) (hosts []types.ManagedObjectReference) {
	tx, self := d.tx, o.Reference()
	if e, ok := o.(mo.Entity); ok && e.Entity().Parent != nil {
		parent := *e.Entity().Parent
		switch tx.Get(parent).(type) {
		case *mo.Folder, *mo.StoragePod:
			removeChildTxn(tx, parent, self)
		case *mo.ResourcePool:
			p := inventory.Edit[mo.ResourcePool](tx, parent)
			p.ResourcePool = dropRef(p.ResourcePool, self)
		case *mo.ClusterComputeResource, *mo.ComputeResource:
			if self.Type == "HostSystem" {
				cr := computeResource(tx.Edit(parent))
				cr.Host = dropRef(cr.Host, self)
			}
		}
	}
	switch x := o.(type) {
	case *mo.VirtualMachine:
		if x.ResourcePool != nil {
			if p := inventory.Edit[mo.ResourcePool](tx, *x.ResourcePool); p != nil {
				p.Vm = dropRef(p.Vm, self)
			}
		}
		if x.Runtime.Host != nil {
			if h := inventory.Edit[mo.HostSystem](tx, *x.Runtime.Host); h != nil {
				h.Vm = dropRef(h.Vm, self)
			}
		}
		for _, ds := range x.Datastore {
			if dso := inventory.Edit[mo.Datastore](tx, ds); dso != nil {
				dso.Vm = dropRef(dso.Vm, self)
			}
		}
		for _, n := range x.Network {
			if e := tx.Edit(n); e != nil {
				if net := networkPart(e); net != nil {
					net.Vm = dropRef(net.Vm, self)
				}
			}
		}
	case *mo.HostSystem:
		for _, ds := range x.Datastore {
			if dso := inventory.Edit[mo.Datastore](tx, ds); dso != nil {
				dso.Host = removeMounts(dso.Host, self)
				dso.Summary.MultipleHostAccess = types.NewBool(len(dso.Host) > 1)
			}
		}
		for _, n := range x.Network {
			if e := tx.Edit(n); e != nil {
				if net := networkPart(e); net != nil {
					net.Host = dropRef(net.Host, self)
				}
			}
		}
	case *mo.Datastore:
		path := "/vmfs/volumes/" + dsVolumeID(x)
		for _, m := range x.Host {
			if h := inventory.Edit[mo.HostSystem](tx, m.Key); h != nil {
				h.Datastore = dropRef(h.Datastore, self)
				if h.Config != nil && h.Config.FileSystemVolume != nil {
					fs := h.Config.FileSystemVolume
					fs.MountInfo = removeMountInfo(fs.MountInfo, path)
				}
				hosts = append(hosts, m.Key)
			}
		}
		d.removeFromDatacenter(x.Parent, self)
	case *mo.Network:
		for _, h := range x.Host {
			if ho := inventory.Edit[mo.HostSystem](tx, h); ho != nil {
				ho.Network = dropRef(ho.Network, self)
				hosts = append(hosts, h)
			}
		}
		d.removeFromDatacenter(x.Parent, self)
	}
	return hosts
}

// removeFromDatacenter drops a datastore or network from the datastore and
// network lists of the datacenter above parent, when it stays.
func (d *teardown) removeFromDatacenter(parent *types.ManagedObjectReference, self types.ManagedObjectReference) {
	if parent == nil {
		return
	}
	dc := datacenterOf(d.tx, *parent)
	if dc == nil {
		// the folder went too: look the datacenter up from the snapshot.
		for p := parent; p != nil; {
			o := d.gone[p.Value]
			if o == nil {
				o = d.tx.Get(*p)
			}
			if x, ok := o.(*mo.Datacenter); ok {
				dc = x
				break
			}
			e, ok := o.(mo.Entity)
			if !ok {
				break
			}
			p = e.Entity().Parent
		}
	}
	if dc == nil {
		return
	}
	if e := inventory.Edit[mo.Datacenter](d.tx, dc.Self); e != nil {
		e.Datastore = dropRef(e.Datastore, self)
		e.Network = dropRef(e.Network, self)
	}
}

func removeMountInfo(ms []types.HostFileSystemMountInfo, path string) []types.HostFileSystemMountInfo {
	var out []types.HostFileSystemMountInfo
	for _, m := range ms {
		if m.MountInfo.Path != path {
			out = append(out, m)
		}
	}
	return out
}

// networkPart returns the Network part of a network object of any kind.
func networkPart(o mo.Reference) *mo.Network {
	switch n := o.(type) {
	case *mo.Network:
		return n
	case *mo.OpaqueNetwork:
		return &n.Network
	case *mo.DistributedVirtualPortgroup:
		return &n.Network
	}
	return nil
}

// deleteVMFiles has a deleted VM's host forget it and delete its files, as
// the VM's own Destroy_Task does.
func (s *Service) deleteVMFiles(ctx context.Context, vm *mo.VirtualMachine) {
	drv, err := s.vmDriver(vm)
	if err == nil {
		err = s.forgetOnHost(ctx, drv, vm, true)
	}
	if err != nil {
		s.log.Warn("delete files of destroyed vm", "vm", vm.Self.Value, "err", err)
	}
}
