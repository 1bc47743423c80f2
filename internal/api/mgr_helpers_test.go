package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
)

// mgrInv is a small inventory built straight into the registry, so
// the manager tests do not depend on the inventory methods:
// DC0 { vm: vm1, vm2 ; host: C0 { h0 } }.
type mgrInv struct {
	dc, vmFolder, hostFolder, cluster, host, vm1, vm2 types.ManagedObjectReference
}

func mgrInventory(t *testing.T, reg *inventory.Registry) mgrInv {
	t.Helper()
	var inv mgrInv
	err := reg.Update(context.Background(), func(tx *inventory.Txn) error {
		inv.dc = tx.NewRef("Datacenter")
		inv.vmFolder = tx.NewRef("Folder")
		inv.hostFolder = tx.NewRef("Folder")
		inv.cluster = tx.NewRef("ClusterComputeResource")
		inv.host = tx.NewRef("HostSystem")
		inv.vm1 = tx.NewRef("VirtualMachine")
		inv.vm2 = tx.NewRef("VirtualMachine")
		p := func(r types.ManagedObjectReference) *types.ManagedObjectReference { return &r }

		root := inventory.Edit[mo.Folder](tx, api.RootFolderRef)
		root.ChildEntity = append(root.ChildEntity, inv.dc)

		dc := &mo.Datacenter{VmFolder: inv.vmFolder, HostFolder: inv.hostFolder}
		dc.Self, dc.Name, dc.Parent = inv.dc, "DC0", p(api.RootFolderRef)
		tx.Create(dc, true)

		vf := &mo.Folder{ChildType: []string{"Folder", "VirtualMachine"}, ChildEntity: []types.ManagedObjectReference{inv.vm1, inv.vm2}}
		vf.Self, vf.Name, vf.Parent = inv.vmFolder, "vm", p(inv.dc)
		tx.Create(vf, true)

		hf := &mo.Folder{ChildType: []string{"Folder", "ComputeResource"}, ChildEntity: []types.ManagedObjectReference{inv.cluster}}
		hf.Self, hf.Name, hf.Parent = inv.hostFolder, "host", p(inv.dc)
		tx.Create(hf, true)

		cl := &mo.ClusterComputeResource{}
		cl.Self, cl.Name, cl.Parent, cl.Host = inv.cluster, "C0", p(inv.hostFolder), []types.ManagedObjectReference{inv.host}
		tx.Create(cl, true)

		h := &mo.HostSystem{}
		h.Self, h.Name, h.Parent = inv.host, "h0", p(inv.cluster)
		tx.Create(h, true)

		for i, r := range []types.ManagedObjectReference{inv.vm1, inv.vm2} {
			vm := &mo.VirtualMachine{}
			vm.Self, vm.Name, vm.Parent = r, "vm"+string(rune('1'+i)), p(inv.vmFolder)
			vm.Runtime.Host = p(inv.host)
			tx.Create(vm, true)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// mgrContext returns a context that ends with the test or after a minute.
func mgrContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mgrFault fails the test unless err is a SOAP fault of the same type as
// want.
func mgrFault[T types.BaseMethodFault](t *testing.T, err error, want T) T {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %T", want)
	}
	var got T
	if _, ok := fault.As(err, &got); !ok {
		t.Fatalf("got %v, want %T", err, want)
	}
	return got
}
