package api_test

import (
	"context"
	"fmt"
	"github.com/vireo-project/vireo/internal/app"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/testserver"
)

// vmFx is a test server with an inventory for VM tests:
//
//	DC0 { vm ; host: C0 { h0 (LocalDS_0, shared), h1 (LocalDS_1, shared) } ;
//	      network: VM Network }
//	DC1 { host: C1 { h2 (LocalDS_2) } }
type vmFx struct {
	t   testing.TB
	ctx context.Context
	srv *testserver.Server
	svc *api.Service
	c   *vim25.Client

	dc       mo.Datacenter
	cluster  types.ManagedObjectReference
	pool     types.ManagedObjectReference
	h0, h1   types.ManagedObjectReference
	otherDC  mo.Datacenter
	otherCR  types.ManagedObjectReference
	otherHst types.ManagedObjectReference
}

func newVMFx(t testing.TB, opts ...testserver.Option) *vmFx {
	t.Helper()
	srv := testserver.New(t, opts...)
	f := &vmFx{t: t, ctx: context.Background(), srv: srv, svc: srv.Service(), c: srv.Client.Client}
	f.dc, f.cluster, f.h0, f.h1 = f.build("DC0", "C0", "h0", "h1")
	f.pool = *inventory.Get[mo.ClusterComputeResource](f.svc.Registry(), f.cluster).ResourcePool
	f.otherDC, f.otherCR, f.otherHst, _ = f.build("DC1", "C1", "h2", "")
	return f
}

// reopen returns a fixture for a server on f's data directory, after f's
// server stopped.
func (f *vmFx) reopen() *vmFx {
	f.t.Helper()
	f.srv.Close()
	srv := testserver.New(f.t, testserver.WithDataDir(f.srv.DataDir))
	g := *f
	g.srv, g.svc, g.c = srv, srv.Service(), srv.Client.Client
	return &g
}

// build creates datacenter dc with cluster cl and hosts h and (unless "")
// h2; each host has a local datastore, and both share "shared".
func (f *vmFx) build(dc, cl, h, h2 string) (mo.Datacenter, types.ManagedObjectReference, types.ManagedObjectReference, types.ManagedObjectReference) {
	f.t.Helper()
	dcRef, err := f.svc.CreateDatacenter(f.ctx, testserver.AdminUser, api.RootFolderRef, dc)
	if err != nil {
		f.t.Fatal(err)
	}
	d := *inventory.Get[mo.Datacenter](f.svc.Registry(), dcRef)
	clRef, err := f.svc.CreateCluster(f.ctx, testserver.AdminUser, d.HostFolder, cl, types.ClusterConfigSpecEx{})
	if err != nil {
		f.t.Fatal(err)
	}
	var hosts []types.ManagedObjectReference
	for _, name := range []string{h, h2} {
		if name == "" {
			hosts = append(hosts, types.ManagedObjectReference{})
			continue
		}
		local := fmt.Sprintf("LocalDS_%s", strings.TrimPrefix(name, "h"))
		dss := []api.DatastoreSpec{{Name: local}}
		if dc == "DC0" {
			dss = append(dss, api.DatastoreSpec{Name: "shared", Shared: true})
		}
		ref, err := f.svc.AddHost(f.ctx, testserver.AdminUser, clRef, api.HostSpec{Name: name, Datastores: dss, Networks: []string{"VM Network"}})
		if err != nil {
			f.t.Fatal(err)
		}
		hosts = append(hosts, ref)
	}
	d = *inventory.Get[mo.Datacenter](f.svc.Registry(), dcRef)
	return d, clRef, hosts[0], hosts[1]
}

// vmSpec returns a config spec for a VM named name on LocalDS_0, with a
// generic guest OS (which runs no tools on the simulated host).
func vmSpec(name string, changes ...types.BaseVirtualDeviceConfigSpec) types.VirtualMachineConfigSpec {
	return types.VirtualMachineConfigSpec{
		Name:         name,
		GuestId:      "otherGuest64",
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		DeviceChange: changes,
	}
}

// guestSpec returns the spec of a VM with a disk and a Linux guest, which
// runs tools once powered on.
func guestSpec(name string, changes ...types.BaseVirtualDeviceConfigSpec) types.VirtualMachineConfigSpec {
	spec := vmSpec(name, append([]types.BaseVirtualDeviceConfigSpec{add(lsiLogic(-1)), addFile(newDisk(-1, 1024, ""))}, changes...)...)
	spec.GuestId = "ubuntu64Guest"
	return spec
}

// create creates a VM through CreateVM_Task on h0 and returns it.
func (f *vmFx) create(spec types.VirtualMachineConfigSpec) *object.VirtualMachine {
	f.t.Helper()
	ref, err := f.createErr(spec, &f.h0)
	if err != nil {
		f.t.Fatalf("CreateVM_Task(%s): %v", spec.Name, err)
	}
	return object.NewVirtualMachine(f.c, ref)
}

