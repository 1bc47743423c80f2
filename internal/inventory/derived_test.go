package inventory

import (
	"context"
	"reflect"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/store/sqlite"
)

// TestDerivedListsSurviveReload checks that lists left out of the stored form
// come back identical, in creation order, after a reload.
func TestDerivedListsSurviveReload(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r := New(st)
	var folder, pool, host, ds, net types.ManagedObjectReference
	err = r.Update(ctx, func(tx *Txn) error {
		f := &mo.Folder{}
		f.Self = tx.NewRef("Folder")
		folder = f.Self
		p := &mo.ResourcePool{}
		p.Self = tx.NewRef("ResourcePool")
		pool = p.Self
		h := &mo.HostSystem{}
		h.Self = tx.NewRef("HostSystem")
		host = h.Self
		d := &mo.Datastore{}
		d.Self = tx.NewRef("Datastore")
		ds = d.Self
		n := &mo.Network{}
		n.Self = tx.NewRef("Network")
		net = n.Self
		for _, o := range []mo.Reference{f, p, h, d, n} {
			tx.Create(o, true)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var vms []types.ManagedObjectReference
	for i := 0; i < 5; i++ {
		err = r.Update(ctx, func(tx *Txn) error {
			vm := &mo.VirtualMachine{}
			vm.Self = tx.NewRef("VirtualMachine")
			vm.Parent = &folder
			vm.ResourcePool = &pool
			vm.Runtime.Host = &host
			vm.Datastore = []types.ManagedObjectReference{ds}
			vm.Network = []types.ManagedObjectReference{net}
			tx.Create(vm, true)
			vms = append(vms, vm.Self)
			Edit[mo.Folder](tx, folder).ChildEntity = append(tx.Get(folder).(*mo.Folder).ChildEntity, vm.Self)
			pl := Edit[mo.ResourcePool](tx, pool)
			pl.Vm = append(pl.Vm, vm.Self)
			hs := Edit[mo.HostSystem](tx, host)
			hs.Vm = append(hs.Vm, vm.Self)
			d := Edit[mo.Datastore](tx, ds)
			d.Vm = append(d.Vm, vm.Self)
			n := Edit[mo.Network](tx, net)
			n.Vm = append(n.Vm, vm.Self)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A move out of creation order: the first VM leaves and comes back.
	err = r.Update(ctx, func(tx *Txn) error {
		f := Edit[mo.Folder](tx, folder)
		f.ChildEntity = append(f.ChildEntity[1:], vms[0])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]any{}
	for _, ref := range []types.ManagedObjectReference{folder, pool, host, ds, net} {
		before[ref.Value] = r.Get(ref)
	}
	if got := r.Get(folder).(*mo.Folder).ChildEntity; !reflect.DeepEqual(got, vms) {
		t.Fatalf("childEntity not kept in creation order: %v", got)
	}
	st.Close()

	st2, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	r2 := New(st2)
	if err := r2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range before {
		if got := r2.Lookup(id); !reflect.DeepEqual(got, want) {
			t.Errorf("%s after reload:\n got %+v\nwant %+v", id, got, want)
		}
	}
	data, err := Encode(storedForm(r2.Get(folder)))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 2000 {
		t.Errorf("stored folder is %d bytes; derived lists should not be stored", len(data))
	}
}
