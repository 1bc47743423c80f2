package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/testserver"
)

// dvsEnv is a datacenter with two standalone hosts, served by s.
type dvsEnv struct {
	s        *testserver.Server
	dc       types.ManagedObjectReference
	network  *object.Folder
	hosts    []types.ManagedObjectReference
	vmFolder types.ManagedObjectReference
	rootPool types.ManagedObjectReference
}

func newDVSEnv(t *testing.T, opts ...testserver.Option) *dvsEnv {
	t.Helper()
	ctx := context.Background()
	e := &dvsEnv{s: testserver.New(t, opts...)}
	svc := e.s.Service()
	var err error
	if e.dc, err = svc.CreateDatacenter(ctx, "test", api.RootFolderRef, "DC0"); err != nil {
		t.Fatal(err)
	}
	var dc mo.Datacenter
	pc := property.DefaultCollector(e.s.Client.Client)
	if err := pc.RetrieveOne(ctx, e.dc, []string{"networkFolder", "hostFolder", "vmFolder"}, &dc); err != nil {
		t.Fatal(err)
	}
	e.network = object.NewFolder(e.s.Client.Client, dc.NetworkFolder)
	e.vmFolder = dc.VmFolder
	for _, name := range []string{"H0", "H1"} {
		h, err := svc.AddHost(ctx, "test", dc.HostFolder, api.HostSpec{Name: name, Datastores: []api.DatastoreSpec{{Name: "LocalDS_0", Shared: true}}})
		if err != nil {
			t.Fatal(err)
		}
		e.hosts = append(e.hosts, h)
	}
	var host mo.HostSystem
	if err := pc.RetrieveOne(ctx, e.hosts[0], []string{"parent"}, &host); err != nil {
		t.Fatal(err)
	}
	var cr mo.ComputeResource
	if err := pc.RetrieveOne(ctx, *host.Parent, []string{"resourcePool"}, &cr); err != nil {
		t.Fatal(err)
	}
	e.rootPool = *cr.ResourcePool
	return e
}

// createDVS creates a switch through the SOAP API, as govc dvs.create does.
func (e *dvsEnv) createDVS(t *testing.T, spec types.DVSCreateSpec) *object.DistributedVirtualSwitch {
	t.Helper()
	ctx := context.Background()
	task, err := e.network.CreateDVS(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		t.Fatalf("CreateDVS: %v", err)
	}
	return object.NewDistributedVirtualSwitch(e.s.Client.Client, info.Result.(types.ManagedObjectReference))
}

func dvsSpec(name string) types.DVSCreateSpec {
	return types.DVSCreateSpec{ConfigSpec: &types.VMwareDVSConfigSpec{DVSConfigSpec: types.DVSConfigSpec{Name: name}}}
}

// addPortgroup adds one port group and returns it.
func (e *dvsEnv) addPortgroup(t *testing.T, dvs *object.DistributedVirtualSwitch, spec types.DVPortgroupConfigSpec) types.ManagedObjectReference {
	t.Helper()
	ctx := context.Background()
	if err := wait(dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{spec})); err != nil {
		t.Fatalf("AddPortgroup %s: %v", spec.Name, err)
	}
	var sw mo.DistributedVirtualSwitch
	if err := dvs.Properties(ctx, dvs.Reference(), []string{"portgroup"}, &sw); err != nil {
		t.Fatal(err)
	}
	return sw.Portgroup[len(sw.Portgroup)-1]
}

func wait(task *object.Task, err error) error {
	if err != nil {
		return err
	}
	return task.Wait(context.Background())
}

func (e *dvsEnv) events(t *testing.T, typ string) []string {
	t.Helper()
	evs, err := event.NewManager(e.s.Client.Client).QueryEvents(context.Background(), types.EventFilterSpec{EventTypeId: []string{typ}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.GetEvent().FullFormattedMessage)
	}
	return out
}