// createErr runs CreateVM_Task in the datacenter's VM folder.
func (f *vmFx) createErr(spec types.VirtualMachineConfigSpec, host *types.ManagedObjectReference) (types.ManagedObjectReference, error) {
	var h *object.HostSystem
	if host != nil {
		h = object.NewHostSystem(f.c, *host)
	}
	folder := object.NewFolder(f.c, f.dc.VmFolder)
	task, err := folder.CreateVM(f.ctx, spec, object.NewResourcePool(f.c, f.pool), h)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	res, err := task.WaitForResult(f.ctx)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	return res.Result.(types.ManagedObjectReference), nil
}

// vm returns the VM as a client sees it.
func (f *vmFx) vm(vm *object.VirtualMachine) mo.VirtualMachine {
	f.t.Helper()
	var o mo.VirtualMachine
	if err := property.DefaultCollector(f.c).RetrieveOne(f.ctx, vm.Reference(), nil, &o); err != nil {
		f.t.Fatalf("retrieve %s: %v", vm.Reference(), err)
	}
	return o
}

// wait waits for a task and returns its error.
func (f *vmFx) wait(task *object.Task, err error) error {
	if err != nil {
		return err
	}
	return task.Wait(f.ctx)
}

// must fails the test on err.
func (f *vmFx) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// reconfig runs ReconfigVM_Task.
func (f *vmFx) reconfig(vm *object.VirtualMachine, spec types.VirtualMachineConfigSpec) error {
	return f.wait(vm.Reconfigure(f.ctx, spec))
}

// devices returns the VM's devices.
func (f *vmFx) devices(vm *object.VirtualMachine) object.VirtualDeviceList {
	f.t.Helper()
	l, err := vm.Device(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

// vmFault asserts that err carries a fault of want's type, and returns it.
func vmFault(t *testing.T, err error, want types.BaseMethodFault) types.BaseMethodFault {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %T", want)
	}
	var got types.BaseMethodFault
	fault.In(err, func(f types.BaseMethodFault, _ string, _ []types.LocalizableMessage) bool {
		if reflect.TypeOf(f) == reflect.TypeOf(want) {
			got = f
			return true
		}
		return false
	})
	if got == nil {
		t.Fatalf("got %v, want a %T fault", err, want)
	}
	return got
}

// add, edit and remove build deviceChange entries.
func add(d types.BaseVirtualDevice) types.BaseVirtualDeviceConfigSpec {
	return &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: d}
}

func addFile(d types.BaseVirtualDevice) types.BaseVirtualDeviceConfigSpec {
	return &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate, Device: d}
}

func edit(d types.BaseVirtualDevice) types.BaseVirtualDeviceConfigSpec {
	return &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: d}
}

func remove(d types.BaseVirtualDevice, destroy bool) types.BaseVirtualDeviceConfigSpec {
	s := &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: d}
	if destroy {
		s.FileOperation = types.VirtualDeviceConfigSpecFileOperationDestroy
	}
	return s
}

// lsiLogic returns a new LSI Logic controller with key.
func lsiLogic(key int32) *types.VirtualLsiLogicController {
	c := &types.VirtualLsiLogicController{}
	c.Key = key
	c.SharedBus = types.VirtualSCSISharingNoSharing
	return c
}

// newDisk returns a thin disk of sizeKB on controller, with a file name
// (may be "" or "[ds]").
func newDisk(controller int32, sizeKB int64, file string) *types.VirtualDisk {
	d := &types.VirtualDisk{CapacityInKB: sizeKB}
	d.Key = -1
	d.ControllerKey = controller
	d.Backing = &types.VirtualDiskFlatVer2BackingInfo{
		VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file},
		DiskMode:                     string(types.VirtualDiskModePersistent),
		ThinProvisioned:              types.NewBool(true),
	}
	return d
}

// newNIC returns an adapter of type card on the standard network net.
func newNIC[T any, PT interface {
	*T
	types.BaseVirtualEthernetCard
}](net string) PT {
	var card T
	nic := PT(&card)
	c := nic.GetVirtualEthernetCard()
	c.Key = -1
	c.Backing = &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: net}}
	return nic
}

// diskFile returns a disk's file name.
func diskFile(d types.BaseVirtualDevice) string {
	return d.(*types.VirtualDisk).Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName
}

// events returns the events of the given types about entity, oldest first.
func (f *vmFx) vmEvents(entity types.ManagedObjectReference, kinds ...string) []types.BaseEvent {
	f.t.Helper()
	var out []types.BaseEvent
	em := event.NewManager(f.c)
	evs, err := em.QueryEvents(f.ctx, types.EventFilterSpec{Entity: &types.EventFilterSpecByEntity{Entity: entity, Recursion: types.EventFilterSpecRecursionOptionSelf}, EventTypeId: kinds})
	if err != nil {
		f.t.Fatalf("QueryEvents: %v", err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i])
	}
	return out
}

// dsDir returns the directory that holds the datastore named name.
func (f *vmFx) dsDir(name string) string {
	f.t.Helper()
	var dir string
	f.srv.Service().Registry().Each("Datastore", func(o mo.Reference) bool {
		if ds := o.(*mo.Datastore); ds.Name == name {
			dir = app.DatastoreDir(app.DatastoreRoot(f.srv.DataDir), ds.Self)
			return false
		}
		return true
	})
	if dir == "" {
		f.t.Fatalf("no datastore %s", name)
	}
	return dir
}
