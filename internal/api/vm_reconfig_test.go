package api_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestReconfigCPUAndMemory(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("r1"))
	bad := []struct {
		name string
		spec types.VirtualMachineConfigSpec
	}{
		{"memory below 4 MB", types.VirtualMachineConfigSpec{MemoryMB: 2}},
		{"memory not a multiple of 4", types.VirtualMachineConfigSpec{MemoryMB: 1026}},
		{"too many CPUs", types.VirtualMachineConfigSpec{NumCPUs: 1000}},
		{"cores do not divide CPUs", types.VirtualMachineConfigSpec{NumCPUs: 6, NumCoresPerSocket: 4}},
		{"bad latency level", types.VirtualMachineConfigSpec{LatencySensitivity: &types.LatencySensitivity{Level: "fail"}}},
		{"stale changeVersion", types.VirtualMachineConfigSpec{ChangeVersion: "2000-01-01T00:00:00.000000Z", MemoryMB: 64}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := f.reconfig(vm, tc.spec)
			if tc.spec.ChangeVersion != "" {
				vmFault(t, err, &types.ConcurrentAccess{})
				return
			}
			vmFault(t, err, &types.InvalidArgument{})
		})
	}

	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{
		NumCPUs: 4, NumCoresPerSocket: 2, MemoryMB: 1024, Annotation: "note", GuestId: "ubuntu64Guest",
		ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "guestinfo.a", Value: "1"}},
	}))
	o := f.vm(vm)
	if o.Config.Hardware.NumCPU != 4 || o.Config.Hardware.NumCoresPerSocket != 2 || o.Config.Hardware.MemoryMB != 1024 ||
		o.Summary.Config.NumCpu != 4 || o.Summary.Config.MemorySizeMB != 1024 || o.Config.CpuAllocation.Shares.Shares != 4000 {
		t.Errorf("hardware %+v summary cpu %d mem %d", o.Config.Hardware, o.Summary.Config.NumCpu, o.Summary.Config.MemorySizeMB)
	}
	if o.Config.Annotation != "note" || o.Summary.Config.GuestFullName != "Ubuntu Linux (64-bit)" {
		t.Errorf("annotation %q guest %q", o.Config.Annotation, o.Summary.Config.GuestFullName)
	}
	if !hasOption(o.Config.ExtraConfig, "guestinfo.a") {
		t.Errorf("extraConfig lacks guestinfo.a")
	}
	// An empty value removes the key.
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "guestinfo.a", Value: ""}}}))
	if hasOption(f.vm(vm).Config.ExtraConfig, "guestinfo.a") {
		t.Errorf("guestinfo.a still set after an empty value")
	}
	if n := len(f.vmEvents(vm.Reference(), "VmReconfiguredEvent")); n != 2 {
		t.Errorf("%d VmReconfiguredEvents, want 2", n)
	}
}

func hasOption(opts []types.BaseOptionValue, key string) bool {
	for _, o := range opts {
		if o.GetOptionValue().Key == key {
			return true
		}
	}
	return false
}

func TestReconfigHotPlugRules(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("hot"))
	f.must(f.wait(vm.PowerOn(f.ctx)))
	refused := []types.VirtualMachineConfigSpec{
		{MemoryMB: 64},
		{NumCPUs: 2},
		{NumCoresPerSocket: 1, NumCPUs: 1, MemoryHotAddEnabled: types.NewBool(true)},
	}
	for i, spec := range refused {
		ips := vmFault(t, f.reconfig(vm, spec), &types.InvalidPowerState{}).(*types.InvalidPowerState)
		if ips.ExistingState != types.VirtualMachinePowerStatePoweredOn {
			t.Errorf("spec %d: existingState %s", i, ips.ExistingState)
		}
	}
	f.must(f.wait(vm.PowerOff(f.ctx)))
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{MemoryHotAddEnabled: types.NewBool(true), CpuHotAddEnabled: types.NewBool(true)}))
	f.must(f.wait(vm.PowerOn(f.ctx)))
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{MemoryMB: 128, NumCPUs: 2}))
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{MemoryMB: 64}), &types.InvalidPowerState{})
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{NumCPUs: 1}), &types.InvalidPowerState{})
	if o := f.vm(vm); o.Config.Hardware.MemoryMB != 128 || o.Config.Hardware.NumCPU != 2 {
		t.Errorf("after hot add: %d MB, %d CPUs", o.Config.Hardware.MemoryMB, o.Config.Hardware.NumCPU)
	}
}

