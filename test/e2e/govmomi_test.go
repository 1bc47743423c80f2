package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The tests in this file drive the shared demo server with the govmomi
// client library.

// testContext returns a context that ends with t (bounded, so a hung server
// fails the test instead of the whole run).
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// placement is where the tests create VMs in the demo inventory.
type placement struct {
	dc      *object.Datacenter
	folders *object.DatacenterFolders
	host    *object.HostSystem
	pool    *object.ResourcePool
	ds      *object.Datastore
	network object.NetworkReference
}

func demoPlacement(ctx context.Context, t *testing.T, c *govmomi.Client) *placement {
	t.Helper()
	f := find.NewFinder(c.Client)
	p := &placement{}
	var err error
	if p.dc, err = f.Datacenter(ctx, demoDC); err != nil {
		t.Fatalf("find datacenter: %v", err)
	}
	f.SetDatacenter(p.dc)
	if p.folders, err = p.dc.Folders(ctx); err != nil {
		t.Fatalf("datacenter folders: %v", err)
	}
	if p.host, err = f.HostSystem(ctx, demoHost); err != nil {
		t.Fatalf("find host: %v", err)
	}
	if p.pool, err = p.host.ResourcePool(ctx); err != nil {
		t.Fatalf("host resource pool: %v", err)
	}
	if p.ds, err = f.Datastore(ctx, demoSharedDS); err != nil {
		t.Fatalf("find datastore: %v", err)
	}
	if p.network, err = f.Network(ctx, demoNetwork); err != nil {
		t.Fatalf("find network: %v", err)
	}
	return p
}

// vmSpec is a VM with a pvscsi controller, a 1 GiB disk and a vmxnet3 NIC.
func (p *placement) vmSpec(ctx context.Context, t *testing.T, name string) types.VirtualMachineConfigSpec {
	t.Helper()
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		t.Fatal(err)
	}
	devices = append(devices, scsi)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), p.ds.Reference(), "")
	disk.CapacityInKB = 1 << 20
	devices = append(devices, disk)
	backing, err := p.network.EthernetCardBackingInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nic, err := devices.CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		t.Fatal(err)
	}
	devices = append(devices, nic)
	change, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		t.Fatal(err)
	}
	return types.VirtualMachineConfigSpec{
		Name:         name,
		GuestId:      string(types.VirtualMachineGuestOsIdentifierOtherGuest64),
		NumCPUs:      1,
		MemoryMB:     256,
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[" + demoSharedDS + "]"},
		DeviceChange: change,
	}
}

