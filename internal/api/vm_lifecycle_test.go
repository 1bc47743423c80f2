package api_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
)

func TestRenameVM(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("old"))
	f.create(vmSpec("other"))
	vmFault(t, f.wait(vm.Rename(f.ctx, "other")), &types.DuplicateName{})
	f.must(f.wait(vm.Rename(f.ctx, "new")))
	o := f.vm(vm)
	if o.Name != "new" || o.Config.Name != "new" || o.Summary.Config.Name != "new" {
		t.Errorf("names %q %q %q", o.Name, o.Config.Name, o.Summary.Config.Name)
	}
	if o.Config.Files.VmPathName != "[LocalDS_0] old/old.vmx" {
		t.Errorf("rename moved files to %s", o.Config.Files.VmPathName)
	}
	evs := f.vmEvents(vm.Reference(), "VmRenamedEvent")
	if len(evs) != 1 || evs[0].GetEvent().FullFormattedMessage != "Renamed new from old to new in DC0" {
		t.Errorf("events %v", evs)
	}
}

func TestDestroyAndUnregisterVM(t *testing.T) {
	f := newVMFx(t)
	ds := filepath.Join(f.dsDir("LocalDS_0"))
	doomed := f.create(vmSpec("doomed", add(lsiLogic(-1)), addFile(newDisk(-1, 1024, "")), add(newNIC[types.VirtualE1000]("VM Network"))))
	o := f.vm(doomed)

	f.must(f.wait(doomed.PowerOn(f.ctx)))
	vmFault(t, f.wait(doomed.Destroy(f.ctx)), &types.InvalidPowerState{})
	vmFault(t, doomed.Unregister(f.ctx), &types.InvalidPowerState{})
	f.must(f.wait(doomed.PowerOff(f.ctx)))
	f.must(f.wait(doomed.Destroy(f.ctx)))

	reg := f.svc.Registry()
	if reg.Get(doomed.Reference()) != nil {
		t.Fatal("destroyed VM still in the inventory")
	}
	lists := map[string][]types.ManagedObjectReference{
		"folder":    inventory.Get[mo.Folder](reg, f.dc.VmFolder).ChildEntity,
		"host":      inventory.Get[mo.HostSystem](reg, f.h0).Vm,
		"pool":      inventory.Get[mo.ResourcePool](reg, f.pool).Vm,
		"datastore": inventory.Get[mo.Datastore](reg, o.Datastore[0]).Vm,
		"network":   inventory.Get[mo.Network](reg, o.Network[0]).Vm,
	}
	for name, l := range lists {
		if refIn(l, doomed.Reference()) {
			t.Errorf("%s still lists the destroyed VM", name)
		}
	}
	if _, err := os.Stat(filepath.Join(ds, "doomed")); !os.IsNotExist(err) {
		t.Errorf("destroyed VM's directory remains: %v", err)
	}
	if evs := f.vmEvents(f.dc.Self, "VmRemovedEvent"); len(evs) != 1 || evs[0].GetEvent().FullFormattedMessage != "Removed doomed on h0 from DC0" {
		t.Errorf("VmRemovedEvent: %v", evs)
	}

	kept := f.create(vmSpec("kept", add(lsiLogic(-1)), addFile(newDisk(-1, 1024, ""))))
	f.must(kept.Unregister(f.ctx))
	if reg.Get(kept.Reference()) != nil {
		t.Fatal("unregistered VM still in the inventory")
	}
	if _, err := os.Stat(filepath.Join(ds, "kept", "kept.vmdk")); err != nil {
		t.Errorf("unregistered VM's disk is gone: %v", err)
	}
}