func TestDeviceKeysAndUnits(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("dev"))

	// Nine disks on a new controller: units 0-6 then 8-9 (7 is the
	// controller's own), keys by bus and unit, files named after the VM.
	changes := []types.BaseVirtualDeviceConfigSpec{add(lsiLogic(-10))}
	for range 9 {
		changes = append(changes, addFile(newDisk(-10, 1024, "")))
	}
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: changes}))
	l := f.devices(vm)
	ctrl := l.FindByKey(1000).(*types.VirtualLsiLogicController)
	wantKeys := []int32{2000, 2001, 2002, 2003, 2004, 2005, 2006, 2008, 2009}
	if len(ctrl.Device) != len(wantKeys) {
		t.Fatalf("controller devices %v, want %v", ctrl.Device, wantKeys)
	}
	for i, k := range wantKeys {
		d := l.FindByKey(k)
		if d == nil || ctrl.Device[i] != k {
			t.Fatalf("disk %d: key %d missing (controller lists %v)", i, k, ctrl.Device)
		}
		wantUnit := int32(i)
		if i >= 7 {
			wantUnit++
		}
		if u := *d.GetVirtualDevice().UnitNumber; u != wantUnit {
			t.Errorf("disk %d unit %d, want %d", k, u, wantUnit)
		}
	}
	if got := diskFile(l.FindByKey(2000)); got != "[LocalDS_0] dev/dev.vmdk" {
		t.Errorf("first disk %q", got)
	}
	if got := diskFile(l.FindByKey(2001)); got != "[LocalDS_0] dev/dev_1.vmdk" {
		t.Errorf("second disk %q", got)
	}

	// A second controller takes bus 1; its first disk is 2016.
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		addFile(newDisk(-20, 2048, "[shared]")), add(&types.ParaVirtualSCSIController{VirtualSCSIController: types.VirtualSCSIController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: -20}}}}),
	}}))
	l = f.devices(vm)
	pv, ok := l.FindByKey(1001).(*types.ParaVirtualSCSIController)
	if !ok || pv.BusNumber != 1 || pv.DeviceInfo.GetDescription().Label != "SCSI controller 1" {
		t.Fatalf("second controller %+v", l.FindByKey(1001))
	}
	d := l.FindByKey(2016)
	if d == nil || diskFile(d) != "[shared] dev/dev.vmdk" {
		t.Fatalf("disk on bus 1: %v", d)
	}

	// CD-ROMs go on IDE: 3000, 3001, then 3002 and 3003 on IDE 1.
	for range 4 {
		cd := &types.VirtualCdrom{}
		cd.Key = -1
		cd.Backing = &types.VirtualCdromIsoBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: "[LocalDS_0] iso/x.iso"}}
		f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{add(cd)}}))
	}
	l = f.devices(vm)
	for key, ctl := range map[int32]int32{3000: 200, 3001: 200, 3002: 201, 3003: 201} {
		cd, ok := l.FindByKey(key).(*types.VirtualCdrom)
		if !ok || cd.ControllerKey != ctl {
			t.Errorf("cdrom %d: %v", key, l.FindByKey(key))
			continue
		}
		if s := cd.DeviceInfo.GetDescription().Summary; s != "ISO [LocalDS_0] iso/x.iso" {
			t.Errorf("cdrom %d summary %q", key, s)
		}
	}
	// The IDE controllers are full now.
	cd := &types.VirtualCdrom{}
	cd.Backing = &types.VirtualCdromRemotePassthroughBackingInfo{}
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{add(cd)}}), &types.InvalidDeviceSpec{})

	o := f.vm(vm)
	if o.Summary.Config.NumVirtualDisks != 10 || len(o.Datastore) != 2 || len(o.LayoutEx.Disk) != 10 {
		t.Errorf("summary disks %d, datastores %v, layoutEx disks %d", o.Summary.Config.NumVirtualDisks, o.Datastore, len(o.LayoutEx.Disk))
	}
}

