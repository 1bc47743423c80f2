package api_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// provisionSpec is a VM with a 1 MB disk and a NIC on VM Network, on ds.
func provisionSpec(name, ds string) types.VirtualMachineConfigSpec {
	spec := vmSpec(name, add(lsiLogic(-1)), addFile(newDisk(-1, 1024, "")), add(newNIC[types.VirtualVmxnet3]("VM Network")))
	spec.Files.VmPathName = "[" + ds + "]"
	return spec
}

// dsFile returns the local path of a datastore path ("[ds] dir/file").
func (f *vmFx) dsFile(p string) string {
	f.t.Helper()
	ds, rel, ok := strings.Cut(strings.TrimPrefix(p, "["), "] ")
	if !ok {
		f.t.Fatalf("not a datastore path: %q", p)
	}
	return filepath.Join(f.dsDir(ds), filepath.FromSlash(rel))
}

// writeDisk writes marker into a VM's first disk file, so copies can be
// recognized.
func (f *vmFx) writeDisk(vm *object.VirtualMachine, marker string) string {
	f.t.Helper()
	disk := diskFile(f.devices(vm).SelectByType((*types.VirtualDisk)(nil))[0])
	fh, err := os.OpenFile(f.dsFile(disk), os.O_WRONLY, 0)
	f.must(err)
	_, err = fh.WriteAt([]byte(marker), 4096)
	f.must(err)
	f.must(fh.Close())
	return disk
}

// hasMarker reports whether the disk file at datastore path p holds marker.
func (f *vmFx) hasMarker(p, marker string) bool {
	f.t.Helper()
	b, err := os.ReadFile(f.dsFile(p))
	if err != nil {
		f.t.Fatalf("read %s: %v", p, err)
	}
	return bytes.Contains(b, []byte(marker))
}

// clone runs CloneVM_Task into the datacenter's VM folder.
func (f *vmFx) clone(vm *object.VirtualMachine, name string, spec types.VirtualMachineCloneSpec) (*object.VirtualMachine, error) {
	task, err := vm.Clone(f.ctx, object.NewFolder(f.c, f.dc.VmFolder), name, spec)
	if err != nil {
		return nil, err
	}
	res, err := task.WaitForResult(f.ctx)
	if err != nil {
		return nil, err
	}
	return object.NewVirtualMachine(f.c, res.Result.(types.ManagedObjectReference)), nil
}

func TestCloneVM(t *testing.T) {
	f := newVMFx(t)
	src := f.create(provisionSpec("src", "LocalDS_0"))
	srcDisk := f.writeDisk(src, "source-data")
	h1, shared := f.h1, f.datastore("shared")
	clone, err := f.clone(src, "copy", types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{Host: &h1, Datastore: &shared},
		Config:   &types.VirtualMachineConfigSpec{MemoryMB: 256, Annotation: "cloned"},
	})
	f.must(err)
	s, c := f.vm(src), f.vm(clone)
	switch {
	case c.Name != "copy" || c.Config.Files.VmPathName != "[shared] copy/copy.vmx":
		t.Errorf("clone %q at %q, want copy at [shared] copy/copy.vmx", c.Name, c.Config.Files.VmPathName)
	case c.Config.Uuid == s.Config.Uuid || c.Config.InstanceUuid == s.Config.InstanceUuid:
		t.Errorf("clone kept the source's UUIDs")
	case c.Runtime.Host.Value != h1.Value || c.ResourcePool.Value != f.pool.Value:
		t.Errorf("clone on %v in %v, want h1 in the cluster's pool", c.Runtime.Host, c.ResourcePool)
	case c.Config.Hardware.MemoryMB != 256 || c.Config.Annotation != "cloned":
		t.Errorf("clone config: %d MB, %q; want spec.config applied", c.Config.Hardware.MemoryMB, c.Config.Annotation)
	case c.Runtime.PowerState != "poweredOff":
		t.Errorf("clone is %s", c.Runtime.PowerState)
	}
	sNIC := f.devices(src).SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	cNIC := f.devices(clone).SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	if cNIC.MacAddress == sNIC.MacAddress {
		t.Errorf("clone's NIC kept MAC %s", cNIC.MacAddress)
	}
	cDisk := f.devices(clone).SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	if got := diskFile(cDisk); got != "[shared] copy/copy.vmdk" {
		t.Errorf("clone's disk %q, want [shared] copy/copy.vmdk", got)
	}
	sb := f.devices(src).SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if cDisk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Uuid == sb.Uuid {
		t.Errorf("clone's disk kept the source disk's UUID")
	}
	if !f.hasMarker("[shared] copy/copy.vmdk", "source-data") || !f.hasMarker(srcDisk, "source-data") {
		t.Errorf("the clone's disk is not a copy of the source's, or the source lost its data")
	}
	if _, err := os.Stat(f.dsFile("[shared] copy/copy.vmx")); err != nil {
		t.Errorf("clone has no configuration file: %v", err)
	}
	if evs := f.vmEvents(clone.Reference(), "VmClonedEvent"); len(evs) != 1 ||
		evs[0].(*types.VmClonedEvent).SourceVm.Vm.Value != src.Reference().Value {
		t.Errorf("VmClonedEvent on the clone: %v", evs)
	}
	if evs := f.vmEvents(src.Reference(), "VmBeingClonedEvent"); len(evs) != 1 {
		t.Errorf("VmBeingClonedEvent on the source: %v", evs)
	}

	_, err = f.clone(src, "copy", types.VirtualMachineCloneSpec{})
	vmFault(t, err, &types.DuplicateName{})
}

