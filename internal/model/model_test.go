package model_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/app"
	"github.com/vireo-project/vireo/internal/model"
	"github.com/vireo-project/vireo/internal/testserver"
)

// The testdata/*.tsv files are vcsim v0.46.3's inventories for the same
// flags, dumped with `govc find -l /` (path TAB type, sorted), with the
// uplink port group's MoRef number replaced by N and vcsim's switch type
// "DistributedVirtualSwitch" replaced by vCenter's
// "VmwareDistributedVirtualSwitch".
func TestBuildMatchesVcsim(t *testing.T) {
	tests := []struct {
		name  string
		flags string
		model func() model.Model
	}{
		{"default", "(none)", model.VPX},
		{"folders", "-dc 2 -folder 1 -cluster 1 -host 1 -standalone-host 1 -vm 1 -pool 1 -ds 2 -pg 2", func() model.Model {
			m := model.VPX()
			m.Datacenter, m.Folder, m.Cluster, m.ClusterHost, m.Host, m.Machine, m.Pool, m.Datastore, m.Portgroup = 2, 1, 1, 1, 1, 1, 1, 2, 2
			return m
		}},
		{"clusters", "-cluster 2 -host 4 -vm 3 -standalone-host 0 -pg 0", func() model.Model {
			m := model.VPX()
			m.Cluster, m.ClusterHost, m.Machine, m.Host, m.Portgroup = 2, 4, 3, 0, 0
			return m
		}},
		{"pods", "-pod 1 -ds 3 -cluster 2 -folder 1", func() model.Model {
			m := model.VPX()
			m.Pod, m.Datastore, m.Cluster, m.Folder = 1, 3, 2, 1
			return m
		}},
		{"esx", "-esx", model.ESX},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model()
			s := newServer(t, m.ESX)
			if err := model.Build(context.Background(), s.Service(), m); err != nil {
				t.Fatalf("Build: %v", err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", tc.name+".tsv"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(inventory(t, s), "\n") + "\n"
			if got != string(want) {
				t.Errorf("inventory for vcsim flags %s differs from vcsim's\n got:\n%s\nwant:\n%s", tc.flags, got, want)
			}
		})
	}
}

// TestBuildPlacement checks what vcsim's model promises beyond names: VMs
// are powered on (or off without Autostart) with a disk and a NIC on the
// first port group, every host of a datacenter mounts every LocalDS_N and
// is a member of DVS0.
func TestBuildPlacement(t *testing.T) {
	for _, autostart := range []bool{true, false} {
		t.Run(fmt.Sprintf("autostart=%v", autostart), func(t *testing.T) {
			m := model.VPX()
			m.Datastore, m.Autostart = 2, autostart
			s := newServer(t, false)
			ctx := context.Background()
			if err := model.Build(ctx, s.Service(), m); err != nil {
				t.Fatalf("Build: %v", err)
			}
			c := s.Client.Client
			v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Destroy(ctx)

			var vms []mo.VirtualMachine
			if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState", "network", "datastore", "config.hardware.device"}, &vms); err != nil {
				t.Fatal(err)
			}
			if len(vms) != 4 {
				t.Fatalf("%d VMs, want 4", len(vms))
			}
			want := types.VirtualMachinePowerStatePoweredOff
			if autostart {
				want = types.VirtualMachinePowerStatePoweredOn
			}
			pc := property.DefaultCollector(c)
			for _, vm := range vms {
				if vm.Runtime.PowerState != want {
					t.Errorf("%s is %s, want %s", vm.Name, vm.Runtime.PowerState, want)
				}
				if names := entityNames(t, pc, vm.Network); !slices.Equal(names, []string{"DC0_DVPG0"}) {
					t.Errorf("%s is on networks %v, want [DC0_DVPG0]", vm.Name, names)
				}
				if names := entityNames(t, pc, vm.Datastore); !slices.Equal(names, []string{"LocalDS_0"}) {
					t.Errorf("%s is on datastores %v, want [LocalDS_0]", vm.Name, names)
				}
				disks := 0
				for _, d := range vm.Config.Hardware.Device {
					if _, ok := d.(*types.VirtualDisk); ok {
						disks++
					}
				}
				if disks != 1 {
					t.Errorf("%s has %d disks, want 1", vm.Name, disks)
				}
			}

			var hosts []mo.HostSystem
			if err := v.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "datastore", "network"}, &hosts); err != nil {
				t.Fatal(err)
			}
			if len(hosts) != 4 {
				t.Fatalf("%d hosts, want 4", len(hosts))
			}
			for _, h := range hosts {
				if names := entityNames(t, pc, h.Datastore); !slices.Equal(names, []string{"LocalDS_0", "LocalDS_1"}) {
					t.Errorf("host %s mounts %v, want [LocalDS_0 LocalDS_1]", h.Name, names)
				}
				if names := entityNames(t, pc, h.Network); !slices.Contains(names, "DC0_DVPG0") || !slices.Contains(names, "VM Network") {
					t.Errorf("host %s is on networks %v, want VM Network and DC0_DVPG0 among them", h.Name, names)
				}
			}
		})
	}
}