func TestDeviceEditAndRemove(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("ed", add(lsiLogic(-1)), addFile(newDisk(-1, 1024, "")), addFile(newDisk(-1, 1024, ""))))
	l := f.devices(vm)
	disk := l.FindByKey(2000).(*types.VirtualDisk)

	grow := *disk
	grow.CapacityInKB = 4096
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{edit(&grow)}}))
	if got := f.devices(vm).FindByKey(2000).(*types.VirtualDisk); got.CapacityInBytes != 4096*1024 || got.DeviceInfo.GetDescription().Summary != "4,096 KB" {
		t.Errorf("grown disk: %d bytes, summary %q", got.CapacityInBytes, got.DeviceInfo.GetDescription().Summary)
	}
	shrink := *f.devices(vm).FindByKey(2000).(*types.VirtualDisk)
	shrink.CapacityInKB, shrink.CapacityInBytes = 512, 0
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{edit(&shrink)}}), &types.InvalidDeviceOperation{})

	missing := &types.VirtualDisk{}
	missing.Key = 2999
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{remove(missing, false)}}), &types.InvalidDeviceSpec{})
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{remove(l.FindByKey(1000), false)}}), &types.InvalidDeviceSpec{})
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{remove(l.FindByKey(100), false)}}), &types.InvalidDeviceSpec{})

	// Removing with destroy deletes the file; keeping it leaves the file.
	root := filepath.Join(f.dsDir("LocalDS_0"), "ed")
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		remove(l.FindByKey(2000), true), remove(l.FindByKey(2001), false),
	}}))
	if _, err := os.Stat(filepath.Join(root, "ed.vmdk")); !os.IsNotExist(err) {
		t.Errorf("destroyed disk file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "ed_1.vmdk")); err != nil {
		t.Errorf("kept disk file gone: %v", err)
	}
	l = f.devices(vm)
	if ctrl := l.FindByKey(1000).(*types.VirtualLsiLogicController); len(ctrl.Device) != 0 {
		t.Errorf("controller still lists %v", ctrl.Device)
	}
	// With its disks gone, the controller can go.
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{remove(l.FindByKey(1000), false)}}))
	if o := f.vm(vm); o.Summary.Config.NumVirtualDisks != 0 || len(o.LayoutEx.Disk) != 0 {
		t.Errorf("summary disks %d, layoutEx disks %d", o.Summary.Config.NumVirtualDisks, len(o.LayoutEx.Disk))
	}
}

func TestNICMACsAndNetworks(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("nic"))
	manual := newNIC[types.VirtualE1000e]("VM Network")
	manual.AddressType = string(types.VirtualEthernetCardMacTypeManual)
	manual.MacAddress = "00:50:56:3F:00:01"
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		add(newNIC[types.VirtualVmxnet3]("VM Network")), add(newNIC[types.VirtualE1000]("VM Network")), add(manual),
	}}))
	l := f.devices(vm).SelectByType((*types.VirtualEthernetCard)(nil))
	if len(l) != 3 {
		t.Fatalf("%d NICs", len(l))
	}
	seen := map[string]bool{}
	for i, d := range l {
		c := d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		if c.Key != int32(4000+i) || *c.UnitNumber != int32(7+i) {
			t.Errorf("NIC %d: key %d unit %d", i, c.Key, *c.UnitNumber)
		}
		if seen[c.MacAddress] {
			t.Errorf("MAC %s given twice", c.MacAddress)
		}
		seen[c.MacAddress] = true
		if want := "Network adapter " + string(rune('1'+i)); c.DeviceInfo.GetDescription().Label != want {
			t.Errorf("NIC %d label %q, want %q", i, c.DeviceInfo.GetDescription().Label, want)
		}
	}
	if c := l[2].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard(); c.MacAddress != "00:50:56:3f:00:01" || c.AddressType != "manual" {
		t.Errorf("manual MAC %q type %q", c.MacAddress, c.AddressType)
	}
	for _, d := range l[:2] {
		c := d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		if c.AddressType != "assigned" || c.MacAddress[:10] != "00:50:56:8" && c.MacAddress[:10] != "00:50:56:9" &&
			c.MacAddress[:10] != "00:50:56:a" && c.MacAddress[:10] != "00:50:56:b" {
			t.Errorf("assigned MAC %q type %q, want 00:50:56:80-bf", c.MacAddress, c.AddressType)
		}
	}
	// An edit keeps the MAC.
	keep := *l[0].(*types.VirtualVmxnet3)
	keep.MacAddress = ""
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{edit(&keep)}}))
	if got := f.devices(vm).FindByKey(4000).(*types.VirtualVmxnet3).MacAddress; got != l[0].(*types.VirtualVmxnet3).MacAddress {
		t.Errorf("edit changed MAC to %s", got)
	}

	net := f.vm(vm).Network
	if len(net) != 1 {
		t.Fatalf("networks %v", net)
	}
	var removes []types.BaseVirtualDeviceConfigSpec
	for _, d := range l {
		removes = append(removes, remove(d, false))
	}
	f.must(f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: removes}))
	if o := f.vm(vm); len(o.Network) != 0 || o.Summary.Config.NumEthernetCards != 0 {
		t.Errorf("after removing NICs: networks %v, summary %d", o.Network, o.Summary.Config.NumEthernetCards)
	}
	var n mo.Network
	f.must(object.NewCommon(f.c, net[0]).Properties(f.ctx, net[0], []string{"vm"}, &n))
	if refIn(n.Vm, vm.Reference()) {
		t.Errorf("network still lists the VM")
	}
}