func TestCloneVMRefusals(t *testing.T) {
	f := newVMFx(t)
	src := f.create(provisionSpec("src", "LocalDS_0"))
	tests := []struct {
		name string
		spec types.VirtualMachineCloneSpec
		want types.BaseMethodFault
	}{
		{"linked clone", types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{
			DiskMoveType: string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking)}}, &types.NotSupported{}},
		{"unknown snapshot", types.VirtualMachineCloneSpec{Snapshot: &types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: "snapshot-1"}},
			&types.InvalidArgument{}},
		{"host without the datastore", types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{Host: &f.h1}},
			&types.InvalidDatastore{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.clone(src, "bad", tc.spec)
			vmFault(t, err, tc.want)
		})
	}
	f.must(f.wait(src.PowerOn(f.ctx)))
	f.must(f.wait(src.Suspend(f.ctx)))
	_, err := f.clone(src, "bad", types.VirtualMachineCloneSpec{})
	vmFault(t, err, &types.InvalidPowerState{})
}

func TestCloneTemplate(t *testing.T) {
	f := newVMFx(t)
	src := f.create(provisionSpec("gold", "LocalDS_0"))
	f.must(src.MarkAsTemplate(f.ctx))
	_, err := f.clone(src, "vm1", types.VirtualMachineCloneSpec{})
	vmFault(t, err, &types.InvalidArgument{}) // a template has no pool to inherit
	pool := f.pool
	vm, err := f.clone(src, "vm1", types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{Pool: &pool}, PowerOn: true})
	f.must(err)
	if got := f.vm(vm); got.Config.Template || got.Runtime.PowerState != "poweredOn" {
		t.Errorf("deployed VM: template %v, %s; want a running VM", got.Config.Template, got.Runtime.PowerState)
	}
	if evs := f.vmEvents(vm.Reference(), "VmDeployedEvent"); len(evs) != 1 {
		t.Errorf("VmDeployedEvent: %v", evs)
	}
	tmpl, err := f.clone(src, "gold2", types.VirtualMachineCloneSpec{Template: true})
	f.must(err)
	if got := f.vm(tmpl); !got.Config.Template || got.ResourcePool != nil {
		t.Errorf("clone as template: template %v, pool %v", got.Config.Template, got.ResourcePool)
	}
}

// datastore returns the datastore named name.
func (f *vmFx) datastore(name string) types.ManagedObjectReference {
	f.t.Helper()
	var ref types.ManagedObjectReference
	f.svc.Registry().Each("Datastore", func(o mo.Reference) bool {
		if ds := o.(*mo.Datastore); ds.Name == name {
			ref = ds.Self
		}
		return ref.Value == ""
	})
	if ref.Value == "" {
		f.t.Fatalf("no datastore %s", name)
	}
	return ref
}

// relocate runs RelocateVM_Task.
func (f *vmFx) relocate(vm *object.VirtualMachine, spec types.VirtualMachineRelocateSpec) error {
	return f.wait(vm.Relocate(f.ctx, spec, types.VirtualMachineMovePriorityDefaultPriority))
}

