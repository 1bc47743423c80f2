package api_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
)

// viewContents reads a view's view property through the collector.
func viewContents(t *testing.T, inv *pcInv, ref types.ManagedObjectReference) []string {
	t.Helper()
	content, err := pcRetrieve(context.Background(), inv.srv.Client.Client, []types.PropertyFilterSpec{pcSpec(ref, "ManagedObjectView", "view")})
	if err != nil {
		t.Fatalf("retrieve %v: %v", ref, err)
	}
	if len(content) != 1 {
		t.Fatalf("retrieve %v: %d objects", ref, len(content))
	}
	var refs []types.ManagedObjectReference
	if len(content[0].PropSet) > 0 {
		refs = content[0].PropSet[0].Val.(types.ArrayOfManagedObjectReference).ManagedObjectReference
	}
	return pcValues(refs)
}

func TestContainerViewContents(t *testing.T) {
	inv := newPCInv(t, 4)
	ctx := context.Background()
	m := view.NewManager(inv.srv.Client.Client)
	all := func(refs ...types.ManagedObjectReference) []string { return pcValues(refs) }
	vms := inv.vms
	tests := []struct {
		name      string
		container types.ManagedObjectReference
		types     []string
		recursive bool
		want      []string
	}{
		{"recursive VMs from the root", api.RootFolderRef, []string{"VirtualMachine"}, true, all(vms...)},
		{"vm folder, immediate children", inv.vmFolder, nil, false, all(inv.sub, vms[0], vms[1], vms[2])},
		{"datacenter, immediate children", inv.dc, nil, false, all(inv.vmFolder, inv.hostFolder, inv.dsFolder, inv.net)},
		{"cluster, recursive", inv.cluster, nil, true, all(append([]types.ManagedObjectReference{inv.host, inv.pool}, vms...)...)},
		{"host, recursive", inv.host, []string{"VirtualMachine"}, true, all(vms...)},
		{"pool, VMs", inv.pool, []string{"VirtualMachine"}, false, all(vms...)},
		{"supertype filter", inv.hostFolder, []string{"ComputeResource"}, true, all(inv.cluster)},
		{"ManagedEntity matches every entity", inv.dc, []string{"ManagedEntity"}, true,
			all(append([]types.ManagedObjectReference{inv.vmFolder, inv.hostFolder, inv.dsFolder, inv.net, inv.sub, inv.cluster, inv.host, inv.pool, inv.ds}, vms...)...)},
		{"several types", api.RootFolderRef, []string{"Datacenter", "Datastore"}, true, all(inv.dc, inv.ds)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := m.CreateContainerView(ctx, tt.container, tt.types, tt.recursive)
			if err != nil {
				t.Fatal(err)
			}
			if got := viewContents(t, inv, v.Reference()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("view = %v, want %v", got, tt.want)
			}
		})
	}
	_, err := m.CreateContainerView(ctx, inv.vms[0], nil, true)
	pcFault[*types.InvalidArgument](t, err)
	_, err = m.CreateContainerView(ctx, inv.dc, []string{"NoSuchType"}, true)
	pcFault[*types.InvalidArgument](t, err)
}