// createVM creates a VM with p.vmSpec and returns it with its task's info.
func (p *placement) createVM(ctx context.Context, t *testing.T, c *govmomi.Client, name string) (*object.VirtualMachine, *types.TaskInfo) {
	t.Helper()
	tk, err := p.folders.VmFolder.CreateVM(ctx, p.vmSpec(ctx, t, name), p.pool, p.host)
	if err != nil {
		t.Fatalf("CreateVM_Task: %v", err)
	}
	info, err := tk.WaitForResult(ctx)
	if err != nil {
		t.Fatalf("create VM %s: %v", name, err)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok || ref.Type != "VirtualMachine" {
		t.Fatalf("CreateVM_Task result = %#v, want a VirtualMachine reference", info.Result)
	}
	return object.NewVirtualMachine(c.Client, ref), info
}

// TestGovmomiVMLifecycle creates, reconfigures, powers, renames and destroys
// a VM through the govmomi library and checks the objects and tasks vCenter
// clients rely on.
func TestGovmomiVMLifecycle(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	ctx := testContext(t)
	c := s.client(t)
	p := demoPlacement(ctx, t, c)
	vm, info := p.createVM(ctx, t, c, "e2e-lib-vm")

	t.Run("task info", func(t *testing.T) {
		if info.State != types.TaskInfoStateSuccess || info.Error != nil {
			t.Errorf("task state %s, error %v", info.State, info.Error)
		}
		if r, ok := info.Reason.(*types.TaskReasonUser); !ok || !strings.Contains(strings.ToLower(r.UserName), "administrator") {
			t.Errorf("task reason = %#v, want TaskReasonUser naming the administrator", info.Reason)
		}
		if info.StartTime == nil || info.CompleteTime == nil || info.StartTime.Before(info.QueueTime) || info.CompleteTime.Before(*info.StartTime) {
			t.Errorf("task times queue %v start %v complete %v, want queue <= start <= complete", info.QueueTime, info.StartTime, info.CompleteTime)
		}
		if !strings.HasPrefix(info.Task.Value, "task-") || info.DescriptionId != "Folder.createVm" {
			t.Errorf("task %s descriptionId %q, want task-N and Folder.createVm", info.Task.Value, info.DescriptionId)
		}
	})

	var props mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), nil, &props); err != nil {
		t.Fatalf("retrieve VM: %v", err)
	}
	t.Run("devices", func(t *testing.T) {
		devices := object.VirtualDeviceList(props.Config.Hardware.Device)
		disks := devices.SelectByType((*types.VirtualDisk)(nil))
		if len(disks) != 1 {
			t.Fatalf("%d disks, want 1", len(disks))
		}
		disk := disks[0].(*types.VirtualDisk)
		ctrl := devices.FindByKey(disk.ControllerKey)
		if _, ok := ctrl.(*types.ParaVirtualSCSIController); !ok {
			t.Errorf("disk controller %d is %T, want the pvscsi controller", disk.ControllerKey, ctrl)
		}
		if disk.Key <= 0 || disk.UnitNumber == nil || *disk.UnitNumber != 0 || disk.CapacityInKB != 1<<20 {
			t.Errorf("disk key %d unit %v capacity %d KB, want a positive key, unit 0 and 1 GiB", disk.Key, disk.UnitNumber, disk.CapacityInKB)
		}
		if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); !ok || !strings.HasPrefix(b.FileName, "["+demoSharedDS+"] ") || !strings.HasSuffix(b.FileName, ".vmdk") {
			t.Errorf("disk backing %#v, want a .vmdk on %s", disk.Backing, demoSharedDS)
		}
		nics := devices.SelectByType((*types.VirtualEthernetCard)(nil))
		if len(nics) != 1 {
			t.Fatalf("%d NICs, want 1", len(nics))
		}
		nic := nics[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		if nic.Key <= 0 || nic.MacAddress == "" {
			t.Errorf("NIC key %d MAC %q, want a positive key and an assigned MAC", nic.Key, nic.MacAddress)
		}
		if props.Config.SwapPlacement != "inherit" {
			t.Errorf("config.swapPlacement = %q, want inherit", props.Config.SwapPlacement)
		}
		if props.Runtime.Host == nil || *props.Runtime.Host != p.host.Reference() {
			t.Errorf("runtime.host = %v, want %v", props.Runtime.Host, p.host.Reference())
		}
		if len(props.Datastore) != 1 || props.Datastore[0] != p.ds.Reference() {
			t.Errorf("datastore = %v, want [%v]", props.Datastore, p.ds.Reference())
		}
	})

	t.Run("reconfigure", func(t *testing.T) {
		devices := object.VirtualDeviceList(props.Config.Hardware.Device)
		disk := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
		disk.CapacityInKB = 2 << 20
		spec := types.VirtualMachineConfigSpec{NumCPUs: 2, MemoryMB: 512,
			DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
				Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk}}}
		waitTask(ctx, t, "ReconfigVM_Task", func() (*object.Task, error) { return vm.Reconfigure(ctx, spec) })
		var after mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"config.hardware", "summary.config"}, &after); err != nil {
			t.Fatal(err)
		}
		hw := after.Config.Hardware
		if hw.NumCPU != 2 || hw.MemoryMB != 512 || after.Summary.Config.NumCpu != 2 || after.Summary.Config.MemorySizeMB != 512 {
			t.Errorf("after reconfigure: config %d CPU %d MB, summary %d CPU %d MB; want 2 and 512 everywhere",
				hw.NumCPU, hw.MemoryMB, after.Summary.Config.NumCpu, after.Summary.Config.MemorySizeMB)
		}
		d := object.VirtualDeviceList(hw.Device).FindByKey(disk.Key)
		if d == nil || d.(*types.VirtualDisk).CapacityInKB != 2<<20 {
			t.Errorf("disk %d after growing it to 2 GiB: %#v", disk.Key, d)
		}
	})

	t.Run("power", func(t *testing.T) {
		waitTask(ctx, t, "PowerOnVM_Task", func() (*object.Task, error) { return vm.PowerOn(ctx) })
		var on mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"runtime", "summary.runtime"}, &on); err != nil {
			t.Fatal(err)
		}
		if on.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || on.Summary.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || on.Runtime.BootTime == nil {
			t.Errorf("after power on: runtime %s (bootTime %v), summary %s", on.Runtime.PowerState, on.Runtime.BootTime, on.Summary.Runtime.PowerState)
		}
		tk, err := vm.PowerOn(ctx)
		if err == nil {
			err = tk.Wait(ctx)
		}
		wantFault[*types.InvalidPowerState](t, "PowerOnVM_Task on a powered-on VM", err)
		waitTask(ctx, t, "PowerOffVM_Task", func() (*object.Task, error) { return vm.PowerOff(ctx) })
	})

	t.Run("rename and destroy", func(t *testing.T) {
		waitTask(ctx, t, "Rename_Task", func() (*object.Task, error) { return vm.Rename(ctx, "e2e-lib-vm-2") })
		if name, err := vm.ObjectName(ctx); err != nil || name != "e2e-lib-vm-2" {
			t.Errorf("name after rename = %q, %v", name, err)
		}
		idx := object.NewSearchIndex(c.Client)
		found, err := idx.FindByInventoryPath(ctx, "/Datacenter/vm/e2e-lib-vm-2")
		if err != nil || found == nil || found.Reference() != vm.Reference() {
			t.Errorf("FindByInventoryPath = %v, %v; want %v", found, err, vm.Reference())
		}
		waitTask(ctx, t, "Destroy_Task", func() (*object.Task, error) { return vm.Destroy(ctx) })
		_, err = vm.ObjectName(ctx)
		wantFault[*types.ManagedObjectNotFound](t, "reading a destroyed VM", err)
	})
}

