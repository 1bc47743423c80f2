package api_test

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
)

func TestAddHostToCluster(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	h1 := f.host(cluster, "esx-01.example.com")
	h2 := f.host(cluster, "esx-02.example.com")

	var h mo.HostSystem
	f.props(h1, &h)
	if !strings.HasPrefix(h1.Value, "host-") || h.Name != "esx-01.example.com" || h.Parent.Value != cluster.Value {
		t.Errorf("host %s %q parent %v", h1.Value, h.Name, h.Parent)
	}
	if rt := h.Runtime; rt.ConnectionState != "connected" || rt.PowerState != "poweredOn" || rt.InMaintenanceMode || rt.BootTime == nil {
		t.Errorf("runtime %+v", rt)
	}
	if h.Summary.Runtime == nil || h.Summary.Runtime.ConnectionState != "connected" || h.Summary.OverallStatus != "green" {
		t.Errorf("summary.runtime %+v status %s", h.Summary.Runtime, h.Summary.OverallStatus)
	}
	if hw := h.Summary.Hardware; hw == nil || hw.NumCpuCores != 16 || hw.CpuMhz != 2600 || hw.MemorySize != 64<<30 {
		t.Errorf("summary.hardware %+v", hw)
	}
	if h.Hardware == nil || h.Hardware.CpuInfo.NumCpuCores != 16 || h.Hardware.SystemInfo.Uuid == "" {
		t.Errorf("hardware %+v", h.Hardware)
	}
	if h.Summary.Config.Name != h.Name || h.Summary.Config.Product == nil || h.Summary.Config.Product.ProductLineId != "embeddedEsx" {
		t.Errorf("summary.config %+v", h.Summary.Config)
	}
	if h.Config == nil || h.Config.Network == nil {
		t.Fatal("config.network missing")
	}
	var pgs []string
	for _, pg := range h.Config.Network.Portgroup {
		pgs = append(pgs, pg.Spec.Name)
	}
	if strings.Join(pgs, ",") != "VM Network,Management Network" {
		t.Errorf("port groups %v", pgs)
	}
	if ip := h.Config.Network.Vnic[0].Spec.Ip.IpAddress; ip != "127.0.0.1" {
		t.Errorf("vmk0 address %q: want 127.0.0.1 for a host not named by an address, as vcsim", ip)
	}
	if len(h.Datastore) != 2 || len(h.Network) != 1 || len(h.Config.FileSystemVolume.MountInfo) != 2 {
		t.Errorf("host datastores %v networks %v mounts %d", refValues(h.Datastore), refValues(h.Network), len(h.Config.FileSystemVolume.MountInfo))
	}

	// Datastores: one local per host, one shared by both.
	finder := find.NewFinder(f.c).SetDatacenter(object.NewDatacenter(f.c, dc.Self))
	shared, err := finder.Datastore(f.ctx, "shared")
	mustOK(t, err)
	var ds mo.Datastore
	f.props(shared.Reference(), &ds)
	s := ds.Summary
	if s.Type != "NFS" || !s.Accessible || s.MultipleHostAccess == nil || !*s.MultipleHostAccess ||
		!strings.HasPrefix(s.Url, "ds:///vmfs/volumes/") || s.Capacity <= 0 || s.FreeSpace <= 0 || s.FreeSpace > s.Capacity {
		t.Errorf("shared datastore summary %+v", s)
	}
	if len(ds.Host) != 2 || ds.Host[0].MountInfo.Path == "" || !*ds.Host[0].MountInfo.Accessible {
		t.Errorf("shared datastore mounts %+v", ds.Host)
	}
	if info, ok := ds.Info.(*types.NasDatastoreInfo); !ok || info.Url != s.Url || info.FreeSpace != s.FreeSpace || info.Nas.Capacity != s.Capacity {
		t.Errorf("shared datastore info %#v", ds.Info)
	}
	local, err := finder.Datastore(f.ctx, "esx-01.example.com-local")
	mustOK(t, err)
	f.props(local.Reference(), &ds)
	if info, ok := ds.Info.(*types.VmfsDatastoreInfo); !ok || ds.Summary.Type != "VMFS" || *ds.Summary.MultipleHostAccess || len(ds.Host) != 1 || info.Vmfs.Uuid == "" {
		t.Errorf("local datastore %+v info %#v", ds.Summary, ds.Info)
	}

	// The datacenter, cluster and network lists follow.
	var d mo.Datacenter
	f.props(dc.Self, &d, "datastore", "network")
	if len(d.Datastore) != 3 || len(d.Network) != 1 {
		t.Errorf("datacenter datastores %v networks %v", refValues(d.Datastore), refValues(d.Network))
	}
	var c mo.ClusterComputeResource
	f.props(cluster, &c)
	sum := c.Summary.(*types.ClusterComputeResourceSummary)
	if !sameRefs(c.Host, []types.ManagedObjectReference{h1, h2}) || sum.NumHosts != 2 || sum.NumEffectiveHosts != 2 ||
		sum.TotalCpu != 2*16*2600 || sum.TotalMemory != 2*(64<<30) || sum.EffectiveMemory != 2*(64<<10) || len(c.Datastore) != 3 || len(c.Network) != 1 {
		t.Errorf("cluster hosts %v summary %+v datastores %d networks %d", refValues(c.Host), sum.ComputeResourceSummary, len(c.Datastore), len(c.Network))
	}
	var n mo.Network
	f.props(d.Network[0], &n)
	if n.Name != "VM Network" || len(n.Host) != 2 {
		t.Errorf("network %q hosts %v", n.Name, refValues(n.Host))
	}
	var pool mo.ResourcePool
	f.props(*c.ResourcePool, &pool)
	if *pool.Config.CpuAllocation.Reservation != int64(sum.EffectiveCpu) || pool.Runtime.Memory.MaxUsage != sum.EffectiveMemory<<20 {
		t.Errorf("root pool config %+v runtime %+v, want the cluster's capacity", pool.Config.CpuAllocation, pool.Runtime.Memory)
	}
}

