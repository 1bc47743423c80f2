package api_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/testserver"
)

// pcInv is a small inventory written straight into the registry, so that the
// property collector, view and search tests depend on nothing but the
// registry: DC0 with its four folders, a subfolder vm/sub, a cluster C0 with
// host H0 and root pool Resources, a datastore LocalDS_0, and VMs.
type pcInv struct {
	srv                                     *testserver.Server
	dc, vmFolder, hostFolder, dsFolder, net types.ManagedObjectReference
	sub, cluster, host, pool, ds            types.ManagedObjectReference
	// vms are in creation order; vms[i] is named pcVMName(i), lives in
	// vm/sub when i%4 == 3 and in vm otherwise.
	vms []types.ManagedObjectReference
}

func pcVMName(i int) string { return fmt.Sprintf("VM%d", i) }

// pcUUID returns the BIOS (kind 0) or instance (kind 1) UUID of VM i.
func pcUUID(kind, i int) string { return fmt.Sprintf("4201%04x-0000-0000-0000-%012x", kind, i) }

func pcIP(i int) string { return fmt.Sprintf("10.0.%d.%d", i/250, i%250+1) }

// newPCInv starts a server and builds the inventory with nvm VMs.
func newPCInv(t testing.TB, nvm int) *pcInv {
	t.Helper()
	inv := &pcInv{srv: testserver.New(t)}
	err := inv.srv.Service().Registry().Update(context.Background(), func(tx *inventory.Txn) error {
		inv.build(tx)
		inv.addVMs(tx, nvm)
		return nil
	})
	if err != nil {
		t.Fatalf("build inventory: %v", err)
	}
	return inv
}

func (inv *pcInv) reg() *inventory.Registry { return inv.srv.Service().Registry() }

func pcFolder(tx *inventory.Txn, parent types.ManagedObjectReference, name string, child ...string) *mo.Folder {
	f := &mo.Folder{}
	f.Self = tx.NewRef("Folder")
	f.Name = name
	f.Parent = &parent
	f.ChildType = child
	tx.Create(f, true)
	return f
}

func pcAddChild(tx *inventory.Txn, folder, child types.ManagedObjectReference) {
	f := inventory.Edit[mo.Folder](tx, folder)
	f.ChildEntity = append(f.ChildEntity, child)
}

func (inv *pcInv) build(tx *inventory.Txn) {
	dc := &mo.Datacenter{}
	dc.Self = tx.NewRef("Datacenter")
	dc.Name = "DC0"
	dc.Parent = &api.RootFolderRef
	inv.dc = dc.Self
	dc.VmFolder = pcFolder(tx, dc.Self, "vm", "Folder", "VirtualMachine").Self
	dc.HostFolder = pcFolder(tx, dc.Self, "host", "Folder", "ComputeResource").Self
	dc.DatastoreFolder = pcFolder(tx, dc.Self, "datastore", "Folder", "Datastore").Self
	dc.NetworkFolder = pcFolder(tx, dc.Self, "network", "Folder", "Network").Self
	inv.vmFolder, inv.hostFolder, inv.dsFolder, inv.net = dc.VmFolder, dc.HostFolder, dc.DatastoreFolder, dc.NetworkFolder
	tx.Create(dc, true)
	pcAddChild(tx, api.RootFolderRef, dc.Self)

	inv.sub = pcFolder(tx, inv.vmFolder, "sub", "Folder", "VirtualMachine").Self
	pcAddChild(tx, inv.vmFolder, inv.sub)

	c := &mo.ClusterComputeResource{}
	c.Self = tx.NewRef("ClusterComputeResource")
	c.Name = "C0"
	c.Parent = &inv.hostFolder
	inv.cluster = c.Self
	pool := &mo.ResourcePool{}
	pool.Self = tx.NewRef("ResourcePool")
	pool.Name = "Resources"
	pool.Parent = &c.Self
	inv.pool = pool.Self
	host := &mo.HostSystem{}
	host.Self = tx.NewRef("HostSystem")
	host.Name = "H0"
	host.Parent = &c.Self
	host.Hardware = &types.HostHardwareInfo{SystemInfo: types.HostSystemInfo{Uuid: "host-uuid-0"}}
	host.Config = &types.HostConfigInfo{Network: &types.HostNetworkInfo{
		Vnic:      []types.HostVirtualNic{{Device: "vmk0", Spec: types.HostVirtualNicSpec{Ip: &types.HostIpConfig{IpAddress: "192.168.0.10"}}}},
		DnsConfig: &types.HostDnsConfig{HostName: "esx0", DomainName: "example.test"},
	}}
	inv.host = host.Self
	c.Host = []types.ManagedObjectReference{host.Self}
	c.ResourcePool = &pool.Self
	tx.Create(c, true)
	tx.Create(pool, true)
	tx.Create(host, true)
	pcAddChild(tx, inv.hostFolder, c.Self)

	ds := &mo.Datastore{}
	ds.Self = tx.NewRef("Datastore")
	ds.Name = "LocalDS_0"
	ds.Parent = &inv.dsFolder
	ds.Info = &types.VmfsDatastoreInfo{DatastoreInfo: types.DatastoreInfo{Name: "LocalDS_0", Url: "ds:///vmfs/volumes/local0/"}}
	inv.ds = ds.Self
	tx.Create(ds, true)
	pcAddChild(tx, inv.dsFolder, ds.Self)
}