func TestViewsFollowInventory(t *testing.T) {
	inv := newPCInv(t, 2)
	ctx := context.Background()
	m := view.NewManager(inv.srv.Client.Client)
	root, err := m.CreateContainerView(ctx, api.RootFolderRef, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := m.CreateContainerView(ctx, inv.sub, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	dcs, err := m.CreateContainerView(ctx, api.RootFolderRef, []string{"Datacenter"}, true)
	if err != nil {
		t.Fatal(err)
	}

	// A VM created in the sub folder appears in both views in the same
	// transaction: a reader never sees the VM without it.
	var created types.ManagedObjectReference
	inv.update(t, func(tx *inventory.Txn) {
		created = pcNewVM(tx, 100, inv.sub, inv.pool, inv.host, inv.ds).Self
	})
	if got, want := viewContents(t, inv, root.Reference()), pcValues(append(inv.vms[:2:2], created)); !reflect.DeepEqual(got, want) {
		t.Fatalf("root view after create = %v, want %v", got, want)
	}
	if got, want := viewContents(t, inv, sub.Reference()), pcValues([]types.ManagedObjectReference{created}); !reflect.DeepEqual(got, want) {
		t.Fatalf("sub view after create = %v, want %v", got, want)
	}

	// Moving the VM out of the folder leaves the folder's view but not the
	// root's; destroying it leaves both.
	inv.update(t, func(tx *inventory.Txn) {
		f := inventory.Edit[mo.Folder](tx, inv.sub)
		f.ChildEntity = pcWithout(f.ChildEntity, created)
		pcAddChild(tx, inv.vmFolder, created)
		inventory.Edit[mo.VirtualMachine](tx, created).Parent = &inv.vmFolder
	})
	if got := viewContents(t, inv, sub.Reference()); len(got) != 0 {
		t.Fatalf("sub view after move = %v", got)
	}
	if got := viewContents(t, inv, root.Reference()); len(got) != 3 {
		t.Fatalf("root view after move = %v", got)
	}
	inv.destroyVM(t, created)
	if got, want := viewContents(t, inv, root.Reference()), pcValues(inv.vms[:2]); !reflect.DeepEqual(got, want) {
		t.Fatalf("root view after destroy = %v, want %v", got, want)
	}

	// A whole new datacenter subtree enters at once.
	inv.update(t, func(tx *inventory.Txn) {
		dc := &mo.Datacenter{}
		dc.Self = tx.NewRef("Datacenter")
		dc.Name = "DC1"
		dc.Parent = &api.RootFolderRef
		vmf := pcFolder(tx, dc.Self, "vm", "VirtualMachine")
		dc.VmFolder = vmf.Self
		dc.HostFolder = pcFolder(tx, dc.Self, "host").Self
		dc.DatastoreFolder = pcFolder(tx, dc.Self, "datastore").Self
		dc.NetworkFolder = pcFolder(tx, dc.Self, "network").Self
		tx.Create(dc, true)
		pcAddChild(tx, api.RootFolderRef, dc.Self)
		created = pcNewVM(tx, 200, vmf.Self, inv.pool, inv.host, inv.ds).Self
	})
	if got := viewContents(t, inv, dcs.Reference()); len(got) != 2 {
		t.Fatalf("datacenter view = %v", got)
	}
	if got := viewContents(t, inv, root.Reference()); len(got) != 3 {
		t.Fatalf("root view after a new datacenter = %v", got)
	}
}

func TestViewUpdatesReachWaiters(t *testing.T) {
	inv := newPCInv(t, 3)
	c := inv.srv.Client.Client
	w := newPCWaiter(t, c, c.ServiceContent.PropertyCollector, pcVMView(t, inv, "name"), false)
	if _, err := w.wait(pcWait(0)); err != nil || len(w.objs) != 3 {
		t.Fatalf("initial: %v, %v", w.objs, err)
	}
	done := make(chan error, 1)
	go func() { _, err := w.wait(nil); done <- err }()
	inv.update(t, func(tx *inventory.Txn) { inv.addVMs(tx, 1) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(w.objs) != 4 || w.objs[inv.vms[3].Value]["name"] != "VM3" {
		t.Fatalf("after create: %v", w.objs)
	}
}

func TestListViews(t *testing.T) {
	inv := newPCInv(t, 3)
	ctx := context.Background()
	c := inv.srv.Client.Client
	m := view.NewManager(c)
	gone := types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-777777"}
	lv, err := m.CreateListView(ctx, []types.ManagedObjectReference{inv.vms[0], gone, inv.host})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := viewContents(t, inv, lv.Reference()), pcValues([]types.ManagedObjectReference{inv.vms[0], inv.host}); !reflect.DeepEqual(got, want) {
		t.Fatalf("list view = %v, want %v", got, want)
	}
	res, err := methods.ModifyListView(ctx, c, &types.ModifyListView{This: lv.Reference(),
		Add: []types.ManagedObjectReference{inv.vms[1], gone}, Remove: []types.ManagedObjectReference{inv.host}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Returnval, []types.ManagedObjectReference{gone}) {
		t.Fatalf("unresolved = %v", res.Returnval)
	}
	if got, want := viewContents(t, inv, lv.Reference()), pcValues(inv.vms[:2]); !reflect.DeepEqual(got, want) {
		t.Fatalf("modified list view = %v, want %v", got, want)
	}
	// A destroyed object leaves the list.
	inv.destroyVM(t, inv.vms[1])
	if got, want := viewContents(t, inv, lv.Reference()), pcValues(inv.vms[:1]); !reflect.DeepEqual(got, want) {
		t.Fatalf("list view after destroy = %v, want %v", got, want)
	}
	if _, err := methods.ResetListView(ctx, c, &types.ResetListView{This: lv.Reference(), Obj: []types.ManagedObjectReference{inv.vms[2]}}); err != nil {
		t.Fatal(err)
	}
	if got, want := viewContents(t, inv, lv.Reference()), pcValues(inv.vms[2:3]); !reflect.DeepEqual(got, want) {
		t.Fatalf("reset list view = %v, want %v", got, want)
	}
	cv, err := m.CreateContainerView(ctx, inv.pool, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := methods.ResetListViewFromView(ctx, c, &types.ResetListViewFromView{This: lv.Reference(), View: cv.Reference()}); err != nil {
		t.Fatal(err)
	}
	if got, want := viewContents(t, inv, lv.Reference()), pcValues([]types.ManagedObjectReference{inv.vms[0], inv.vms[2]}); !reflect.DeepEqual(got, want) {
		t.Fatalf("list view from the pool's view = %v, want %v", got, want)
	}
}

func TestViewsAreSessionObjects(t *testing.T) {
	inv := newPCInv(t, 1)
	ctx := context.Background()
	c := inv.srv.Client.Client
	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, inv.dc, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var vm mo.ViewManager
	content, err := pcRetrieve(ctx, c, []types.PropertyFilterSpec{pcSpec(api.ViewManagerRef, "ViewManager", "viewList")})
	if err != nil {
		t.Fatal(err)
	}
	if err := mo.LoadObjectContent(content, &vm); err != nil {
		t.Fatal(err)
	}
	if len(vm.ViewList) != 1 || vm.ViewList[0] != v.Reference() {
		t.Fatalf("viewList = %v, want [%v]", vm.ViewList, v.Reference())
	}
	other := inv.srv.Login(t, "administrator@vsphere.local", "vireo-test-pass").Client
	content, err = pcRetrieve(ctx, other, []types.PropertyFilterSpec{pcSpec(api.ViewManagerRef, "ViewManager", "viewList")})
	if err != nil || len(content[0].PropSet) != 0 {
		t.Fatalf("another session's viewList = %+v, %v", content, err)
	}
	_, err = methods.DestroyView(ctx, other, &types.DestroyView{This: v.Reference()})
	pcFault[*types.ManagedObjectNotFound](t, err)

	if err := v.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if inv.reg().Get(v.Reference()) != nil {
		t.Fatal("destroyed view still in the registry")
	}
	kept, err := m.CreateListView(ctx, inv.vms)
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.srv.Client.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if inv.reg().Get(kept.Reference()) != nil {
		t.Fatal("a view outlived its session")
	}
	// The views' index is gone too: changes to objects they showed cost nothing.
	inv.setPower(t, inv.vms[0], types.VirtualMachinePowerStatePoweredOn)
}
