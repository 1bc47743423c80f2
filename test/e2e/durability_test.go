package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// volatile lists the properties that legitimately differ after a restart,
// as "Type:path" ("*" for every type), with the reason. Everything else must
// come back exactly as it was.
var volatile = map[string]string{
	// Tasks are not inventory: recentTask lists the tasks of the running
	// server's recent past, and a restarted vCenter starts with none.
	"*:recentTask": "tasks of the previous server process",
	// Counters of time passing, not state: they grow between the two reads.
	"VirtualMachine:summary.quickStats.uptimeSeconds": "grows with time",
	"HostSystem:summary.quickStats.uptime":            "grows with time",
	// Measurements: each host's 20-second samples set them, and they are
	// measured again, not stored, after a restart (Txn.Volatile).
	"VirtualMachine:summary.quickStats.overallCpuUsage":  "a host's sample",
	"VirtualMachine:summary.quickStats.guestMemoryUsage": "a host's sample",
	"HostSystem:summary.quickStats.overallCpuUsage":      "a host's sample",
	"HostSystem:summary.quickStats.overallMemoryUsage":   "a host's sample",
}

// TestDurability builds inventory with the govmomi client, kills the server
// with SIGKILL, restarts it on the same data directory, and requires every
// object's every property (RetrieveProperties with all=true over the whole
// inventory) to be what it was.
func TestDurability(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{demo: true})
	ctx := testContext(t)
	c := s.client(t)
	buildDurabilityInventory(ctx, t, c)

	before := snapshotInventory(ctx, t, c)
	s.kill(t)
	s2 := startServer(t, serverConfig{dataDir: s.DataDir})
	c2 := s2.client(t)
	after := snapshotInventory(ctx, t, c2)
	compareSnapshots(t, before, after)

	// The restarted server keeps working on the recovered inventory.
	f := find.NewFinder(c2.Client)
	vm, err := f.VirtualMachine(ctx, "/Datacenter/vm/dur-vms/dur-vm-renamed")
	if err != nil {
		t.Fatalf("find the renamed VM after restart: %v", err)
	}
	waitTask(ctx, t, "PowerOffVM_Task after restart", func() (*object.Task, error) { return vm.PowerOff(ctx) })
}

// buildDurabilityInventory creates a datacenter, folders, a cluster with DRS
// settings, a resource pool, VMs in several power states, a rename, a move
// and a deletion.
func buildDurabilityInventory(ctx context.Context, t *testing.T, c *govmomi.Client) {
	t.Helper()
	root := object.NewRootFolder(c.Client)
	dc, err := root.CreateDatacenter(ctx, "dur-dc")
	if err != nil {
		t.Fatalf("CreateDatacenter: %v", err)
	}
	dcFolders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dcFolders.VmFolder.CreateFolder(ctx, "dur-folder"); err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	gone, err := dcFolders.VmFolder.CreateFolder(ctx, "dur-deleted")
	if err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	waitTask(ctx, t, "Destroy_Task of a folder", func() (*object.Task, error) { return gone.Destroy(ctx) })
	cluster, err := dcFolders.HostFolder.CreateCluster(ctx, "dur-cluster", types.ClusterConfigSpecEx{})
	if err != nil {
		t.Fatalf("CreateClusterEx: %v", err)
	}
	waitTask(ctx, t, "ReconfigureComputeResource_Task", func() (*object.Task, error) {
		return cluster.Reconfigure(ctx, &types.ClusterConfigSpecEx{
			DrsConfig: &types.ClusterDrsConfigInfo{Enabled: types.NewBool(true), DefaultVmBehavior: types.DrsBehaviorPartiallyAutomated, VmotionRate: 2},
			DasConfig: &types.ClusterDasConfigInfo{Enabled: types.NewBool(true)},
		}, true)
	})

	p := demoPlacement(ctx, t, c)
	spec := types.DefaultResourceConfigSpec()
	spec.CpuAllocation.Limit = types.NewInt64(2000)
	spec.MemoryAllocation.Reservation = types.NewInt64(256)
	pool, err := p.pool.Create(ctx, "dur-pool", spec)
	if err != nil {
		t.Fatalf("CreateResourcePool: %v", err)
	}
	vmFolder, err := p.folders.VmFolder.CreateFolder(ctx, "dur-vms")
	if err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	p.pool, p.folders.VmFolder = pool, vmFolder
	on, _ := p.createVM(ctx, t, c, "dur-vm")
	waitTask(ctx, t, "Rename_Task", func() (*object.Task, error) { return on.Rename(ctx, "dur-vm-renamed") })
	waitTask(ctx, t, "PowerOnVM_Task", func() (*object.Task, error) { return on.PowerOn(ctx) })
	suspended, _ := p.createVM(ctx, t, c, "dur-vm-suspended")
	waitTask(ctx, t, "PowerOnVM_Task", func() (*object.Task, error) { return suspended.PowerOn(ctx) })
	waitTask(ctx, t, "SuspendVM_Task", func() (*object.Task, error) { return suspended.Suspend(ctx) })
	off, _ := p.createVM(ctx, t, c, "dur-vm-off")
	waitTask(ctx, t, "ReconfigVM_Task", func() (*object.Task, error) {
		return off.Reconfigure(ctx, types.VirtualMachineConfigSpec{NumCPUs: 4, MemoryMB: 2048, Annotation: "kept across restarts"})
	})
	moved, err := p.folders.VmFolder.CreateFolder(ctx, "dur-moved")
	if err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	waitTask(ctx, t, "MoveIntoFolder_Task", func() (*object.Task, error) {
		return moved.MoveInto(ctx, []types.ManagedObjectReference{off.Reference()})
	})
}