func TestRelocateVM(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(provisionSpec("mover", "shared"))
	h1 := f.h1
	f.must(f.relocate(vm, types.VirtualMachineRelocateSpec{Host: &h1}))
	if got := f.vm(vm); got.Runtime.Host.Value != h1.Value {
		t.Fatalf("VM on %v after the migration, want h1", got.Runtime.Host)
	}
	if evs := f.vmEvents(vm.Reference(), "VmMigratedEvent"); len(evs) != 1 ||
		!strings.HasPrefix(evs[0].GetEvent().FullFormattedMessage, "Migration of virtual machine mover from h0") {
		t.Errorf("VmMigratedEvent: %v", evs)
	}

	// Storage: from the shared datastore to h1's local one; the old
	// files go once the new ones are committed.
	disk := f.writeDisk(vm, "mover-data")
	local := f.datastore("LocalDS_1")
	f.must(f.relocate(vm, types.VirtualMachineRelocateSpec{Datastore: &local}))
	got := f.vm(vm)
	newDisk := diskFile(f.devices(vm).SelectByType((*types.VirtualDisk)(nil))[0])
	if got.Config.Files.VmPathName != "[LocalDS_1] mover/mover.vmx" || newDisk != "[LocalDS_1] mover/mover.vmdk" {
		t.Errorf("after the storage move: vmx %q, disk %q", got.Config.Files.VmPathName, newDisk)
	}
	if !f.hasMarker(newDisk, "mover-data") {
		t.Errorf("the moved disk lost its data")
	}
	if _, err := os.Stat(f.dsFile(disk)); !os.IsNotExist(err) {
		t.Errorf("the old disk file %s is still there: %v", disk, err)
	}
	if _, err := os.Stat(f.dsFile("[LocalDS_1] mover/mover.vmx")); err != nil {
		t.Errorf("no configuration file at the new place: %v", err)
	}

	// h0 cannot reach LocalDS_1: the disk would be stranded.
	h0 := f.h0
	err := f.relocate(vm, types.VirtualMachineRelocateSpec{Host: &h0})
	vmFault(t, err, &types.InvalidDatastore{})
	if got := f.vm(vm); got.Runtime.Host.Value != h1.Value {
		t.Errorf("a refused migration moved the VM to %v", got.Runtime.Host)
	}
}

func TestRelocatePoweredOn(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(provisionSpec("live", "shared"))
	f.must(f.wait(vm.PowerOn(f.ctx)))
	before := f.vm(vm).Runtime.BootTime
	h1 := f.h1
	vmFault(t, f.relocate(vm, types.VirtualMachineRelocateSpec{Host: &h1}), &types.VMotionNotSupported{})
	local := f.datastore("LocalDS_0")
	vmFault(t, f.relocate(vm, types.VirtualMachineRelocateSpec{Datastore: &local}), &types.MigrationFeatureNotSupported{})
	got := f.vm(vm)
	if got.Runtime.PowerState != "poweredOn" || got.Runtime.Host.Value != f.h0.Value || !got.Runtime.BootTime.Equal(*before) {
		t.Errorf("a refused live move touched the VM: %s on %v, booted %v (was %v)", got.Runtime.PowerState, got.Runtime.Host, got.Runtime.BootTime, before)
	}
	// A folder move needs no host change and works while it runs.
	folder, err := object.NewFolder(f.c, f.dc.VmFolder).CreateFolder(f.ctx, "apps")
	f.must(err)
	ref := folder.Reference()
	f.must(f.relocate(vm, types.VirtualMachineRelocateSpec{Folder: &ref}))
	if got := f.vm(vm); got.Parent.Value != ref.Value || got.Runtime.PowerState != "poweredOn" {
		t.Errorf("after the folder move: parent %v, %s", got.Parent, got.Runtime.PowerState)
	}
}

// register runs RegisterVM_Task in the datacenter's VM folder.
func (f *vmFx) register(path string, asTemplate bool, pool, host *types.ManagedObjectReference) (*object.VirtualMachine, error) {
	var p *object.ResourcePool
	var h *object.HostSystem
	if pool != nil {
		p = object.NewResourcePool(f.c, *pool)
	}
	if host != nil {
		h = object.NewHostSystem(f.c, *host)
	}
	task, err := object.NewFolder(f.c, f.dc.VmFolder).RegisterVM(f.ctx, path, "", asTemplate, p, h)
	if err != nil {
		return nil, err
	}
	res, err := task.WaitForResult(f.ctx)
	if err != nil {
		return nil, err
	}
	return object.NewVirtualMachine(f.c, res.Result.(types.ManagedObjectReference)), nil
}

