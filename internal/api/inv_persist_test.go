package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/testserver"
	"github.com/vireo-project/vireo/internal/vim"
)

// inventoryTypes are the managed entity types this package builds.
var inventoryTypes = []string{"Folder", "Datacenter", "ClusterComputeResource", "ComputeResource", "HostSystem", "ResourcePool", "Datastore", "Network"}

// snapshot returns every inventory entity in its stored form, by MoRef.
// recentTask is left out: tasks live in memory only.
func snapshot(t *testing.T, f *invFixture) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, typ := range inventoryTypes {
		f.svc.Registry().Each(typ, func(o mo.Reference) bool {
			c := vim.DeepCopy(o)
			c.(mo.Entity).Entity().RecentTask = nil
			b, err := inventory.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			out[o.Reference().Value] = string(b)
			return true
		})
	}
	return out
}

func TestInventorySurvivesRestart(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	h1 := f.host(cluster, "esx-01")
	f.host(cluster, "esx-02")
	f.host(dc.HostFolder, "esx-03")
	backend, err := f.svc.CreateNetwork(f.ctx, testUser, dc.Self, "Backend")
	mustOK(t, err)
	var c mo.ClusterComputeResource
	f.props(cluster, &c)
	root := object.NewResourcePool(f.c, *c.ResourcePool)
	dev, err := root.Create(f.ctx, "dev", poolSpec(500))
	mustOK(t, err)
	_, err = dev.Create(f.ctx, "team a", poolSpec(0))
	mustOK(t, err)
	sub, err := f.folder(dc.VmFolder).CreateFolder(f.ctx, "apps/web")
	mustOK(t, err)
	mustOK(t, f.wait(sub.Rename(f.ctx, "apps")))
	mustOK(t, f.wait(object.NewClusterComputeResource(f.c, cluster).Reconfigure(f.ctx, &types.ClusterConfigSpecEx{
		DrsConfig: &types.ClusterDrsConfigInfo{Enabled: types.NewBool(true)},
		GroupSpec: []types.ClusterGroupSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info:            &types.ClusterHostGroup{ClusterGroupInfo: types.ClusterGroupInfo{Name: "g"}, Host: []types.ManagedObjectReference{h1}},
		}},
	}, true)))
	mustOK(t, f.wait(object.NewHostSystem(f.c, h1).EnterMaintenanceMode(f.ctx, 0, false, nil)))

	before := snapshot(t, f)
	if len(before) < 20 {
		t.Fatalf("only %d objects built", len(before))
	}
	dir := f.srv.DataDir
	f.srv.Close()

	g := newInv(t, testserver.WithDataDir(dir))
	after := snapshot(t, g)
	for id, want := range before {
		if got, ok := after[id]; !ok {
			t.Errorf("%s missing after restart", id)
		} else if got != want {
			t.Errorf("%s changed across the restart: %s", id, jsonDiff(want, got))
		}
	}
	for id := range after {
		if _, ok := before[id]; !ok {
			t.Errorf("%s appeared after restart", id)
		}
	}
	// New objects do not reuse MoRefs.
	n, err := g.svc.CreateNetwork(g.ctx, testUser, dc.Self, "Frontend")
	mustOK(t, err)
	if _, dup := before[n.Value]; dup {
		t.Errorf("new network reused MoRef %s", n.Value)
	}
	// The client sees the restored names through the property collector
	// (a network's name is stored twice, see inventory.Decode).
	var net mo.Network
	g.props(backend, &net, "name", "summary")
	if net.Name != "Backend" || g.svc.Registry().Get(backend).(mo.Entity).Entity().Name != "Backend" {
		t.Errorf("restored network name %q / entity name %q", net.Name, g.svc.Registry().Get(backend).(mo.Entity).Entity().Name)
	}
	var host mo.HostSystem
	g.props(h1, &host, "name", "runtime.inMaintenanceMode")
	if host.Name != "esx-01" || !host.Runtime.InMaintenanceMode {
		t.Errorf("restored host %q maintenance %v", host.Name, host.Runtime.InMaintenanceMode)
	}
}

// jsonDiff names the top-level properties that differ between two stored
// objects, with both values.
func jsonDiff(a, b string) string {
	var ma, mb map[string]any
	if json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
		return "before " + a + "\nafter  " + b
	}
	var out []string
	for k, va := range ma {
		if vb := mb[k]; !reflect.DeepEqual(va, vb) {
			ja, _ := json.Marshal(va)
			jb, _ := json.Marshal(vb)
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, ja, jb))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
