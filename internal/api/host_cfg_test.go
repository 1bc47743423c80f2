package api_test

import (
	"slices"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/testserver"
)

// hostCfgFixture is a datacenter with one cluster host.
func hostCfgFixture(t *testing.T, opts ...testserver.Option) (*invFixture, *object.HostSystem) {
	f := newInv(t, opts...)
	dc := f.datacenter("DC1")
	h := f.host(f.cluster(dc, "C1"), "esx-01.example.com")
	return f, object.NewHostSystem(f.c, h)
}

func TestHostConfigManagerRefs(t *testing.T) {
	f, host := hostCfgFixture(t)
	var h mo.HostSystem
	f.props(host.Reference(), &h, "configManager")
	cm := h.ConfigManager
	for name, r := range map[string]*types.ManagedObjectReference{
		"networkSystem": cm.NetworkSystem, "storageSystem": cm.StorageSystem, "advancedOption": cm.AdvancedOption,
		"virtualNicManager": cm.VirtualNicManager, "datastoreSystem": cm.DatastoreSystem,
	} {
		if r == nil || r.Value != name+"-"+host.Reference().Value {
			t.Errorf("configManager.%s = %v", name, r)
		}
	}
}

func portGroupNames(t *testing.T, f *invFixture, ns *object.HostNetworkSystem) []string {
	t.Helper()
	var m mo.HostNetworkSystem
	f.props(ns.Reference(), &m, "networkInfo")
	var out []string
	for _, pg := range m.NetworkInfo.Portgroup {
		out = append(out, pg.Spec.Name+"@"+pg.Spec.VswitchName)
	}
	return out
}

func TestHostNetworkSystemSwitchesAndPortGroups(t *testing.T) {
	f, host := hostCfgFixture(t)
	ns, err := host.ConfigManager().NetworkSystem(f.ctx)
	mustOK(t, err)

	if got := portGroupNames(t, f, ns); !slices.Equal(got, []string{"VM Network@vSwitch0", "Management Network@vSwitch0"}) {
		t.Fatalf("port groups %v", got)
	}
	mustOK(t, ns.AddVirtualSwitch(f.ctx, "vSwitch1", &types.HostVirtualSwitchSpec{NumPorts: 64}))
	wantFault(t, ns.AddVirtualSwitch(f.ctx, "vSwitch1", nil), &types.AlreadyExists{})
	mustOK(t, ns.AddPortGroup(f.ctx, types.HostPortGroupSpec{Name: "backend", VswitchName: "vSwitch1", VlanId: 20}))
	wantFault(t, ns.AddPortGroup(f.ctx, types.HostPortGroupSpec{Name: "backend", VswitchName: "vSwitch1"}), &types.AlreadyExists{})
	wantFault(t, ns.AddPortGroup(f.ctx, types.HostPortGroupSpec{Name: "x", VswitchName: "nope"}), &types.NotFound{})

	// The host joined the datacenter network "backend".
	var h mo.HostSystem
	f.props(host.Reference(), &h, "network", "config.network")
	var names []string
	for _, r := range h.Network {
		var n mo.Network
		f.props(r, &n, "name", "host")
		names = append(names, n.Name)
		if !slices.Contains(n.Host, host.Reference()) {
			t.Errorf("network %s does not list the host", n.Name)
		}
	}
	if !slices.Contains(names, "backend") {
		t.Errorf("host networks %v, want backend", names)
	}
	if got := portGroupNames(t, f, ns); !slices.Contains(got, "backend@vSwitch1") {
		t.Errorf("port groups %v", got)
	}

	mustOK(t, ns.UpdatePortGroup(f.ctx, "backend", types.HostPortGroupSpec{Name: "backend2", VswitchName: "vSwitch1"}))
	if got := portGroupNames(t, f, ns); !slices.Contains(got, "backend2@vSwitch1") || slices.Contains(got, "backend@vSwitch1") {
		t.Errorf("after rename, port groups %v", got)
	}
	wantFault(t, ns.RemovePortGroup(f.ctx, "Management Network"), &types.ResourceInUse{})
	wantFault(t, ns.RemovePortGroup(f.ctx, "nope"), &types.NotFound{})
	mustOK(t, ns.RemoveVirtualSwitch(f.ctx, "vSwitch1"))
	if got := portGroupNames(t, f, ns); slices.Contains(got, "backend2@vSwitch1") {
		t.Errorf("port group survived its switch: %v", got)
	}
	wantFault(t, ns.RemoveVirtualSwitch(f.ctx, "vSwitch1"), &types.NotFound{})

	// The host's config.network is the network system's networkInfo.
	f.props(host.Reference(), &h, "config.network")
	var m mo.HostNetworkSystem
	f.props(ns.Reference(), &m, "networkInfo")
	if len(h.Config.Network.Vswitch) != len(m.NetworkInfo.Vswitch) || len(h.Config.Network.Portgroup) != len(m.NetworkInfo.Portgroup) {
		t.Errorf("host has %d switches %d groups, network system %d %d", len(h.Config.Network.Vswitch),
			len(h.Config.Network.Portgroup), len(m.NetworkInfo.Vswitch), len(m.NetworkInfo.Portgroup))
	}

	hints, err := ns.QueryNetworkHint(f.ctx, nil)
	mustOK(t, err)
	if len(hints) == 0 || hints[0].Device == "" {
		t.Errorf("hints %+v", hints)
	}
}