// addVMs adds n VMs after those there are.
func (inv *pcInv) addVMs(tx *inventory.Txn, n int) {
	for k := 0; k < n; k++ {
		i := len(inv.vms)
		folder := inv.vmFolder
		if i%4 == 3 {
			folder = inv.sub
		}
		vm := pcNewVM(tx, i, folder, inv.pool, inv.host, inv.ds)
		inv.vms = append(inv.vms, vm.Self)
	}
}

// pcNewVM creates VM i in folder, pool and host, in tx.
func pcNewVM(tx *inventory.Txn, i int, folder, pool, host, ds types.ManagedObjectReference) *mo.VirtualMachine {
	vm := &mo.VirtualMachine{}
	vm.Self = tx.NewRef("VirtualMachine")
	vm.Name = pcVMName(i)
	vm.Parent = &folder
	vm.ResourcePool = &pool
	vm.Runtime.Host = &host
	vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
	vm.Summary.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
	vm.Datastore = []types.ManagedObjectReference{ds}
	vm.Config = &types.VirtualMachineConfigInfo{
		Name: vm.Name, Uuid: pcUUID(0, i), InstanceUuid: pcUUID(1, i),
		Hardware: types.VirtualHardware{NumCPU: 1, MemoryMB: 1024,
			Device: []types.BaseVirtualDevice{&types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: 2000}, CapacityInKB: 1 << 20}}},
		Files: types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[LocalDS_0] %s/%s.vmx", vm.Name, vm.Name)},
	}
	vm.Guest = &types.GuestInfo{IpAddress: pcIP(i), HostName: fmt.Sprintf("vm%d.example.test", i)}
	tx.Create(vm, true)
	pcAddChild(tx, folder, vm.Self)
	p := inventory.Edit[mo.ResourcePool](tx, pool)
	p.Vm = append(p.Vm, vm.Self)
	h := inventory.Edit[mo.HostSystem](tx, host)
	h.Vm = append(h.Vm, vm.Self)
	return vm
}

// update runs fn in a registry transaction and fails the test on error.
func (inv *pcInv) update(t testing.TB, fn func(tx *inventory.Txn)) {
	t.Helper()
	err := inv.reg().Update(context.Background(), func(tx *inventory.Txn) error { fn(tx); return nil })
	if err != nil {
		t.Fatalf("update: %v", err)
	}
}

// setPower changes VM ref's power state as a host report would.
func (inv *pcInv) setPower(t testing.TB, ref types.ManagedObjectReference, state types.VirtualMachinePowerState) {
	t.Helper()
	inv.update(t, func(tx *inventory.Txn) {
		vm := inventory.Edit[mo.VirtualMachine](tx, ref)
		vm.Runtime.PowerState = state
		vm.Summary.Runtime.PowerState = state
	})
}

// destroyVM removes VM ref and its references, as Destroy_Task would.
func (inv *pcInv) destroyVM(t testing.TB, ref types.ManagedObjectReference) {
	t.Helper()
	inv.update(t, func(tx *inventory.Txn) {
		vm := inventory.Get[mo.VirtualMachine](tx, ref)
		f := inventory.Edit[mo.Folder](tx, *vm.Parent)
		f.ChildEntity = pcWithout(f.ChildEntity, ref)
		p := inventory.Edit[mo.ResourcePool](tx, *vm.ResourcePool)
		p.Vm = pcWithout(p.Vm, ref)
		h := inventory.Edit[mo.HostSystem](tx, *vm.Runtime.Host)
		h.Vm = pcWithout(h.Vm, ref)
		tx.Delete(ref)
	})
}

func pcWithout(refs []types.ManagedObjectReference, r types.ManagedObjectReference) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, x := range refs {
		if x != r {
			out = append(out, x)
		}
	}
	return out
}

// pcValues returns the MoRef values of refs, sorted.
func pcValues(refs []types.ManagedObjectReference) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.Value
	}
	sort.Strings(out)
	return out
}

// pcFault returns the vim fault of err, or fails the test.
func pcFault[T types.BaseMethodFault](t testing.TB, err error) T {
	t.Helper()
	var zero T
	if err == nil {
		t.Fatalf("no error, want a %T fault", zero)
	}
	var fe interface{ Fault() types.BaseMethodFault }
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a vim fault, want a %T fault", err, zero)
	}
	f := fe.Fault()
	got, ok := f.(T)
	if !ok {
		t.Fatalf("error %v is a %T fault, want %T", err, f, zero)
	}
	return got
}