func TestCreateDVS(t *testing.T) {
	e := newDVSEnv(t)
	ctx := context.Background()
	spec := dvsSpec("DVS1")
	spec.ConfigSpec.(*types.VMwareDVSConfigSpec).MaxMtu = 9000
	spec.ConfigSpec.(*types.VMwareDVSConfigSpec).LinkDiscoveryProtocolConfig = &types.LinkDiscoveryProtocolConfig{Protocol: "cdp", Operation: "listen"}
	spec.ProductInfo = &types.DistributedVirtualSwitchProductSpec{Version: "6.6.0"}
	dvs := e.createDVS(t, spec)

	var sw mo.VmwareDistributedVirtualSwitch
	if err := dvs.Properties(ctx, dvs.Reference(), nil, &sw); err != nil {
		t.Fatal(err)
	}
	cfg := sw.Config.(*types.VMwareDVSConfigInfo)
	if sw.Self.Type != "VmwareDistributedVirtualSwitch" || sw.Name != "DVS1" || cfg.MaxMtu != 9000 ||
		cfg.LinkDiscoveryProtocolConfig == nil || cfg.LinkDiscoveryProtocolConfig.Protocol != "cdp" ||
		sw.Summary.ProductInfo == nil || sw.Summary.ProductInfo.Version != "6.6.0" || sw.Uuid == "" || cfg.Uuid != sw.Uuid {
		t.Errorf("switch = %s %q mtu %d ldp %+v product %+v uuid %q/%q", sw.Self.Type, sw.Name, cfg.MaxMtu,
			cfg.LinkDiscoveryProtocolConfig, sw.Summary.ProductInfo, sw.Uuid, cfg.Uuid)
	}
	if len(sw.Portgroup) != 1 || len(cfg.UplinkPortgroup) != 1 || sw.Portgroup[0] != cfg.UplinkPortgroup[0] {
		t.Fatalf("portgroups %v, uplink portgroups %v; want the uplink port group only", sw.Portgroup, cfg.UplinkPortgroup)
	}
	want := "DVS1-DVUplinks-" + strings.TrimPrefix(sw.Self.Value, "dvs-")
	if !slices.Equal(sw.Summary.PortgroupName, []string{want}) {
		t.Errorf("summary.portgroupName = %v, want [%s]", sw.Summary.PortgroupName, want)
	}
	var folder mo.Folder
	if err := e.network.Properties(ctx, e.network.Reference(), []string{"childEntity"}, &folder); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(folder.ChildEntity, sw.Self) || !slices.Contains(folder.ChildEntity, sw.Portgroup[0]) {
		t.Errorf("network folder children %v lack the switch or its uplink port group", folder.ChildEntity)
	}
	if got := e.events(t, "DvsCreatedEvent"); len(got) != 1 || got[0] != "A vSphere Distributed Switch DVS1 was created in DC0." {
		t.Errorf("DvsCreatedEvent messages %q", got)
	}
	if got := e.events(t, "DVPortgroupCreatedEvent"); len(got) != 1 || !strings.Contains(got[0], "was added to switch DVS1") {
		t.Errorf("DVPortgroupCreatedEvent messages %q", got)
	}

	if err := wait(e.network.CreateDVS(ctx, dvsSpec("DVS1"))); !fault.Is(err, &types.DuplicateName{}) {
		t.Errorf("duplicate switch name: %v, want DuplicateName", err)
	}
	vmFolder := object.NewFolder(e.s.Client.Client, e.vmFolder)
	if err := wait(vmFolder.CreateDVS(ctx, dvsSpec("DVS2"))); !fault.Is(err, &types.NotSupported{}) {
		t.Errorf("switch in a VM folder: %v, want NotSupported", err)
	}
}