func TestAddStandaloneHost(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	h := f.host(dc.HostFolder, "10.1.2.3")
	var host mo.HostSystem
	f.props(h, &host, "parent", "config.network.vnic")
	if ip := host.Config.Network.Vnic[0].Spec.Ip.IpAddress; ip != "10.1.2.3" {
		t.Errorf("vmk0 address %q, want the host's address 10.1.2.3", ip)
	}
	if host.Parent == nil || !strings.HasPrefix(host.Parent.Value, "domain-s") || host.Parent.Type != "ComputeResource" {
		t.Fatalf("standalone host parent %v, want a domain-sN ComputeResource", host.Parent)
	}
	var cr mo.ComputeResource
	f.props(*host.Parent, &cr)
	if cr.Name != "10.1.2.3" || !sameRefs(cr.Host, []types.ManagedObjectReference{h}) || cr.ResourcePool == nil {
		t.Errorf("compute resource %q hosts %v pool %v", cr.Name, refValues(cr.Host), cr.ResourcePool)
	}
	if s := cr.Summary.GetComputeResourceSummary(); s.NumHosts != 1 || s.EffectiveCpu != 16*2600 {
		t.Errorf("compute resource summary %+v", s)
	}

	tests := []struct {
		name   string
		parent types.ManagedObjectReference
		spec   api.HostSpec
		fault  types.BaseMethodFault
	}{
		{"duplicate host", dc.HostFolder, api.HostSpec{Name: "10.1.2.3"}, &types.DuplicateName{}},
		{"vm folder", dc.VmFolder, api.HostSpec{Name: "h2"}, &types.NotSupported{}},
		{"no name", dc.HostFolder, api.HostSpec{}, &types.InvalidName{}},
		{"bad datastore name", dc.HostFolder, api.HostSpec{Name: "h3", Datastores: []api.DatastoreSpec{{Name: ""}}}, &types.InvalidName{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.AddHost(f.ctx, testUser, tc.parent, tc.spec)
			wantFault(t, err, tc.fault)
		})
	}
}

func TestMaintenanceMode(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	href := f.host(cluster, "esx-01")
	f.host(cluster, "esx-02")
	h := object.NewHostSystem(f.c, href)
	effective := func() int32 {
		var c mo.ClusterComputeResource
		f.props(cluster, &c, "summary")
		return c.Summary.GetComputeResourceSummary().NumEffectiveHosts
	}

	wantFault(t, f.wait(h.ExitMaintenanceMode(f.ctx, 0)), &types.InvalidState{})
	mustOK(t, f.wait(h.EnterMaintenanceMode(f.ctx, 0, false, nil)))
	var host mo.HostSystem
	f.props(href, &host, "runtime", "summary.runtime")
	if !host.Runtime.InMaintenanceMode || !host.Summary.Runtime.InMaintenanceMode {
		t.Fatalf("not in maintenance mode: %+v", host.Runtime)
	}
	if n := effective(); n != 1 {
		t.Errorf("effective hosts %d in maintenance, want 1", n)
	}
	mustOK(t, f.wait(h.ExitMaintenanceMode(f.ctx, 0)))
	if n := effective(); n != 2 {
		t.Errorf("effective hosts %d after exit, want 2", n)
	}

	// A powered-on VM keeps the host out of maintenance mode.
	var c mo.ClusterComputeResource
	f.props(cluster, &c)
	f.addVM("vm1", dc, href, *c.ResourcePool, c.Datastore[0], c.Network[0], types.VirtualMachinePowerStatePoweredOn)
	wantFault(t, f.wait(h.EnterMaintenanceMode(f.ctx, 0, false, nil)), &types.InvalidState{})
}