func TestTemplates(t *testing.T) {
	f := newVMFx(t)
	spec := vmSpec("tmpl")
	spec.Files.VmPathName = "[shared]"
	vm := f.create(spec)
	f.must(f.wait(vm.PowerOn(f.ctx)))
	vmFault(t, vm.MarkAsTemplate(f.ctx), &types.InvalidPowerState{})
	f.must(f.wait(vm.PowerOff(f.ctx)))
	f.must(vm.MarkAsTemplate(f.ctx))
	o := f.vm(vm)
	if !o.Config.Template || !o.Summary.Config.Template || o.ResourcePool != nil {
		t.Errorf("template %v/%v pool %v", o.Config.Template, o.Summary.Config.Template, o.ResourcePool)
	}
	if refIn(inventory.Get[mo.ResourcePool](f.svc.Registry(), f.pool).Vm, vm.Reference()) {
		t.Errorf("pool still lists the template")
	}
	vmFault(t, vm.MarkAsTemplate(f.ctx), &types.NotSupported{})
	vmFault(t, f.wait(vm.PowerOn(f.ctx)), &types.InvalidState{})
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{MemoryMB: 64}), &types.NotSupported{})
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{Annotation: "golden"}))

	vmFault(t, vm.MarkAsVirtualMachine(f.ctx, *object.NewResourcePool(f.c, f.pool), object.NewHostSystem(f.c, f.otherHst)), &types.InvalidArgument{})
	f.must(vm.MarkAsVirtualMachine(f.ctx, *object.NewResourcePool(f.c, f.pool), object.NewHostSystem(f.c, f.h1)))
	o = f.vm(vm)
	if o.Config.Template || o.ResourcePool == nil || o.Runtime.Host.Value != f.h1.Value {
		t.Errorf("back to VM: template %v pool %v host %v", o.Config.Template, o.ResourcePool, o.Runtime.Host)
	}
	if !refIn(inventory.Get[mo.HostSystem](f.svc.Registry(), f.h1).Vm, vm.Reference()) ||
		refIn(inventory.Get[mo.HostSystem](f.svc.Registry(), f.h0).Vm, vm.Reference()) {
		t.Errorf("host lists not updated for the move to h1")
	}
	// The VM runs on its new host.
	f.must(f.wait(vm.PowerOn(f.ctx)))
	vmFault(t, vm.MarkAsVirtualMachine(f.ctx, *object.NewResourcePool(f.c, f.pool), nil), &types.NotSupported{})
}

func TestUpgradeVM(t *testing.T) {
	f := newVMFx(t)
	spec := vmSpec("old-hw")
	spec.Version = "vmx-10"
	vm := f.create(spec)
	bad := vmSpec("bad-hw")
	bad.Version = "vmx-99"
	_, err := f.createErr(bad, &f.h0)
	vmFault(t, err, &types.InvalidArgument{})

	f.must(f.wait(vm.PowerOn(f.ctx)))
	vmFault(t, f.wait(vm.UpgradeVM(f.ctx, "")), &types.InvalidPowerState{})
	f.must(f.wait(vm.PowerOff(f.ctx)))
	vmFault(t, f.wait(vm.UpgradeVM(f.ctx, "vmx-09")), &types.AlreadyUpgraded{})
	f.must(f.wait(vm.UpgradeVM(f.ctx, "")))
	if o := f.vm(vm); o.Config.Version != "vmx-21" || o.Summary.Config.HwVersion != "vmx-21" {
		t.Errorf("version %s / %s after upgrade", o.Config.Version, o.Summary.Config.HwVersion)
	}
	vmFault(t, f.wait(vm.UpgradeVM(f.ctx, "")), &types.InvalidState{})
}

func TestPlaceVm(t *testing.T) {
	f := newVMFx(t)
	cl := object.NewClusterComputeResource(f.c, f.cluster)
	f.create(vmSpec("busy")) // on h0, so h1 runs fewer VMs
	res, err := cl.PlaceVm(f.ctx, types.PlacementSpec{PlacementType: "create", ConfigSpec: &types.VirtualMachineConfigSpec{Name: "x"}})
	f.must(err)
	if len(res.Recommendations) != 1 {
		t.Fatalf("recommendations %+v", res)
	}
	a := res.Recommendations[0].Action[0].(*types.PlacementAction)
	if a.TargetHost.Value != f.h1.Value || a.RelocateSpec.Pool.Value != f.pool.Value || a.RelocateSpec.Datastore == nil {
		t.Errorf("placement %+v, want h1 with a datastore and the cluster's pool", a.RelocateSpec)
	}
	empty, err := f.svc.CreateCluster(f.ctx, "admin", f.dc.HostFolder, "empty", types.ClusterConfigSpecEx{})
	f.must(err)
	res, err = object.NewClusterComputeResource(f.c, empty).PlaceVm(f.ctx, types.PlacementSpec{PlacementType: "create"})
	f.must(err)
	if len(res.Recommendations) != 0 || res.DrsFault == nil {
		t.Errorf("empty cluster: %+v, want no recommendation and a DRS fault", res)
	}
}
