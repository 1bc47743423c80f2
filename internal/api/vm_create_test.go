package api_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
)

func TestCreateVMFillsTheVMAsVCenter(t *testing.T) {
	f := newVMFx(t)
	spec := vmSpec("web01",
		add(lsiLogic(-100)),
		addFile(newDisk(-100, 1<<20, "")),
		add(newNIC[types.VirtualVmxnet3]("VM Network")),
	)
	spec.NumCPUs, spec.MemoryMB = 2, 2048
	vm := f.create(spec)
	o := f.vm(vm)

	c := o.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", o.Name, "web01"},
		{"vmPathName", c.Files.VmPathName, "[LocalDS_0] web01/web01.vmx"},
		{"logDirectory", c.Files.LogDirectory, "[LocalDS_0] web01/"},
		{"version", c.Version, "vmx-21"},
		{"template", c.Template, false},
		{"swapPlacement", c.SwapPlacement, "inherit"},
		{"guestFullName", c.GuestFullName, "Other (64-bit)"},
		{"numCPU", c.Hardware.NumCPU, int32(2)},
		{"memoryMB", c.Hardware.MemoryMB, int32(2048)},
		{"cpu shares", c.CpuAllocation.Shares.Shares, int32(2000)},
		{"memory limit", *c.MemoryAllocation.Limit, int64(-1)},
		{"uuid prefix", c.Uuid[:2], "42"},
		{"instanceUuid prefix", c.InstanceUuid[:2], "50"},
		{"powerState", o.Runtime.PowerState, types.VirtualMachinePowerStatePoweredOff},
		{"summary powerState", o.Summary.Runtime.PowerState, types.VirtualMachinePowerStatePoweredOff},
		{"connectionState", o.Runtime.ConnectionState, types.VirtualMachineConnectionStateConnected},
		{"host", o.Runtime.Host.Value, f.h0.Value},
		{"summary vmPathName", o.Summary.Config.VmPathName, c.Files.VmPathName},
		{"summary numCpu", o.Summary.Config.NumCpu, int32(2)},
		{"summary memory", o.Summary.Config.MemorySizeMB, int32(2048)},
		{"summary nics", o.Summary.Config.NumEthernetCards, int32(1)},
		{"summary disks", o.Summary.Config.NumVirtualDisks, int32(1)},
		{"summary uuid", o.Summary.Config.Uuid, c.Uuid},
		{"summary template", o.Summary.Config.Template, false},
		{"overallStatus", o.Summary.OverallStatus, types.ManagedEntityStatusGreen},
		{"toolsStatus", o.Guest.ToolsStatus, types.VirtualMachineToolsStatusToolsNotInstalled},
		{"heartbeat", o.GuestHeartbeatStatus, types.ManagedEntityStatusGray},
		{"pool", o.ResourcePool.Value, f.pool.Value},
		{"parent", o.Parent.Value, f.dc.VmFolder.Value},
		{"datastores", len(o.Datastore), 1},
		{"networks", len(o.Network), 1},
		{"storage committed", o.Summary.Storage.Uncommitted, int64(1 << 30)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if c.ChangeVersion == "" || c.CreateDate == nil {
		t.Errorf("changeVersion %q, createDate %v: want both set", c.ChangeVersion, c.CreateDate)
	}

	devices := object.VirtualDeviceList(c.Hardware.Device)
	for _, key := range []int32{100, 200, 201, 300, 400, 500, 600, 700, 12000} {
		if devices.FindByKey(key) == nil {
			t.Errorf("default device %d missing", key)
		}
	}
	ctrl := devices.FindByKey(1000).(*types.VirtualLsiLogicController)
	disk := devices.FindByKey(2000).(*types.VirtualDisk)
	nic := devices.FindByKey(4000).(*types.VirtualVmxnet3)
	if ctrl.BusNumber != 0 || len(ctrl.Device) != 1 || ctrl.Device[0] != 2000 {
		t.Errorf("controller bus %d devices %v, want bus 0 with [2000]", ctrl.BusNumber, ctrl.Device)
	}
	if *disk.UnitNumber != 0 || disk.ControllerKey != 1000 || disk.CapacityInBytes != 1<<30 || disk.CapacityInKB != 1<<20 {
		t.Errorf("disk unit %d controller %d capacity %d/%d KB", *disk.UnitNumber, disk.ControllerKey, disk.CapacityInBytes, disk.CapacityInKB)
	}
	if got := diskFile(disk); got != "[LocalDS_0] web01/web01.vmdk" {
		t.Errorf("disk file %q", got)
	}
	if disk.DeviceInfo.GetDescription().Label != "Hard disk 1" || disk.DeviceInfo.GetDescription().Summary != "1,048,576 KB" {
		t.Errorf("disk info %+v", disk.DeviceInfo.GetDescription())
	}
	if !strings.HasPrefix(nic.MacAddress, "00:50:56:") || nic.AddressType != "assigned" || *nic.UnitNumber != 7 || nic.ControllerKey != 100 {
		t.Errorf("nic mac %q type %q unit %d controller %d", nic.MacAddress, nic.AddressType, *nic.UnitNumber, nic.ControllerKey)
	}
	if nic.Connectable == nil || nic.Connectable.Connected || !nic.Connectable.StartConnected {
		t.Errorf("nic connectable %+v, want startConnected, not connected", nic.Connectable)
	}

	// The VM is in every list it belongs to.
	reg := f.svc.Registry()
	lists := map[string][]types.ManagedObjectReference{
		"folder":    inventory.Get[mo.Folder](reg, f.dc.VmFolder).ChildEntity,
		"host":      inventory.Get[mo.HostSystem](reg, f.h0).Vm,
		"pool":      inventory.Get[mo.ResourcePool](reg, f.pool).Vm,
		"datastore": inventory.Get[mo.Datastore](reg, o.Datastore[0]).Vm,
		"network":   inventory.Get[mo.Network](reg, o.Network[0]).Vm,
	}
	for name, l := range lists {
		if !refIn(l, vm.Reference()) {
			t.Errorf("%s list %v lacks %s", name, l, vm.Reference())
		}
	}

	// The disk file exists on the host's datastore.
	p := filepath.Join(f.dsDir("LocalDS_0"), "web01", "web01.vmdk")
	if st, err := os.Stat(p); err != nil || st.Size() != 1<<30 {
		t.Errorf("disk file %s: %v", p, err)
	}

	evs := f.vmEvents(vm.Reference(), "VmBeingCreatedEvent", "VmCreatedEvent")
	if len(evs) != 2 {
		t.Fatalf("events %d, want VmBeingCreatedEvent and VmCreatedEvent", len(evs))
	}
	if msg := evs[1].GetEvent().FullFormattedMessage; msg != "Created virtual machine web01 on h0 in DC0" {
		t.Errorf("VmCreatedEvent message %q", msg)
	}
	if evs[0].GetEvent().ChainId != evs[1].GetEvent().ChainId {
		t.Errorf("events have chains %d and %d, want the task's", evs[0].GetEvent().ChainId, evs[1].GetEvent().ChainId)
	}
}

func refIn(l []types.ManagedObjectReference, r types.ManagedObjectReference) bool {
	for _, x := range l {
		if x.Value == r.Value {
			return true
		}
	}
	return false
}

func TestCreateVMFaults(t *testing.T) {
	f := newVMFx(t)
	f.create(vmSpec("taken"))
	otherPool := *inventory.Get[mo.ClusterComputeResource](f.svc.Registry(), f.otherCR).ResourcePool

	tests := []struct {
		name   string
		spec   func(*types.VirtualMachineConfigSpec)
		folder types.ManagedObjectReference
		pool   types.ManagedObjectReference
		host   *types.ManagedObjectReference
		want   types.BaseMethodFault
	}{
		{name: "no name", spec: func(s *types.VirtualMachineConfigSpec) { s.Name = "" }, want: &types.InvalidVmConfig{}},
		{name: "duplicate name", spec: func(s *types.VirtualMachineConfigSpec) { s.Name = "taken" }, want: &types.DuplicateName{}},
		{name: "no vmPathName", spec: func(s *types.VirtualMachineConfigSpec) { s.Files = nil }, want: &types.InvalidVmConfig{}},
		{name: "bad vmPathName", spec: func(s *types.VirtualMachineConfigSpec) { s.Files.VmPathName = "LocalDS_0" }, want: &types.InvalidDatastorePath{}},
		{name: "unknown datastore", spec: func(s *types.VirtualMachineConfigSpec) { s.Files.VmPathName = "[nope]" }, want: &types.InvalidDatastorePath{}},
		{name: "datastore not on host", spec: func(s *types.VirtualMachineConfigSpec) { s.Files.VmPathName = "[LocalDS_1]" }, host: &f.h0, want: &types.InvalidDatastore{}},
		{name: "host folder", folder: f.dc.HostFolder, want: &types.NotSupported{}},
		{name: "pool of another datacenter", pool: otherPool, want: &types.InvalidArgument{}},
		{name: "host outside the pool's cluster", host: &f.otherHst, want: &types.InvalidArgument{}},
		{name: "memory not a multiple of 4", spec: func(s *types.VirtualMachineConfigSpec) { s.MemoryMB = 1022 }, want: &types.InvalidArgument{}},
		{name: "cores do not divide CPUs", spec: func(s *types.VirtualMachineConfigSpec) { s.NumCPUs, s.NumCoresPerSocket = 3, 2 }, want: &types.InvalidArgument{}},
		{name: "disk on a missing controller", spec: func(s *types.VirtualMachineConfigSpec) {
			s.DeviceChange = append(s.DeviceChange, addFile(newDisk(1000, 1024, "")))
		}, want: &types.InvalidDeviceSpec{}},
		{name: "new disk without capacity", spec: func(s *types.VirtualMachineConfigSpec) {
			s.DeviceChange = append(s.DeviceChange, add(lsiLogic(-1)), addFile(newDisk(-1, 0, "")))
		}, want: &types.InvalidDeviceSpec{}},
		{name: "unknown network", spec: func(s *types.VirtualMachineConfigSpec) {
			s.DeviceChange = append(s.DeviceChange, add(newNIC[types.VirtualE1000]("nope")))
		}, want: &types.InvalidDeviceBacking{}},
		{name: "bad uuid", spec: func(s *types.VirtualMachineConfigSpec) { s.Uuid = "not-a-uuid" }, want: &types.InvalidArgument{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := vmSpec("new")
			if tc.spec != nil {
				tc.spec(&spec)
			}
			folder, pool := f.dc.VmFolder, f.pool
			if tc.folder.Value != "" {
				folder = tc.folder
			}
			if tc.pool.Value != "" {
				pool = tc.pool
			}
			var h *object.HostSystem
			if tc.host != nil {
				h = object.NewHostSystem(f.c, *tc.host)
			}
			task, err := object.NewFolder(f.c, folder).CreateVM(f.ctx, spec, object.NewResourcePool(f.c, pool), h)
			if err == nil {
				err = task.Wait(f.ctx)
			}
			vmFault(t, err, tc.want)
		})
	}
	// Nothing was left behind by the failures.
	if n := len(inventory.Get[mo.Folder](f.svc.Registry(), f.dc.VmFolder).ChildEntity); n != 1 {
		t.Errorf("VM folder has %d children, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(f.dsDir("LocalDS_0"), "new")); !os.IsNotExist(err) {
		t.Errorf("directory of a failed VM exists: %v", err)
	}
}

func TestCreateVMPlacement(t *testing.T) {
	f := newVMFx(t)
	// Without a host, a host mounting the datastore is chosen.
	spec := vmSpec("on-ds1")
	spec.Files.VmPathName = "[LocalDS_1]"
	ref, err := f.createErr(spec, nil)
	f.must(err)
	if h := inventory.Get[mo.VirtualMachine](f.svc.Registry(), ref).Runtime.Host; h.Value != f.h1.Value {
		t.Errorf("VM on LocalDS_1 placed on %s, want h1 (%s)", h.Value, f.h1.Value)
	}

	// The same name in another folder gets its own directory.
	sub, err := f.svc.CreateFolder(f.ctx, "admin", f.dc.VmFolder, "sub")
	f.must(err)
	f.create(vmSpec("twin"))
	task, err := object.NewFolder(f.c, sub).CreateVM(f.ctx, vmSpec("twin"), object.NewResourcePool(f.c, f.pool), nil)
	f.must(err)
	res, err := task.WaitForResult(f.ctx)
	f.must(err)
	got := inventory.Get[mo.VirtualMachine](f.svc.Registry(), res.Result.(types.ManagedObjectReference)).Config.Files.VmPathName
	if got != "[LocalDS_0] twin_1/twin.vmx" {
		t.Errorf("second twin's vmPathName %q, want [LocalDS_0] twin_1/twin.vmx", got)
	}

	// Names are escaped as vCenter stores them.
	vm := f.create(vmSpec("a/b%c"))
	if name := f.vm(vm).Name; name != "a%2fb%25c" {
		t.Errorf("name %q, want a%%2fb%%25c", name)
	}
}