func TestHostStorageAndDatastoreSystems(t *testing.T) {
	f, host := hostCfgFixture(t)
	ss, err := host.ConfigManager().StorageSystem(f.ctx)
	mustOK(t, err)
	mustOK(t, ss.RescanAllHba(f.ctx))
	mustOK(t, ss.RescanVmfs(f.ctx))
	mustOK(t, ss.Refresh(f.ctx))
	var m mo.HostStorageSystem
	f.props(ss.Reference(), &m)
	if m.StorageDeviceInfo == nil || len(m.StorageDeviceInfo.ScsiLun) == 0 || len(m.StorageDeviceInfo.HostBusAdapter) == 0 {
		t.Errorf("storageDeviceInfo %+v", m.StorageDeviceInfo)
	}
	if len(m.FileSystemVolumeInfo.MountInfo) != 2 {
		t.Errorf("%d mounts, want the host's 2", len(m.FileSystemVolumeInfo.MountInfo))
	}

	ds, err := host.ConfigManager().DatastoreSystem(f.ctx)
	mustOK(t, err)
	var d mo.HostDatastoreSystem
	f.props(ds.Reference(), &d)
	if len(d.Datastore) != 2 || !d.Capabilities.LocalDatastoreSupported {
		t.Errorf("datastore system %+v", d)
	}
	disks, err := ds.QueryAvailableDisksForVmfs(f.ctx)
	if err != nil || len(disks) != 0 {
		t.Errorf("QueryAvailableDisksForVmfs = %v, %v", disks, err)
	}
}