// TestGovmomiWatchPowerChange watches a VM's power state with
// WaitForUpdatesEx (property.Wait) on one session while another session
// powers it on.
func TestGovmomiWatchPowerChange(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	ctx := testContext(t)
	c := s.client(t)
	p := demoPlacement(ctx, t, c)
	vm, _ := p.createVM(ctx, t, c, "e2e-lib-watch")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if tk, err := vm.PowerOff(ctx); err == nil {
			_ = tk.Wait(ctx)
		}
		if tk, err := vm.Destroy(ctx); err == nil {
			_ = tk.Wait(ctx)
		}
	})

	watcher := s.client(t)
	initial := make(chan struct{})
	done := make(chan error, 1)
	var seen []types.VirtualMachinePowerState
	go func() {
		pc := property.DefaultCollector(watcher.Client)
		done <- property.Wait(ctx, pc, vm.Reference(), []string{"runtime.powerState"}, func(changes []types.PropertyChange) bool {
			for _, ch := range changes {
				if st, ok := ch.Val.(types.VirtualMachinePowerState); ok {
					seen = append(seen, st)
				}
			}
			if len(seen) == 1 {
				close(initial)
			}
			return len(seen) > 0 && seen[len(seen)-1] == types.VirtualMachinePowerStatePoweredOn
		})
	}()
	select {
	case <-initial:
	case err := <-done:
		t.Fatalf("watcher ended before its initial update: %v", err)
	}
	waitTask(ctx, t, "PowerOnVM_Task", func() (*object.Task, error) { return vm.PowerOn(ctx) })
	if err := <-done; err != nil {
		t.Fatalf("property.Wait: %v", err)
	}
	if len(seen) < 2 || seen[0] != types.VirtualMachinePowerStatePoweredOff {
		t.Errorf("watcher saw %v, want poweredOff then poweredOn", seen)
	}
}