// snapshot is every inventory object's properties, as JSON trees keyed by
// "Type:moref" and property name, plus the ServiceContent.
type snapshot struct {
	objects map[string]map[string]any
	content any
}

// snapshotInventory reads every managed entity (a recursive ContainerView
// over the root folder, plus the root folder) with RetrieveProperties and
// all=true.
func snapshotInventory(ctx context.Context, t *testing.T, c *govmomi.Client) *snapshot {
	t.Helper()
	v, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder, nil, true)
	if err != nil {
		t.Fatalf("CreateContainerView: %v", err)
	}
	defer func() { _ = v.Destroy(ctx) }()
	var cv mo.ContainerView
	if err := v.Properties(ctx, v.Reference(), []string{"view"}, &cv); err != nil {
		t.Fatalf("read the view: %v", err)
	}
	refs := append([]types.ManagedObjectReference{c.ServiceContent.RootFolder}, cv.View...)
	typeSet := map[string]bool{}
	var objs []types.ObjectSpec
	for _, r := range refs {
		typeSet[r.Type] = true
		objs = append(objs, types.ObjectSpec{Obj: r})
	}
	var props []types.PropertySpec
	for typ := range typeSet {
		props = append(props, types.PropertySpec{Type: typ, All: types.NewBool(true)})
	}
	res, err := methods.RetrieveProperties(ctx, c.Client, &types.RetrieveProperties{
		This:    c.ServiceContent.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{{ObjectSet: objs, PropSet: props}},
	})
	if err != nil {
		t.Fatalf("RetrieveProperties all=true: %v", err)
	}
	snap := &snapshot{objects: map[string]map[string]any{}, content: jsonTree(t, c.ServiceContent)}
	for _, oc := range res.Returnval {
		key := oc.Obj.Type + ":" + oc.Obj.Value
		if len(oc.MissingSet) > 0 {
			t.Errorf("%s: missingSet %v in an all=true retrieval", key, oc.MissingSet)
		}
		m := map[string]any{}
		for _, dp := range oc.PropSet {
			m[dp.Name] = jsonTree(t, dp.Val)
		}
		snap.objects[key] = m
	}
	if len(snap.objects) != len(refs) {
		t.Errorf("RetrieveProperties returned %d objects for %d references", len(snap.objects), len(refs))
	}
	t.Logf("snapshot: %d objects", len(snap.objects))
	return snap
}

// jsonTree converts a vim25 value to a generic JSON tree that keeps the
// vim25 type names of polymorphic values.
func jsonTree(t *testing.T, v any) any {
	t.Helper()
	var buf bytes.Buffer
	if err := types.NewJSONEncoder(&buf).Encode(v); err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	var tree any
	if err := json.Unmarshal(buf.Bytes(), &tree); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return tree
}

// compareSnapshots fails t for every difference between the snapshots.
func compareSnapshots(t *testing.T, before, after *snapshot) {
	t.Helper()
	for _, d := range diffSnapshots(before, after) {
		t.Error(d)
	}
}

// diffSnapshots describes every difference between two snapshots, one
// entry per object, leaving out the volatile properties.
func diffSnapshots(before, after *snapshot) []string {
	var out []string
	if d := diffTrees("content", before.content, after.content); len(d) > 0 {
		out = append(out, "ServiceContent differs after restart: "+strings.Join(d, "; "))
	}
	for _, k := range unionKeys(before.objects, after.objects) {
		b, inBefore := before.objects[k]
		a, inAfter := after.objects[k]
		switch {
		case !inAfter:
			out = append(out, fmt.Sprintf("%s (%v) is gone after restart", k, objName(b)))
			continue
		case !inBefore:
			out = append(out, fmt.Sprintf("%s (%v) appeared after restart", k, objName(a)))
			continue
		}
		typ, _, _ := strings.Cut(k, ":")
		b, a = stripVolatile(typ, b), stripVolatile(typ, a)
		var diffs []string
		for _, name := range unionKeys(b, a) {
			diffs = append(diffs, diffTrees(name, b[name], a[name])...)
		}
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		if len(diffs) > 0 {
			out = append(out, fmt.Sprintf("%s (%v) differs after restart:\n  %s", k, objName(b), strings.Join(diffs, "\n  ")))
		}
	}
	return out
}