func TestDistributedPortAndSATADevices(t *testing.T) {
	f := newVMFx(t)
	dvs, err := f.svc.CreateDVS(f.ctx, "admin", f.dc.NetworkFolder, types.DVSCreateSpec{
		ConfigSpec: &types.VMwareDVSConfigSpec{DVSConfigSpec: types.DVSConfigSpec{
			Name: "DVS0",
			Host: []types.DistributedVirtualSwitchHostMemberConfigSpec{{Operation: "add", Host: f.h0}},
		}},
	})
	f.must(err)
	pgs, err := f.svc.AddDVPortgroups(f.ctx, "admin", dvs, []types.DVPortgroupConfigSpec{{Name: "PG0", Type: "earlyBinding", NumPorts: 8}})
	f.must(err)
	var sw mo.VmwareDistributedVirtualSwitch
	f.must(object.NewCommon(f.c, dvs).Properties(f.ctx, dvs, []string{"uuid"}, &sw))
	var pg mo.DistributedVirtualPortgroup
	f.must(object.NewCommon(f.c, pgs[0]).Properties(f.ctx, pgs[0], []string{"key"}, &pg))

	nic := &types.VirtualVmxnet3{}
	nic.Key = -1
	nic.Backing = &types.VirtualEthernetCardDistributedVirtualPortBackingInfo{
		Port: types.DistributedVirtualSwitchPortConnection{SwitchUuid: sw.Uuid, PortgroupKey: pg.Key},
	}
	ahci := &types.VirtualAHCIController{}
	ahci.Key = -5
	cd := &types.VirtualCdrom{}
	cd.Key, cd.ControllerKey = -6, -5
	cd.Backing = &types.VirtualCdromRemotePassthroughBackingInfo{}
	vm := f.create(vmSpec("dv", add(nic), add(cd), add(ahci)))

	o := f.vm(vm)
	l := object.VirtualDeviceList(o.Config.Hardware.Device)
	got := l.FindByKey(4000)
	if got == nil || got.GetVirtualDevice().DeviceInfo.GetDescription().Summary != "DVSwitch: "+sw.Uuid {
		t.Errorf("DV port NIC: %v", got)
	}
	if len(o.Network) != 1 || o.Network[0].Value != pgs[0].Value {
		t.Errorf("networks %v, want the port group %v", o.Network, pgs[0])
	}
	f.must(object.NewCommon(f.c, pgs[0]).Properties(f.ctx, pgs[0], []string{"vm"}, &pg))
	if !refIn(pg.Vm, vm.Reference()) {
		t.Errorf("port group's vm list %v lacks the VM", pg.Vm)
	}
	sata, ok := l.FindByKey(15000).(*types.VirtualAHCIController)
	if !ok || sata.DeviceInfo.GetDescription().Label != "SATA controller 0" {
		t.Fatalf("SATA controller: %v", l.FindByKey(15000))
	}
	c, ok := l.FindByKey(16000).(*types.VirtualCdrom)
	if !ok || c.ControllerKey != 15000 || *c.UnitNumber != 0 || c.DeviceInfo.GetDescription().Summary != "Remote device" {
		t.Errorf("SATA CD-ROM: %v", l.FindByKey(16000))
	}
	if len(sata.Device) != 1 || sata.Device[0] != 16000 {
		t.Errorf("SATA controller devices %v", sata.Device)
	}
	// A disk cannot attach to the PCI bus.
	vmFault(t, f.reconfig(vm, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{addFile(newDisk(100, 1024, ""))}}), &types.InvalidDeviceSpec{})
}
