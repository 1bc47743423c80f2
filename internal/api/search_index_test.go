package api_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
)

func TestSearchIndexPaths(t *testing.T) {
	inv := newPCInv(t, 4)
	ctx := context.Background()
	si := object.NewSearchIndex(inv.srv.Client.Client)
	// A folder whose name holds a slash is found by its escaped name.
	var slashed types.ManagedObjectReference
	inv.update(t, func(tx *inventory.Txn) {
		f := pcFolder(tx, inv.vmFolder, "a/b", "VirtualMachine")
		pcAddChild(tx, inv.vmFolder, f.Self)
		slashed = f.Self
	})
	tests := []struct {
		path string
		want *types.ManagedObjectReference
	}{
		{"DC0", &inv.dc},
		{"DC0/vm", &inv.vmFolder},
		{"/DC0/vm/sub/VM3", &inv.vms[3]},
		{"DC0/vm/VM0", &inv.vms[0]},
		{"DC0/host/C0", &inv.cluster},
		{"DC0/host/C0/H0", &inv.host},
		{"DC0/host/C0/Resources", &inv.pool},
		{"DC0/host/C0/Resources/VM1", &inv.vms[1]},
		{"DC0/datastore/LocalDS_0", &inv.ds},
		{"DC0/vm/a%2fb", &slashed},
		{"DC0/vm/a%2Fb", &slashed},
		{"DC0/vm/a/b", nil},
		{"DC0/vm/VM3", nil}, // it is in sub
		{"DC9", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := si.FindByInventoryPath(ctx, tt.path)
		if err != nil {
			t.Fatalf("FindByInventoryPath(%q): %v", tt.path, err)
		}
		if !sameRef(got, tt.want) {
			t.Errorf("FindByInventoryPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	if root, err := si.FindByInventoryPath(ctx, "/"); err != nil || root == nil || root.Reference() != inv.srv.Client.ServiceContent.RootFolder {
		t.Errorf("FindByInventoryPath(/) = %v, %v", root, err)
	}

	children := []struct {
		entity types.ManagedObjectReference
		name   string
		want   *types.ManagedObjectReference
	}{
		{inv.srv.Client.ServiceContent.RootFolder, "DC0", &inv.dc},
		{inv.dc, "vm", &inv.vmFolder},
		{inv.dc, "network", &inv.net},
		{inv.cluster, "H0", &inv.host},
		{inv.cluster, "Resources", &inv.pool},
		{inv.pool, "VM2", &inv.vms[2]},
		{inv.host, "VM2", nil}, // a host's VMs are not its children
		{inv.vmFolder, "nope", nil},
	}
	for _, tt := range children {
		got, err := si.FindChild(ctx, tt.entity, tt.name)
		if err != nil {
			t.Fatalf("FindChild(%v, %q): %v", tt.entity, tt.name, err)
		}
		if !sameRef(got, tt.want) {
			t.Errorf("FindChild(%v, %q) = %v, want %v", tt.entity, tt.name, got, tt.want)
		}
	}
	_, err := si.FindChild(ctx, types.ManagedObjectReference{Type: "Folder", Value: "group-999999"}, "x")
	pcFault[*types.ManagedObjectNotFound](t, err)
}

func sameRef(got object.Reference, want *types.ManagedObjectReference) bool {
	if got == nil || reflect.ValueOf(got).IsNil() {
		return want == nil
	}
	return want != nil && got.Reference() == *want
}

func TestSearchIndexFind(t *testing.T) {
	inv := newPCInv(t, 4)
	ctx := context.Background()
	c := inv.srv.Client.Client
	si := object.NewSearchIndex(c)
	dc := object.NewDatacenter(c, inv.dc)
	yes := types.NewBool(true)

	// A second datacenter with a VM sharing VM1's IP address.
	var dc1, twin types.ManagedObjectReference
	inv.update(t, func(tx *inventory.Txn) {
		d := &mo.Datacenter{}
		d.Self = tx.NewRef("Datacenter")
		d.Name = "DC1"
		d.Parent = &inv.srv.Client.ServiceContent.RootFolder
		vmf := pcFolder(tx, d.Self, "vm")
		d.VmFolder = vmf.Self
		tx.Create(d, true)
		pcAddChild(tx, inv.srv.Client.ServiceContent.RootFolder, d.Self)
		vm := pcNewVM(tx, 1, vmf.Self, inv.pool, inv.host, inv.ds)
		vm.Config.Uuid, vm.Config.InstanceUuid = pcUUID(0, 99), pcUUID(1, 99)
		dc1, twin = d.Self, vm.Self
	})

	single := []struct {
		name string
		call func() (object.Reference, error)
		want *types.ManagedObjectReference
	}{
		{"bios uuid", func() (object.Reference, error) { return si.FindByUuid(ctx, dc, pcUUID(0, 2), true, nil) }, &inv.vms[2]},
		{"instance uuid", func() (object.Reference, error) { return si.FindByUuid(ctx, dc, pcUUID(1, 3), true, yes) }, &inv.vms[3]},
		{"bios uuid is not an instance uuid", func() (object.Reference, error) { return si.FindByUuid(ctx, dc, pcUUID(0, 3), true, yes) }, nil},
		{"host uuid", func() (object.Reference, error) { return si.FindByUuid(ctx, nil, "HOST-UUID-0", false, nil) }, &inv.host},
		{"vm ip", func() (object.Reference, error) { return si.FindByIp(ctx, dc, pcIP(2), true) }, &inv.vms[2]},
		{"vm ip in the other datacenter", func() (object.Reference, error) {
			return si.FindByIp(ctx, object.NewDatacenter(c, dc1), pcIP(1), true)
		}, &twin},
		{"host ip", func() (object.Reference, error) { return si.FindByIp(ctx, nil, "192.168.0.10", false) }, &inv.host},
		{"unknown ip", func() (object.Reference, error) { return si.FindByIp(ctx, nil, "10.9.9.9", true) }, nil},
		{"vm dns name", func() (object.Reference, error) { return si.FindByDnsName(ctx, dc, "VM3.example.test", true) }, &inv.vms[3]},
		{"host dns name", func() (object.Reference, error) { return si.FindByDnsName(ctx, nil, "esx0.example.test", false) }, &inv.host},
		{"a host name is not its dns name", func() (object.Reference, error) { return si.FindByDnsName(ctx, nil, "h0", false) }, nil},
		{"datastore path", func() (object.Reference, error) { return si.FindByDatastorePath(ctx, dc, "[LocalDS_0] VM2/VM2.vmx") }, &inv.vms[2]},
		{"datastore path elsewhere", func() (object.Reference, error) {
			return si.FindByDatastorePath(ctx, object.NewDatacenter(c, dc1), "[LocalDS_0] VM2/VM2.vmx")
		}, nil},
	}
	for _, tt := range single {
		got, err := tt.call()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !sameRef(got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}

	all, err := methods.FindAllByIp(ctx, c, &types.FindAllByIp{This: *c.ServiceContent.SearchIndex, Ip: pcIP(1), VmSearch: true})
	if err != nil || !reflect.DeepEqual(pcValues(all.Returnval), pcValues([]types.ManagedObjectReference{inv.vms[1], twin})) {
		t.Fatalf("FindAllByIp = %v, %v", all, err)
	}
	uu, err := methods.FindAllByUuid(ctx, c, &types.FindAllByUuid{This: *c.ServiceContent.SearchIndex, Uuid: pcUUID(0, 0), VmSearch: true})
	if err != nil || len(uu.Returnval) != 1 || uu.Returnval[0] != inv.vms[0] {
		t.Fatalf("FindAllByUuid = %v, %v", uu, err)
	}
	dn, err := methods.FindAllByDnsName(ctx, c, &types.FindAllByDnsName{This: *c.ServiceContent.SearchIndex, DnsName: "nobody.example.test", VmSearch: true})
	if err != nil || len(dn.Returnval) != 0 {
		t.Fatalf("FindAllByDnsName = %v, %v", dn, err)
	}

	_, err = si.FindByDatastorePath(ctx, dc, "VM2/VM2.vmx")
	pcFault[*types.InvalidDatastorePath](t, err)
	_, err = si.FindByUuid(ctx, object.NewDatacenter(c, types.ManagedObjectReference{Type: "Datacenter", Value: "datacenter-999"}), pcUUID(0, 1), true, nil)
	pcFault[*types.ManagedObjectNotFound](t, err)
}