func TestHostAdvancedOptions(t *testing.T) {
	f, host := hostCfgFixture(t)
	om, err := host.ConfigManager().OptionManager(f.ctx)
	mustOK(t, err)
	opts, err := om.Query(f.ctx, "Config.HostAgent.log.")
	mustOK(t, err)
	if len(opts) != 1 || opts[0].GetOptionValue().Value != "info" {
		t.Fatalf("Config.HostAgent.log. = %+v", opts)
	}
	_, err = om.Query(f.ctx, "Config.HostAgent.plugins.solo.ENOENT")
	wantFault(t, err, &types.InvalidName{})
	mustOK(t, om.Update(f.ctx, []types.BaseOptionValue{&types.OptionValue{Key: "Config.HostAgent.log.level", Value: "verbose"}}))
	opts, err = om.Query(f.ctx, "Config.HostAgent.log.level")
	mustOK(t, err)
	if opts[0].GetOptionValue().Value != "verbose" {
		t.Errorf("after update %+v", opts[0])
	}
	wantFault(t, om.Update(f.ctx, []types.BaseOptionValue{&types.OptionValue{Key: "Config.HostAgent.log.level", Value: int32(3)}}), &types.InvalidArgument{})
	wantFault(t, om.Update(f.ctx, []types.BaseOptionValue{&types.OptionValue{Key: "No.Such.Key", Value: "x"}}), &types.InvalidName{})

	// The vCenter settings are unaffected.
	vpx := object.NewOptionManager(f.c, *f.c.ServiceContent.Setting)
	if _, err := vpx.Query(f.ctx, "Config.HostAgent.log.level"); err == nil {
		t.Error("the vCenter settings list a host setting")
	}
}

func TestHostVirtualNicManager(t *testing.T) {
	f, host := hostCfgFixture(t)
	m, err := host.ConfigManager().VirtualNicManager(f.ctx)
	mustOK(t, err)
	info, err := m.Info(f.ctx)
	mustOK(t, err)
	if len(info.NetConfig) == 0 {
		t.Fatal("no netConfig")
	}
	mustOK(t, m.SelectVnic(f.ctx, "vmotion", "vmk0"))
	nc, err := queryNetConfig(f, m, "vmotion")
	mustOK(t, err)
	if len(nc.SelectedVnic) != 1 {
		t.Errorf("vmotion selected %v", nc.SelectedVnic)
	}
	mustOK(t, m.DeselectVnic(f.ctx, "vmotion", "vmk0"))
	nc, err = queryNetConfig(f, m, "vmotion")
	mustOK(t, err)
	if len(nc.SelectedVnic) != 0 {
		t.Errorf("vmotion still selected %v", nc.SelectedVnic)
	}
	wantFault(t, m.SelectVnic(f.ctx, "vmotion", "vmk9"), &types.InvalidArgument{})
}

func TestHostManagersSurviveRestart(t *testing.T) {
	f, host := hostCfgFixture(t)
	ns, err := host.ConfigManager().NetworkSystem(f.ctx)
	mustOK(t, err)
	mustOK(t, ns.AddVirtualSwitch(f.ctx, "vSwitch9", nil))
	dir := f.srv.DataDir
	f.srv.Close()

	g := newInv(t, testserver.WithDataDir(dir))
	host = object.NewHostSystem(g.c, host.Reference())
	ns, err = host.ConfigManager().NetworkSystem(g.ctx)
	mustOK(t, err)
	var m mo.HostNetworkSystem
	g.props(ns.Reference(), &m, "networkInfo")
	if !slices.ContainsFunc(m.NetworkInfo.Vswitch, func(v types.HostVirtualSwitch) bool { return v.Name == "vSwitch9" }) {
		t.Errorf("vSwitch9 lost in restart: %+v", m.NetworkInfo.Vswitch)
	}
	if _, err := host.ConfigManager().StorageSystem(g.ctx); err != nil {
		t.Error(err)
	}
	var c mo.ClusterComputeResource
	var h mo.HostSystem
	g.props(host.Reference(), &h, "parent")
	g.props(*h.Parent, &c, "environmentBrowser")
	if c.EnvironmentBrowser == nil {
		t.Fatal("cluster has no environment browser after restart")
	}
	if _, err := object.NewEnvironmentBrowser(g.c, *c.EnvironmentBrowser).QueryConfigOptionDescriptor(g.ctx); err != nil {
		t.Error(err)
	}
}

func queryNetConfig(f *invFixture, m *object.HostVirtualNicManager, nicType string) (*types.VirtualNicManagerNetConfig, error) {
	res, err := methods.QueryNetConfig(f.ctx, f.c, &types.QueryNetConfig{This: m.Reference(), NicType: nicType})
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}
