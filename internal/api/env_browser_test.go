package api_test

import (
	"slices"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestEnvironmentBrowser(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	h1 := f.host(cluster, "esx-01.example.com")
	standalone := f.host(dc.HostFolder, "esx-09.example.com")

	for _, host := range []types.ManagedObjectReference{h1, standalone} {
		var h mo.HostSystem
		f.props(host, &h, "parent")
		var cr mo.ComputeResource
		f.props(*h.Parent, &cr, "environmentBrowser")
		if cr.EnvironmentBrowser == nil {
			t.Fatalf("%s has no environment browser", h.Parent.Value)
		}
		b := object.NewEnvironmentBrowser(f.c, *cr.EnvironmentBrowser)

		desc, err := b.QueryConfigOptionDescriptor(f.ctx)
		mustOK(t, err)
		keys := []string{}
		for _, d := range desc {
			keys = append(keys, d.Key)
		}
		if !slices.Contains(keys, "vmx-08") || !slices.Contains(keys, "vmx-21") {
			t.Errorf("descriptors %v", keys)
		}

		opt, err := b.QueryConfigOption(f.ctx, &types.EnvironmentBrowserConfigOptionQuerySpec{
			Host: &host, GuestId: []string{"ubuntu64Guest", "windows9_64Guest"},
		})
		mustOK(t, err)
		if len(opt.GuestOSDescriptor) != 2 || opt.GuestOSDescriptor[0].Family != "linuxGuest" || opt.GuestOSDescriptor[1].Family != "windowsGuest" {
			t.Errorf("guests %+v", opt.GuestOSDescriptor)
		}
		if opt.Version != "vmx-21" || opt.HardwareOptions.HwVersion != 21 {
			t.Errorf("default option %s hw %d", opt.Version, opt.HardwareOptions.HwVersion)
		}
		all, err := b.QueryConfigOption(f.ctx, &types.EnvironmentBrowserConfigOptionQuerySpec{Key: "vmx-13", GuestId: []string{"enoent"}})
		mustOK(t, err)
		if all.Version != "vmx-13" || len(all.GuestOSDescriptor) < 100 {
			t.Errorf("vmx-13 with unknown guest: %s, %d guests", all.Version, len(all.GuestOSDescriptor))
		}
		_, err = b.QueryConfigOption(f.ctx, &types.EnvironmentBrowserConfigOptionQuerySpec{Key: "vmx-99"})
		wantFault(t, err, &types.InvalidArgument{})

		target, err := b.QueryConfigTarget(f.ctx, object.NewHostSystem(f.c, host))
		mustOK(t, err)
		if target.NumCpus != 16 || len(target.Datastore) != 2 || len(target.Network) != 1 || target.Network[0].Name != "VM Network" {
			t.Errorf("config target cpus %d datastores %d networks %+v", target.NumCpus, len(target.Datastore), target.Network)
		}
		capability, err := b.QueryTargetCapabilities(f.ctx, nil)
		mustOK(t, err)
		if capability == nil {
			t.Error("no capabilities")
		}
	}

	// A host outside the browser's compute resource is described too, as
	// vcsim does (govc passes $GOVC_HOST with a VM's browser); an unknown
	// one is not.
	var h mo.HostSystem
	f.props(h1, &h, "parent")
	var cr mo.ComputeResource
	f.props(*h.Parent, &cr, "environmentBrowser")
	b := object.NewEnvironmentBrowser(f.c, *cr.EnvironmentBrowser)
	target, err := b.QueryConfigTarget(f.ctx, object.NewHostSystem(f.c, standalone))
	mustOK(t, err)
	if len(target.Datastore) != 2 || !slices.ContainsFunc(target.Datastore, func(d types.VirtualMachineDatastoreInfo) bool { return d.Name == "esx-09.example.com-local" }) {
		t.Errorf("standalone host target datastores %+v", target.Datastore)
	}
	_, err = b.QueryConfigTarget(f.ctx, object.NewHostSystem(f.c, types.ManagedObjectReference{Type: "HostSystem", Value: "host-999"}))
	wantFault(t, err, &types.ManagedObjectNotFound{})
}
