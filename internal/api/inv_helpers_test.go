package api_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/testserver"
	"github.com/vireo-project/vireo/internal/vim"
)

// invFixture is a test server with helpers to build and inspect inventory.
type invFixture struct {
	t   *testing.T
	srv *testserver.Server
	ctx context.Context
	c   *vim25.Client
	svc *api.Service
}

const testUser = testserver.AdminUser

func newInv(t *testing.T, opts ...testserver.Option) *invFixture {
	t.Helper()
	srv := testserver.New(t, opts...)
	return &invFixture{t: t, srv: srv, ctx: context.Background(), c: srv.Client.Client, svc: srv.Service()}
}

func (f *invFixture) root() *object.Folder { return object.NewRootFolder(f.c) }

func (f *invFixture) folder(ref types.ManagedObjectReference) *object.Folder {
	return object.NewFolder(f.c, ref)
}

// props retrieves ref's properties (all when none are named) into dst, a
// pointer to an mo type.
func (f *invFixture) props(ref types.ManagedObjectReference, dst any, names ...string) {
	f.t.Helper()
	if err := property.DefaultCollector(f.c).RetrieveOne(f.ctx, ref, names, dst); err != nil {
		f.t.Fatalf("retrieve %s: %v", ref, err)
	}
}

// datacenter creates a datacenter at the root and returns it as the client
// sees it.
func (f *invFixture) datacenter(name string) mo.Datacenter {
	f.t.Helper()
	ref, err := f.svc.CreateDatacenter(f.ctx, testUser, f.svc.Content().RootFolder, name)
	if err != nil {
		f.t.Fatalf("CreateDatacenter(%s): %v", name, err)
	}
	var dc mo.Datacenter
	f.props(ref, &dc)
	return dc
}

// cluster creates a cluster in dc's host folder.
func (f *invFixture) cluster(dc mo.Datacenter, name string) types.ManagedObjectReference {
	f.t.Helper()
	ref, err := f.svc.CreateCluster(f.ctx, testUser, dc.HostFolder, name, types.ClusterConfigSpecEx{})
	if err != nil {
		f.t.Fatalf("CreateCluster(%s): %v", name, err)
	}
	return ref
}

// host adds a host with a local datastore NAME-local and the shared one.
func (f *invFixture) host(parent types.ManagedObjectReference, name string) types.ManagedObjectReference {
	f.t.Helper()
	ref, err := f.svc.AddHost(f.ctx, testUser, parent, api.HostSpec{
		Name:       name,
		Datastores: []api.DatastoreSpec{{Name: name + "-local"}, {Name: "shared", Shared: true}},
		Networks:   []string{"VM Network"},
	})
	if err != nil {
		f.t.Fatalf("AddHost(%s): %v", name, err)
	}
	return ref
}

// wait waits for a task method's result.
func (f *invFixture) wait(task *object.Task, err error) error {
	f.t.Helper()
	if err != nil {
		return err
	}
	return task.Wait(f.ctx)
}

// wantFault fails unless err carries a fault of want's type.
func wantFault(t *testing.T, err error, want types.BaseMethodFault) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %T", want)
	}
	var vf *vim.Fault
	if errors.As(err, &vf) && reflect.TypeOf(vf.Fault) == reflect.TypeOf(want) {
		return
	}
	if !fault.Is(err, want) {
		t.Fatalf("error %v, want fault %T", err, want)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// addVM puts a VM object straight into the inventory (the VM code's
// CreateVM is not needed for these tests): in dc's VM folder, on host, in
// pool, using datastore ds and network net, in the given power state.
func (f *invFixture) addVM(name string, dc mo.Datacenter, host, pool, ds, net types.ManagedObjectReference, state types.VirtualMachinePowerState) types.ManagedObjectReference {
	f.t.Helper()
	var ref types.ManagedObjectReference
	err := f.svc.Registry().Update(f.ctx, func(tx *inventory.Txn) error {
		ref = tx.NewRef("VirtualMachine")
		vm := &mo.VirtualMachine{}
		vm.Self, vm.Name, vm.Parent = ref, name, &dc.VmFolder
		vm.Runtime.PowerState, vm.Runtime.Host = state, &host
		vm.ResourcePool = &pool
		vm.Datastore, vm.Network = []types.ManagedObjectReference{ds}, []types.ManagedObjectReference{net}
		vm.Config = &types.VirtualMachineConfigInfo{Name: name, InstanceUuid: "inst-" + ref.Value}
		tx.Create(vm, true)
		vf := inventory.Edit[mo.Folder](tx, dc.VmFolder)
		vf.ChildEntity = append(vf.ChildEntity, ref)
		h := inventory.Edit[mo.HostSystem](tx, host)
		h.Vm = append(h.Vm, ref)
		p := inventory.Edit[mo.ResourcePool](tx, pool)
		p.Vm = append(p.Vm, ref)
		d := inventory.Edit[mo.Datastore](tx, ds)
		d.Vm = append(d.Vm, ref)
		n := inventory.Edit[mo.Network](tx, net)
		n.Vm = append(n.Vm, ref)
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return ref
}

// exists reports whether ref is in the inventory.
func (f *invFixture) exists(ref types.ManagedObjectReference) bool {
	return f.svc.Registry().Get(ref) != nil
}

func refValues(refs []types.ManagedObjectReference) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.Value)
	}
	return out
}

func sameRefs(a, b []types.ManagedObjectReference) bool {
	return reflect.DeepEqual(refValues(a), refValues(b))
}