// newServer starts a test server in vcsim mode.
func newServer(t *testing.T, esx bool) *testserver.Server {
	t.Helper()
	return testserver.New(t, func(c *app.Config) { c.Sim = &app.SimOptions{ESX: esx} })
}

// inventory lists every managed entity as govc find -l does: its inventory
// path, a tab and its type, sorted, with uplink port group numbers as N.
func inventory(t *testing.T, s *testserver.Server) []string {
	t.Helper()
	ctx := context.Background()
	c := s.Client.Client
	v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Destroy(ctx)
	var ents []types.ObjectContent
	if err := v.Retrieve(ctx, []string{"ManagedEntity"}, []string{"name", "parent"}, &ents); err != nil {
		t.Fatal(err)
	}
	byRef := map[types.ManagedObjectReference]types.ObjectContent{}
	for _, e := range ents {
		byRef[e.Obj] = e
	}
	var pathOf func(types.ManagedObjectReference) string
	pathOf = func(r types.ManagedObjectReference) string {
		e, ok := byRef[r]
		parent, _ := prop(e, "parent").(types.ManagedObjectReference)
		if !ok || parent.Value == "" {
			return "/"
		}
		name, _ := prop(e, "name").(string)
		return path.Join(pathOf(parent), name)
	}
	uplink := regexp.MustCompile(`DVUplinks-[0-9]+`)
	lines := []string{"/\tFolder"}
	for _, e := range ents {
		lines = append(lines, uplink.ReplaceAllString(pathOf(e.Obj), "DVUplinks-N")+"\t"+e.Obj.Type)
	}
	sort.Strings(lines)
	return lines
}

// entityNames returns the sorted names of refs.
func entityNames(t *testing.T, pc *property.Collector, refs []types.ManagedObjectReference) []string {
	t.Helper()
	if len(refs) == 0 {
		return nil
	}
	var ents []types.ObjectContent
	if err := pc.Retrieve(context.Background(), refs, []string{"name"}, &ents); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		name, _ := prop(e, "name").(string)
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// prop returns the value of the property name in oc, or nil.
func prop(oc types.ObjectContent, name string) any {
	for _, p := range oc.PropSet {
		if p.Name == name {
			return p.Val
		}
	}
	return nil
}

// BenchmarkBuild measures building a model of 2 clusters of 10 hosts with
// 100 powered-on VMs each.
func BenchmarkBuild(b *testing.B) {
	m := model.VPX()
	m.Cluster, m.ClusterHost, m.Machine, m.Host = 2, 10, 100, 0
	for b.Loop() {
		b.StopTimer()
		s := testserver.New(b, func(c *app.Config) { c.Sim = &app.SimOptions{} })
		b.StartTimer()
		if err := model.Build(context.Background(), s.Service(), m); err != nil {
			b.Fatal(err)
		}
	}
}