func TestDVSHostMembers(t *testing.T) {
	e := newDVSEnv(t)
	ctx := context.Background()
	dvs := e.createDVS(t, dvsSpec("DVS0"))
	pg := e.addPortgroup(t, dvs, types.DVPortgroupConfigSpec{Name: "PG0", Type: "earlyBinding", NumPorts: 8})

	var sw mo.VmwareDistributedVirtualSwitch
	if err := dvs.Properties(ctx, dvs.Reference(), []string{"config"}, &sw); err != nil {
		t.Fatal(err)
	}
	add := &types.DVSConfigSpec{ConfigVersion: sw.Config.GetDVSConfigInfo().ConfigVersion}
	for _, h := range e.hosts {
		add.Host = append(add.Host, types.DistributedVirtualSwitchHostMemberConfigSpec{Operation: "add", Host: h})
	}
	if err := wait(dvs.Reconfigure(ctx, add)); err != nil {
		t.Fatalf("add hosts: %v", err)
	}
	if err := wait(dvs.Reconfigure(ctx, add)); !fault.Is(err, &types.ConcurrentAccess{}) {
		t.Errorf("reconfigure with a stale configVersion: %v, want ConcurrentAccess", err)
	}
	again := &types.DVSConfigSpec{Host: add.Host[:1]}
	if err := wait(dvs.Reconfigure(ctx, again)); !fault.Is(err, &types.AlreadyExists{}) {
		t.Errorf("adding a member again: %v, want AlreadyExists", err)
	}

	pc := property.DefaultCollector(e.s.Client.Client)
	if err := dvs.Properties(ctx, dvs.Reference(), nil, &sw); err != nil {
		t.Fatal(err)
	}
	cfg := sw.Config.GetDVSConfigInfo()
	if len(sw.Summary.HostMember) != 2 || len(cfg.Host) != 2 || sw.Summary.NumHosts != 2 {
		t.Errorf("members: summary %v, config %d, numHosts %d; want the 2 hosts", sw.Summary.HostMember, len(cfg.Host), sw.Summary.NumHosts)
	}
	for _, h := range e.hosts {
		var host mo.HostSystem
		if err := pc.RetrieveOne(ctx, h, []string{"network"}, &host); err != nil {
			t.Fatal(err)
		}
		for _, p := range sw.Portgroup {
			if !slices.Contains(host.Network, p) {
				t.Errorf("host %s networks %v lack port group %s", h.Value, host.Network, p.Value)
			}
		}
	}
	var p mo.DistributedVirtualPortgroup
	if err := pc.RetrieveOne(ctx, pg, []string{"host", "portKeys"}, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Host) != 2 || len(p.PortKeys) != 8 {
		t.Errorf("port group hosts %v, %d ports; want 2 hosts, 8 ports", p.Host, len(p.PortKeys))
	}
	joined := e.events(t, "DvsHostJoinedEvent")
	if len(joined) != 2 || !slices.Contains(joined, "The host H0 joined the vSphere Distributed Switch DVS0 in DC0.") {
		t.Errorf("DvsHostJoinedEvent messages %q", joined)
	}

	remove := &types.DVSConfigSpec{Host: []types.DistributedVirtualSwitchHostMemberConfigSpec{{Operation: "remove", Host: e.hosts[1]}}}
	if err := wait(dvs.Reconfigure(ctx, remove)); err != nil {
		t.Fatalf("remove host: %v", err)
	}
	var host mo.HostSystem
	if err := pc.RetrieveOne(ctx, e.hosts[1], []string{"network"}, &host); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(host.Network, pg) {
		t.Errorf("host that left still lists port group %s: %v", pg.Value, host.Network)
	}
}