func TestRegisterVM(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(provisionSpec("web", "LocalDS_0"))
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{NumCPUs: 2, MemoryMB: 512, Annotation: "keep me",
		ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "guestinfo.role", Value: "web"}}}))
	before := f.vm(vm)
	f.must(vm.Unregister(f.ctx))

	pool := f.pool
	got, err := f.register(before.Config.Files.VmPathName, false, &pool, nil)
	f.must(err)
	after := f.vm(got)
	switch {
	case after.Name != "web" || after.Config.Uuid != before.Config.Uuid || after.Config.InstanceUuid != before.Config.InstanceUuid:
		t.Errorf("registered %q uuid %s/%s, want web with %s/%s", after.Name, after.Config.Uuid, after.Config.InstanceUuid,
			before.Config.Uuid, before.Config.InstanceUuid)
	case after.Config.Hardware.NumCPU != 2 || after.Config.Hardware.MemoryMB != 512 || after.Config.Annotation != "keep me":
		t.Errorf("registered hardware %d CPU %d MB %q", after.Config.Hardware.NumCPU, after.Config.Hardware.MemoryMB, after.Config.Annotation)
	}
	if b, a := devicesSummary(before.Config.Hardware.Device), devicesSummary(after.Config.Hardware.Device); b != a {
		t.Errorf("devices differ after re-registration:\nbefore %s\nafter  %s", b, a)
	}
	if !hasOptionValue(after.Config.ExtraConfig, "guestinfo.role", "web") {
		t.Errorf("extraConfig lost guestinfo.role")
	}
	if evs := f.vmEvents(got.Reference(), "VmRegisteredEvent"); len(evs) != 1 {
		t.Errorf("VmRegisteredEvent: %v", evs)
	}

	_, err = f.register(before.Config.Files.VmPathName, false, &pool, nil)
	vmFault(t, err, &types.AlreadyExists{})
	_, err = f.register("[LocalDS_0] nothing/nothing.vmx", false, &pool, nil)
	vmFault(t, err, &types.NotFound{})
	_, err = f.register(before.Config.Files.VmPathName, false, nil, nil)
	vmFault(t, err, &types.InvalidArgument{})
	_, err = f.register(before.Config.Files.VmPathName, true, &pool, &f.h0)
	vmFault(t, err, &types.InvalidArgument{})

	f.must(got.Unregister(f.ctx))
	tmpl, err := f.register(before.Config.Files.VmPathName, true, nil, &f.h0)
	f.must(err)
	if g := f.vm(tmpl); !g.Config.Template || g.ResourcePool != nil {
		t.Errorf("registered as template: template %v, pool %v", g.Config.Template, g.ResourcePool)
	}
}

// devicesSummary lists devices by key, label, file and MAC address.
func devicesSummary(devs []types.BaseVirtualDevice) string {
	var parts []string
	for _, d := range devs {
		v := d.GetVirtualDevice()
		p := v.DeviceInfo.GetDescription().Label
		if fb, ok := v.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			p += " " + fb.GetVirtualDeviceFileBackingInfo().FileName
		}
		if disk, ok := d.(*types.VirtualDisk); ok {
			p += " " + strings.Repeat("#", int(disk.CapacityInKB/1024))
			p += " " + disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Uuid
		}
		if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
			p += " " + nic.GetVirtualEthernetCard().MacAddress + " " + nic.GetVirtualEthernetCard().AddressType
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func hasOptionValue(opts []types.BaseOptionValue, key, val string) bool {
	for _, o := range opts {
		if ov := o.GetOptionValue(); ov.Key == key && ov.Value == val {
			return true
		}
	}
	return false
}

// TestRegisterCopiedVM registers a copy of a VM's directory (an array
// clone) next to the original: the copy gets its own instance UUID and
// MAC addresses, and its disks are the copied files.
func TestRegisterCopiedVM(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(provisionSpec("orig", "LocalDS_0"))
	f.writeDisk(vm, "orig-data")
	orig := f.vm(vm)
	src, dst := f.dsFile("[LocalDS_0] orig"), f.dsFile("[LocalDS_0] copy")
	f.must(os.MkdirAll(dst, 0o755))
	entries, err := os.ReadDir(src)
	f.must(err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		f.must(err)
		f.must(os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	task, err := object.NewFolder(f.c, f.dc.VmFolder).RegisterVM(f.ctx, "[LocalDS_0] copy/orig.vmx", "", false, object.NewResourcePool(f.c, f.pool), nil)
	f.must(err)
	vmFault(t, task.Wait(f.ctx), &types.DuplicateName{}) // same displayName in the same folder
	task, err = object.NewFolder(f.c, f.dc.VmFolder).RegisterVM(f.ctx, "[LocalDS_0] copy/orig.vmx", "copy", false, object.NewResourcePool(f.c, f.pool), nil)
	f.must(err)
	res, err := task.WaitForResult(f.ctx)
	f.must(err)
	cp := object.NewVirtualMachine(f.c, res.Result.(types.ManagedObjectReference))
	got := f.vm(cp)
	if got.Config.InstanceUuid == orig.Config.InstanceUuid {
		t.Errorf("the copy kept the original's instance UUID")
	}
	disk := diskFile(f.devices(cp).SelectByType((*types.VirtualDisk)(nil))[0])
	if disk != "[LocalDS_0] copy/orig.vmdk" || !f.hasMarker(disk, "orig-data") {
		t.Errorf("the copy's disk is %q, want its own copied file", disk)
	}
	m0 := f.devices(vm).SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress
	m1 := f.devices(cp).SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress
	if m0 == m1 {
		t.Errorf("the copy kept the original's vCenter-assigned MAC address %s", m0)
	}
}
