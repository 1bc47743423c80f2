package app_test

import (
	"context"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/app"
	"github.com/vireo-project/vireo/internal/testserver"
)

func TestBuildDemo(t *testing.T) {
	s := testserver.New(t)
	ctx := context.Background()
	if err := app.BuildDemo(ctx, s.Server); err != nil {
		t.Fatal(err)
	}
	finder := find.NewFinder(s.Client.Client)
	dc, err := finder.Datacenter(ctx, "/Datacenter")
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	hosts, err := finder.HostSystemList(ctx, "/Datacenter/host/Cluster/*")
	if err != nil || len(hosts) != 3 {
		t.Errorf("%d hosts in Cluster (%v), want 3", len(hosts), err)
	}
	dss, err := finder.DatastoreList(ctx, "*")
	if err != nil || len(dss) != 4 {
		t.Errorf("%d datastores (%v), want 4 (3 local, 1 shared)", len(dss), err)
	}
	nets, err := finder.NetworkList(ctx, "*")
	if err != nil || len(nets) != 1 {
		t.Errorf("%d networks (%v), want 1", len(nets), err)
	}
	shared, err := finder.Datastore(ctx, "shared-ds")
	if err != nil {
		t.Fatal(err)
	}
	var ds mo.Datastore
	if err := shared.Properties(ctx, shared.Reference(), []string{"host", "vm"}, &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Host) != 3 || len(ds.Vm) != 4 {
		t.Errorf("shared-ds mounted by %d hosts with %d VMs, want 3 and 4", len(ds.Host), len(ds.Vm))
	}
	vms, err := finder.VirtualMachineList(ctx, "*")
	if err != nil {
		t.Fatal(err)
	}
	on := 0
	for _, vm := range vms {
		st, err := vm.PowerState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st == types.VirtualMachinePowerStatePoweredOn {
			on++
		}
	}
	if len(vms) != 4 || on != 2 {
		t.Errorf("%d VMs with %d powered on, want 4 and 2", len(vms), on)
	}
}