// objName returns the name property in props, for messages.
func objName(props map[string]any) any {
	if m, ok := props["name"].(map[string]any); ok {
		return m["_value"]
	}
	return props["name"]
}

// stripVolatile returns props of an object of type typ without its
// volatile properties.
func stripVolatile(typ string, props map[string]any) map[string]any {
	out := make(map[string]any, len(props))
	for k, v := range props {
		out[k] = v
	}
	for path := range volatile {
		vt, vp, _ := strings.Cut(path, ":")
		if vt != "*" && vt != typ {
			continue
		}
		name, rest, nested := strings.Cut(vp, ".")
		if !nested {
			delete(out, name)
		} else if v, ok := out[name]; ok {
			out[name] = without(v, rest)
		}
	}
	return out
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// without returns a copy of tree with the dotted path removed.
func without(tree any, path string) any {
	m, ok := tree.(map[string]any)
	if !ok {
		return tree
	}
	head, rest, nested := strings.Cut(path, ".")
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	if !nested {
		delete(out, head)
	} else if v, ok := out[head]; ok {
		out[head] = without(v, rest)
	}
	return out
}

// diffTrees lists the paths at which two JSON trees differ.
func diffTrees(path string, a, b any) []string {
	if reflect.DeepEqual(a, b) {
		return nil
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		for _, k := range unionKeys(am, bm) {
			out = append(out, diffTrees(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		if sameElements(as, bs) {
			return []string{fmt.Sprintf("%s: same elements in a different order", path)}
		}
		var out []string
		for i := range as {
			out = append(out, diffTrees(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])...)
		}
		return out
	}
	return []string{fmt.Sprintf("%s: %s -> %s", path, short(a), short(b))}
}

func sameElements(a, b []any) bool {
	enc := func(s []any) []string {
		out := make([]string, len(s))
		for i, v := range s {
			j, _ := json.Marshal(v)
			out[i] = string(j)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(enc(a), enc(b))
}

func short(v any) string {
	if v == nil {
		return "(unset)"
	}
	j, _ := json.Marshal(v)
	if len(j) > 200 {
		return string(j[:200]) + "..."
	}
	return string(j)
}

// TestDiffSnapshots checks that the comparison of TestDurability catches
// what it must: changed nested values, reordered lists, lost and new
// objects, while ignoring only the volatile properties.
func TestDiffSnapshots(t *testing.T) {
	vm := func(mem int32, uptime int32, devices ...int32) map[string]any {
		var devs []types.BaseVirtualDevice
		for _, k := range devices {
			devs = append(devs, &types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: k}})
		}
		return map[string]any{
			"name":       jsonTree(t, "vm"),
			"config":     jsonTree(t, types.VirtualMachineConfigInfo{Hardware: types.VirtualHardware{MemoryMB: mem, Device: devs}}),
			"summary":    jsonTree(t, types.VirtualMachineSummary{QuickStats: types.VirtualMachineQuickStats{UptimeSeconds: uptime}}),
			"recentTask": jsonTree(t, []types.ManagedObjectReference{{Type: "Task", Value: "task-1"}}),
		}
	}
	snap := func(objs map[string]map[string]any) *snapshot {
		return &snapshot{objects: objs, content: jsonTree(t, types.AboutInfo{Version: "8.0.3"})}
	}
	base := snap(map[string]map[string]any{"VirtualMachine:vm-1": vm(512, 10, 1, 2)})
	for _, tc := range []struct {
		name  string
		after *snapshot
		want  string // "" for no difference
	}{
		{"identical", snap(map[string]map[string]any{"VirtualMachine:vm-1": vm(512, 10, 1, 2)}), ""},
		{"volatile only", snap(map[string]map[string]any{"VirtualMachine:vm-1": func() map[string]any {
			m := vm(512, 99, 1, 2)
			m["recentTask"] = jsonTree(t, []types.ManagedObjectReference{})
			return m
		}()}), ""},
		{"nested value", snap(map[string]map[string]any{"VirtualMachine:vm-1": vm(1024, 10, 1, 2)}), "config.hardware.memoryMB: 512 -> 1024"},
		{"order", snap(map[string]map[string]any{"VirtualMachine:vm-1": vm(512, 10, 2, 1)}), "config.hardware.device: same elements in a different order"},
		{"lost device", snap(map[string]map[string]any{"VirtualMachine:vm-1": vm(512, 10, 1)}), "config.hardware.device:"},
		{"gone", snap(map[string]map[string]any{}), "VirtualMachine:vm-1 (vm) is gone"},
		{"appeared", snap(map[string]map[string]any{"VirtualMachine:vm-1": vm(512, 10, 1, 2), "VirtualMachine:vm-2": vm(1, 1)}), "VirtualMachine:vm-2 (vm) appeared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(diffSnapshots(base, tc.after), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("diff = %q, want %q", got, tc.want)
			}
		})
	}
}