// TestGovmomiViewAndPaging retrieves every VM's name, power state and memory
// through a ContainerView, in one call and page by page.
func TestGovmomiViewAndPaging(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	ctx := testContext(t)
	c := s.client(t)
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatalf("CreateContainerView: %v", err)
	}
	defer func() { _ = v.Destroy(ctx) }()
	paths := []string{"name", "runtime.powerState", "config.hardware.memoryMB"}
	var all []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, paths, &all); err != nil {
		t.Fatalf("retrieve through the view: %v", err)
	}
	if len(all) == 0 {
		t.Fatal("the view shows no VMs")
	}
	for _, vm := range all {
		if vm.Name == "" || vm.Runtime.PowerState == "" || vm.Config == nil || vm.Config.Hardware.MemoryMB <= 0 {
			t.Errorf("VM %v: name %q power %q config %v", vm.Self, vm.Name, vm.Runtime.PowerState, vm.Config)
		}
	}

	req := types.RetrievePropertiesEx{
		This: c.ServiceContent.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{Obj: v.Reference(), Skip: types.NewBool(true),
				SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}}}},
			PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"name"}}},
		}},
		Options: types.RetrieveOptions{MaxObjects: 1},
	}
	res, err := methods.RetrievePropertiesEx(ctx, c.Client, &req)
	if err != nil {
		t.Fatalf("RetrievePropertiesEx maxObjects=1: %v", err)
	}
	pages, objects := 0, 0
	for r := res.Returnval; r != nil; {
		pages++
		objects += len(r.Objects)
		if len(r.Objects) > 1 {
			t.Errorf("page %d has %d objects, want at most 1", pages, len(r.Objects))
		}
		if r.Token == "" {
			break
		}
		next, err := methods.ContinueRetrievePropertiesEx(ctx, c.Client, &types.ContinueRetrievePropertiesEx{This: req.This, Token: r.Token})
		if err != nil {
			t.Fatalf("ContinueRetrievePropertiesEx: %v", err)
		}
		r = &next.Returnval
	}
	if objects != len(all) {
		t.Errorf("paging returned %d objects in %d pages, want %d", objects, pages, len(all))
	}
}

// waitTask starts a task with start and waits for it to succeed.
func waitTask(ctx context.Context, t *testing.T, what string, start func() (*object.Task, error)) {
	t.Helper()
	tk, err := start()
	if err == nil {
		err = tk.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantFault fails t unless err carries the vim25 fault F, either as a SOAP
// fault or as a task error.
func wantFault[F types.BaseMethodFault](t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded, want a %T fault", what, *new(F))
		return
	}
	if _, ok := faultOf(err).(F); !ok {
		t.Errorf("%s: %v (%T), want a %T fault", what, err, faultOf(err), *new(F))
	}
}

// faultOf returns the vim25 fault an error from govmomi carries (a SOAP
// fault, a vim fault or a task error), or nil.
func faultOf(err error) types.BaseMethodFault {
	var f interface{ Fault() types.BaseMethodFault }
	if errors.As(err, &f) {
		return f.Fault()
	}
	return nil
}

// vimFault returns the vim25 fault in a decoded SOAP fault, or nil.
func vimFault(f *soap.Fault) types.BaseMethodFault {
	if f == nil || f.Detail.Fault == nil {
		return nil
	}
	return faultOf(soap.WrapSoapFault(f))
}
