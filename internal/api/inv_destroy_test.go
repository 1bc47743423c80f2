package api_test

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestRename(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	f.cluster(dc, "C2")
	host := f.host(cluster, "esx-01")
	var c mo.ClusterComputeResource
	f.props(cluster, &c)
	rename := func(ref types.ManagedObjectReference, name string) error {
		return f.wait(object.NewCommon(f.c, ref).Rename(f.ctx, name))
	}

	tests := []struct {
		name  string
		ref   types.ManagedObjectReference
		to    string
		fault types.BaseMethodFault
	}{
		{"cluster", cluster, "Prod", nil},
		{"cluster to sibling's name", cluster, "C2", &types.DuplicateName{}},
		{"empty name", cluster, "", &types.InvalidName{}},
		{"datacenter", dc.Self, "Paris", nil},
		{"host", host, "esx-99", &types.NotSupported{}},
		{"datacenter's vm folder", dc.VmFolder, "vms", &types.NotSupported{}},
		{"root pool", *c.ResourcePool, "Top", &types.NotSupported{}},
		{"network", c.Network[0], "Frontend", nil},
		{"datastore to another datastore's name", c.Datastore[0], "shared", &types.DuplicateName{}},
		{"datastore", c.Datastore[0], "fast-ssd", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := rename(tc.ref, tc.to)
			if tc.fault != nil {
				wantFault(t, err, tc.fault)
				return
			}
			mustOK(t, err)
			if e := f.svc.Registry().Get(tc.ref).(mo.Entity).Entity(); e.Name != tc.to {
				t.Errorf("name %q, want %q", e.Name, tc.to)
			}
		})
	}
	var ds mo.Datastore
	f.props(c.Datastore[0], &ds, "summary", "info")
	if ds.Summary.Name != "fast-ssd" || ds.Info.GetDatastoreInfo().Name != "fast-ssd" {
		t.Errorf("datastore summary/info names %q/%q", ds.Summary.Name, ds.Info.GetDatastoreInfo().Name)
	}
	var n mo.Network
	f.props(c.Network[0], &n, "name", "summary")
	if n.Name != "Frontend" || n.Summary.GetNetworkSummary().Name != "Frontend" {
		t.Errorf("network name %q summary %q", n.Name, n.Summary.GetNetworkSummary().Name)
	}
}

func TestDestroyRules(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	h1 := f.host(cluster, "esx-01")
	f.host(cluster, "esx-02")
	var c mo.ClusterComputeResource
	f.props(cluster, &c)
	apps, err := f.folder(dc.VmFolder).CreateFolder(f.ctx, "apps")
	mustOK(t, err)
	on := f.addVM("web", dc, h1, *c.ResourcePool, c.Datastore[0], c.Network[0], types.VirtualMachinePowerStatePoweredOn)
	mustOK(t, f.wait(apps.MoveInto(f.ctx, []types.ManagedObjectReference{on})))
	destroy := func(ref types.ManagedObjectReference) error {
		return f.wait(object.NewCommon(f.c, ref).Destroy(f.ctx))
	}

	tests := []struct {
		name  string
		ref   types.ManagedObjectReference
		fault types.BaseMethodFault
	}{
		{"root folder", f.root().Reference(), &types.NotSupported{}},
		{"datacenter's host folder", dc.HostFolder, &types.NotSupported{}},
		{"folder with a powered-on VM", apps.Reference(), &types.InvalidPowerState{}},
		{"host outside maintenance mode", h1, &types.InvalidState{}},
		{"datastore in use", c.Datastore[0], &types.ResourceInUse{}},
		{"network in use", c.Network[0], &types.ResourceInUse{}},
		{"cluster with a powered-on VM", cluster, &types.InvalidPowerState{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantFault(t, destroy(tc.ref), tc.fault)
			if !f.exists(tc.ref) || !f.exists(on) {
				t.Fatal("a failed destroy removed something")
			}
		})
	}
}

func TestDestroyHostAndFolder(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	h1 := f.host(cluster, "esx-01")
	h2 := f.host(cluster, "esx-02")
	var c mo.ClusterComputeResource
	f.props(cluster, &c)
	local1 := c.Datastore[0]
	vm := f.addVM("db", dc, h1, *c.ResourcePool, local1, c.Network[0], types.VirtualMachinePowerStatePoweredOff)

	// A host in maintenance mode leaves; its VMs leave the inventory and
	// the datastore only it mounted goes with it.
	mustOK(t, f.wait(object.NewHostSystem(f.c, h1).EnterMaintenanceMode(f.ctx, 0, false, nil)))
	mustOK(t, f.wait(object.NewHostSystem(f.c, h1).Destroy(f.ctx)))
	for _, r := range []types.ManagedObjectReference{h1, vm, local1} {
		if f.exists(r) {
			t.Errorf("%s survived its host's removal", r.Value)
		}
	}
	f.props(cluster, &c)
	if !sameRefs(c.Host, []types.ManagedObjectReference{h2}) || c.Summary.GetComputeResourceSummary().NumHosts != 1 || len(c.Datastore) != 2 {
		t.Errorf("cluster hosts %v summary %+v datastores %v", refValues(c.Host), c.Summary.GetComputeResourceSummary(), refValues(c.Datastore))
	}
	var d mo.Datacenter
	f.props(dc.Self, &d, "datastore")
	var vf, hf mo.Folder
	f.props(dc.VmFolder, &vf, "childEntity")
	if containsValue(d.Datastore, local1.Value) || containsValue(vf.ChildEntity, vm.Value) {
		t.Errorf("datacenter datastores %v vm folder %v still list removed objects", refValues(d.Datastore), refValues(vf.ChildEntity))
	}
	var shared mo.Datastore
	f.props(c.Datastore[1], &shared, "host")
	if len(shared.Host) != 1 || shared.Host[0].Key.Value != h2.Value {
		t.Errorf("shared datastore mounts %+v", shared.Host)
	}

	// A VM folder goes with its powered-off VMs.
	apps, err := f.folder(dc.VmFolder).CreateFolder(f.ctx, "apps")
	mustOK(t, err)
	vm2 := f.addVM("cache", dc, h2, *c.ResourcePool, c.Datastore[1], c.Network[0], types.VirtualMachinePowerStatePoweredOff)
	mustOK(t, f.wait(apps.MoveInto(f.ctx, []types.ManagedObjectReference{vm2})))
	mustOK(t, f.wait(apps.Destroy(f.ctx)))
	if f.exists(apps.Reference()) || f.exists(vm2) {
		t.Error("folder or its VM survived")
	}
	var h mo.HostSystem
	f.props(h2, &h, "vm")
	if len(h.Vm) != 0 {
		t.Errorf("host still lists VMs %v", refValues(h.Vm))
	}

	// The whole datacenter goes, empty or not.
	mustOK(t, f.wait(object.NewDatacenter(f.c, dc.Self).Destroy(f.ctx)))
	f.props(f.root().Reference(), &hf, "childEntity")
	if len(hf.ChildEntity) != 0 {
		t.Errorf("root still lists %v", refValues(hf.ChildEntity))
	}
	left := 0
	for _, typ := range []string{"Folder", "Datacenter", "ClusterComputeResource", "HostSystem", "ResourcePool", "Datastore", "Network", "VirtualMachine"} {
		f.svc.Registry().Each(typ, func(o mo.Reference) bool {
			if o.Reference().Value != f.root().Reference().Value {
				left++
				t.Errorf("left behind: %s", o.Reference())
			}
			return true
		})
	}
	if left > 0 {
		t.Errorf("%d objects left after destroying the datacenter", left)
	}
}