func TestDVPortgroups(t *testing.T) {
	e := newDVSEnv(t)
	ctx := context.Background()
	dvs := e.createDVS(t, dvsSpec("DVS0"))
	pg := e.addPortgroup(t, dvs, types.DVPortgroupConfigSpec{Name: "PG0", Type: "earlyBinding", NumPorts: 16})

	if err := wait(dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{Name: "PG0"}})); !fault.Is(err, &types.DuplicateName{}) {
		t.Errorf("duplicate port group name: %v, want DuplicateName", err)
	}
	nsx1 := e.addPortgroup(t, dvs, types.DVPortgroupConfigSpec{Name: "NSX-dvpg", Type: "ephemeral"})
	nsx2 := e.addPortgroup(t, dvs, types.DVPortgroupConfigSpec{Name: "NSX-dvpg", Type: "ephemeral"})
	pc := property.DefaultCollector(e.s.Client.Client)
	var nsx []mo.DistributedVirtualPortgroup
	if err := pc.Retrieve(ctx, []types.ManagedObjectReference{nsx1, nsx2}, []string{"config"}, &nsx); err != nil {
		t.Fatal(err)
	}
	if len(nsx) != 2 || nsx[0].Config.LogicalSwitchUuid == "" || nsx[0].Config.SegmentId == "" ||
		nsx[0].Config.LogicalSwitchUuid == nsx[1].Config.LogicalSwitchUuid {
		t.Errorf("NSX port groups %+v; want two with their own logical switch UUID and segment id", nsx)
	}

	// The port setting merges into the current one, as govc dvs.portgroup.change relies on.
	vlan := &types.VMwareDVSPortSetting{Vlan: &types.VmwareDistributedVirtualSwitchVlanIdSpec{VlanId: 3123}}
	var cur mo.DistributedVirtualPortgroup
	if err := pc.RetrieveOne(ctx, pg, []string{"config.configVersion", "key"}, &cur); err != nil {
		t.Fatal(err)
	}
	dvpg := object.NewDistributedVirtualPortgroup(e.s.Client.Client, pg)
	if err := wait(dvpg.Reconfigure(ctx, types.DVPortgroupConfigSpec{ConfigVersion: cur.Config.ConfigVersion, DefaultPortConfig: vlan, NumPorts: 4})); err != nil {
		t.Fatalf("reconfigure port group: %v", err)
	}
	ports, err := dvs.FetchDVPorts(ctx, &types.DistributedVirtualSwitchPortCriteria{PortgroupKey: []string{cur.Key}, Inside: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 4 {
		t.Fatalf("%d ports after shrinking to 4", len(ports))
	}
	for _, p := range ports {
		s := p.Config.Setting.(*types.VMwareDVSPortSetting)
		if v, ok := s.Vlan.(*types.VmwareDistributedVirtualSwitchVlanIdSpec); !ok || v.VlanId != 3123 || s.UplinkTeamingPolicy == nil {
			t.Errorf("port %s setting vlan %+v teaming %+v; want VLAN 3123 and the teaming policy kept", p.Key, s.Vlan, s.UplinkTeamingPolicy)
		}
	}
	all, err := dvs.FetchDVPorts(ctx, &types.DistributedVirtualSwitchPortCriteria{UplinkPort: types.NewBool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Errorf("%d non-uplink ports, want 4", len(all))
	}
	if err := wait(dvpg.Rename(ctx, "PG1")); err != nil {
		t.Fatal(err)
	}
	if err := pc.RetrieveOne(ctx, pg, []string{"name", "config.name"}, &cur); err != nil {
		t.Fatal(err)
	}
	if cur.Name != "PG1" || cur.Config.Name != "PG1" {
		t.Errorf("renamed port group: name %q, config.name %q; want PG1", cur.Name, cur.Config.Name)
	}

	if err := wait(dvpg.Destroy(ctx)); err != nil {
		t.Fatalf("destroy port group: %v", err)
	}
	var sw mo.VmwareDistributedVirtualSwitch
	if err := dvs.Properties(ctx, dvs.Reference(), []string{"portgroup", "summary"}, &sw); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(sw.Portgroup, pg) || slices.Contains(sw.Summary.PortgroupName, "PG1") {
		t.Errorf("switch still lists the destroyed port group: %v %v", sw.Portgroup, sw.Summary.PortgroupName)
	}
	if got := e.events(t, "DVPortgroupDestroyedEvent"); len(got) != 1 || got[0] != "dvPort group PG1 in DC0 was deleted." {
		t.Errorf("DVPortgroupDestroyedEvent messages %q", got)
	}
	uplink := object.NewDistributedVirtualPortgroup(e.s.Client.Client, sw.Portgroup[0])
	if err := wait(uplink.Destroy(ctx)); !fault.Is(err, &types.NotSupported{}) {
		t.Errorf("destroying the uplink port group: %v, want NotSupported", err)
	}
}

// TestDVSBackedVM connects a VM to a port group the way govc does (the
// port group's EthernetCardBackingInfo) and checks that the switch then
// refuses to go away.
func TestDVSBackedVM(t *testing.T) {
	e := newDVSEnv(t)
	ctx := context.Background()
	dvs := e.createDVS(t, dvsSpec("DVS0"))
	pgRef := e.addPortgroup(t, dvs, types.DVPortgroupConfigSpec{Name: "PG0", NumPorts: 1})
	add := &types.DVSConfigSpec{Host: []types.DistributedVirtualSwitchHostMemberConfigSpec{{Operation: "add", Host: e.hosts[0]}}}
	if err := wait(dvs.Reconfigure(ctx, add)); err != nil {
		t.Fatal(err)
	}
	backing, err := object.NewDistributedVirtualPortgroup(e.s.Client.Client, pgRef).EthernetCardBackingInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var devices object.VirtualDeviceList
	nic, err := devices.CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		t.Fatal(err)
	}
	change, _ := object.VirtualDeviceList{nic}.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	spec := types.VirtualMachineConfigSpec{Name: "vm0", Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"}, DeviceChange: change}
	vm, err := e.s.Service().CreateVM(ctx, "test", e.vmFolder, e.rootPool, &e.hosts[0], spec)
	if err != nil {
		t.Fatalf("CreateVM on a port group: %v", err)
	}
	var v mo.VirtualMachine
	if err := property.DefaultCollector(e.s.Client.Client).RetrieveOne(ctx, vm, []string{"network"}, &v); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(v.Network, pgRef) {
		t.Errorf("vm networks %v lack port group %s", v.Network, pgRef.Value)
	}
	if err := wait(dvs.Destroy(ctx)); !fault.Is(err, &types.ResourceInUse{}) {
		t.Errorf("destroying a switch in use: %v, want ResourceInUse", err)
	}
}

func TestDestroyDVS(t *testing.T) {
	e := newDVSEnv(t)
	ctx := context.Background()
	dvs := e.createDVS(t, dvsSpec("DVS0"))
	pg := e.addPortgroup(t, dvs, types.DVPortgroupConfigSpec{Name: "PG0"})
	add := &types.DVSConfigSpec{Host: []types.DistributedVirtualSwitchHostMemberConfigSpec{{Operation: "add", Host: e.hosts[0]}}}
	if err := wait(dvs.Reconfigure(ctx, add)); err != nil {
		t.Fatal(err)
	}
	if err := wait(dvs.Destroy(ctx)); err != nil {
		t.Fatalf("destroy switch: %v", err)
	}
	var folder mo.Folder
	if err := e.network.Properties(ctx, e.network.Reference(), []string{"childEntity"}, &folder); err != nil {
		t.Fatal(err)
	}
	for _, c := range folder.ChildEntity {
		if c.Type != "Network" {
			t.Errorf("network folder still holds %s after the switch was destroyed", c)
		}
	}
	var host mo.HostSystem
	if err := property.DefaultCollector(e.s.Client.Client).RetrieveOne(ctx, e.hosts[0], []string{"network"}, &host); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(host.Network, pg) {
		t.Errorf("host still lists port group %s", pg.Value)
	}
	if got := e.events(t, "DvsDestroyedEvent"); len(got) != 1 || got[0] != "vSphere Distributed Switch DVS0 in DC0 was deleted." {
		t.Errorf("DvsDestroyedEvent messages %q", got)
	}
	err := property.DefaultCollector(e.s.Client.Client).RetrieveOne(ctx, pg, []string{"name"}, &mo.DistributedVirtualPortgroup{})
	if !fault.Is(err, &types.ManagedObjectNotFound{}) {
		t.Errorf("retrieving a destroyed port group: %v, want ManagedObjectNotFound", err)
	}
}

// TestDVSSurvivesRestart reloads a switch from the store.
func TestDVSSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newDVSEnv(t, testserver.WithDataDir(dir))
	ctx := context.Background()
	dvs := e.createDVS(t, dvsSpec("DVS0"))
	e.addPortgroup(t, dvs, types.DVPortgroupConfigSpec{Name: "PG0", NumPorts: 2})
	var before mo.VmwareDistributedVirtualSwitch
	if err := dvs.Properties(ctx, dvs.Reference(), nil, &before); err != nil {
		t.Fatal(err)
	}
	e.s.Close()

	s := testserver.New(t, testserver.WithDataDir(dir))
	var after mo.VmwareDistributedVirtualSwitch
	if err := property.DefaultCollector(s.Client.Client).RetrieveOne(ctx, dvs.Reference(), nil, &after); err != nil {
		t.Fatal(err)
	}
	if after.Uuid != before.Uuid || !slices.Equal(after.Portgroup, before.Portgroup) ||
		after.Config.(*types.VMwareDVSConfigInfo).MaxMtu != before.Config.(*types.VMwareDVSConfigInfo).MaxMtu {
		t.Errorf("after restart: uuid %q portgroups %v; before: %q %v", after.Uuid, after.Portgroup, before.Uuid, before.Portgroup)
	}
}
