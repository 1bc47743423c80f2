package api_test

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
)

// podFx is a vmFx with a datastore cluster "pod" in DC0 holding shared and
// LocalDS_0.
type podFx struct {
	*vmFx
	srm *object.StorageResourceManager
	pod *object.StoragePod
}

func newPodFx(t *testing.T, sdrs bool) *podFx {
	t.Helper()
	f := &podFx{vmFx: newVMFx(t)}
	f.srm = object.NewStorageResourceManager(f.c)
	var err error
	if f.pod, err = object.NewFolder(f.c, f.dc.DatastoreFolder).CreateStoragePod(f.ctx, "pod"); err != nil {
		t.Fatal(err)
	}
	members := []types.ManagedObjectReference{datastoreNamed(t, f.vmFx, "shared"), datastoreNamed(t, f.vmFx, "LocalDS_0")}
	f.must(f.wait(f.pod.MoveInto(f.ctx, members)))
	if sdrs {
		f.must(f.configure(types.StorageDrsConfigSpec{PodConfigSpec: &types.StorageDrsPodConfigSpec{Enabled: types.NewBool(true)}}, true))
	}
	return f
}

func (f *podFx) configure(spec types.StorageDrsConfigSpec, modify bool) error {
	return f.wait(f.srm.ConfigureStorageDrsForPod(f.ctx, f.pod, spec, modify))
}

// podConfig returns the pod's Storage DRS configuration as a client sees it.
func (f *podFx) podConfig() types.StorageDrsConfigInfo {
	f.t.Helper()
	var p mo.StoragePod
	if err := property.DefaultCollector(f.c).RetrieveOne(f.ctx, f.pod.Reference(), []string{"podStorageDrsEntry"}, &p); err != nil {
		f.t.Fatal(err)
	}
	return p.PodStorageDrsEntry.StorageDrsConfig
}

func TestConfigureStorageDrsForPod(t *testing.T) {
	f := newPodFx(t, false)
	if f.podConfig().PodConfig.Enabled {
		t.Fatal("a new datastore cluster has Storage DRS on")
	}
	vm := f.create(vmSpec("vm1")).Reference()
	err := f.configure(types.StorageDrsConfigSpec{
		PodConfigSpec: &types.StorageDrsPodConfigSpec{Enabled: types.NewBool(true), DefaultVmBehavior: "automated",
			SpaceLoadBalanceConfig: &types.StorageDrsSpaceLoadBalanceConfig{SpaceUtilizationThreshold: 90}},
		VmConfigSpec: []types.StorageDrsVmConfigSpec{{ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info: &types.StorageDrsVmConfigInfo{Vm: &vm, Enabled: types.NewBool(false)}}},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	check := func(c types.StorageDrsConfigInfo) {
		t.Helper()
		pc := c.PodConfig
		if !pc.Enabled || pc.DefaultVmBehavior != "automated" || pc.SpaceLoadBalanceConfig.SpaceUtilizationThreshold != 90 ||
			pc.SpaceLoadBalanceConfig.MinSpaceUtilizationDifference != 5 || pc.LoadBalanceInterval != 480 {
			t.Errorf("pod config %+v, want SDRS on, automated, 90%% threshold, other defaults kept", pc)
		}
		if len(c.VmConfig) != 1 || *c.VmConfig[0].Vm != vm {
			t.Errorf("vm config %+v, want vm1's override", c.VmConfig)
		}
	}
	check(f.podConfig())
	g := f.reopen() // the configuration is persisted
	check(g.podConfig())

	// Without modify the spec replaces the configuration.
	g.must(g.configure(types.StorageDrsConfigSpec{PodConfigSpec: &types.StorageDrsPodConfigSpec{Enabled: types.NewBool(true)}}, false))
	if c := g.podConfig(); c.PodConfig.DefaultVmBehavior != "manual" || len(c.VmConfig) != 0 {
		t.Errorf("after a full replace: %+v, want defaults", c)
	}
}

// reopen returns a fixture for a server on f's data directory.
func (f *podFx) reopen() *podFx {
	g := f.vmFx.reopen()
	return &podFx{vmFx: g, srm: object.NewStorageResourceManager(g.c), pod: object.NewStoragePod(g.c, f.pod.Reference())}
}

func TestConfigureStorageDrsForPodFaults(t *testing.T) {
	f := newPodFx(t, false)
	tests := []struct {
		name string
		spec types.StorageDrsPodConfigSpec
	}{
		{"behavior", types.StorageDrsPodConfigSpec{DefaultVmBehavior: "sometimes"}},
		{"threshold", types.StorageDrsPodConfigSpec{SpaceLoadBalanceConfig: &types.StorageDrsSpaceLoadBalanceConfig{SpaceUtilizationThreshold: 20}}},
		{"interval", types.StorageDrsPodConfigSpec{LoadBalanceInterval: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vmFault(t, f.configure(types.StorageDrsConfigSpec{PodConfigSpec: &tt.spec}, true), &types.InvalidArgument{})
		})
	}
	if f.podConfig().PodConfig.DefaultVmBehavior != "manual" {
		t.Error("a refused spec changed the configuration")
	}
}

// createPlacement is a create request for a VM with a 1 GB disk in the pod.
func (f *podFx) createPlacement(name string, host *types.ManagedObjectReference) types.StoragePlacementSpec {
	spec := vmSpec(name, add(lsiLogic(-100)), addFile(newDisk(-100, 1<<20, "")))
	spec.Files = nil
	pod := f.pod.Reference()
	return types.StoragePlacementSpec{
		Type: string(types.StoragePlacementSpecPlacementTypeCreate), ResourcePool: &f.pool, Host: host,
		PodSelectionSpec: types.StorageDrsPodSelectionSpec{StoragePod: &pod},
		ConfigSpec:       &spec,
	}
}

func destinations(res *types.StoragePlacementResult) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, r := range res.Recommendations {
		out = append(out, r.Action[0].(*types.StoragePlacementAction).Destination)
	}
	return out
}

func TestRecommendDatastores(t *testing.T) {
	f := newPodFx(t, true)
	shared, local0 := datastoreNamed(t, f.vmFx, "shared"), datastoreNamed(t, f.vmFx, "LocalDS_0")

	res, err := f.srm.RecommendDatastores(f.ctx, f.createPlacement("vm1", nil))
	if err != nil {
		t.Fatal(err)
	}
	got := destinations(res)
	if len(got) != 2 || !containsAll(got, shared, local0) {
		t.Fatalf("destinations %v, want shared and LocalDS_0", got)
	}
	for i, r := range res.Recommendations {
		if r.Target == nil || *r.Target != f.pod.Reference() || r.Reason != "storagePlacement" || r.Key == "" {
			t.Errorf("recommendation %d = %+v", i, r)
		}
	}

	// On h1 only the shared datastore is reachable.
	res, err = f.srm.RecommendDatastores(f.ctx, f.createPlacement("vm1", &f.h1))
	if err != nil {
		t.Fatal(err)
	}
	if got := destinations(res); len(got) != 1 || got[0] != shared {
		t.Errorf("destinations from h1 %v, want only shared", got)
	}

	// Nothing fits a disk larger than any datastore.
	huge := f.createPlacement("vm1", nil)
	huge.ConfigSpec.DeviceChange[1].GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk).CapacityInKB = 1 << 50
	res, err = f.srm.RecommendDatastores(f.ctx, huge)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recommendations) != 0 || res.DrsFault == nil || len(res.DrsFault.FaultsByVm) != 1 {
		t.Errorf("result %+v, want no recommendation and a DRS fault", res)
	}
}

func containsAll(refs []types.ManagedObjectReference, want ...types.ManagedObjectReference) bool {
	for _, w := range want {
		found := false
		for _, r := range refs {
			found = found || r == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestRecommendDatastoresFaults(t *testing.T) {
	f := newPodFx(t, false)
	_, err := f.srm.RecommendDatastores(f.ctx, f.createPlacement("vm1", nil))
	vmFault(t, err, &types.InvalidArgument{}) // Storage DRS is off

	f.must(f.configure(types.StorageDrsConfigSpec{PodConfigSpec: &types.StorageDrsPodConfigSpec{Enabled: types.NewBool(true)}}, true))
	tests := []struct {
		name   string
		change func(*types.StoragePlacementSpec)
		want   types.BaseMethodFault
	}{
		{"no type", func(s *types.StoragePlacementSpec) { s.Type = "" }, &types.InvalidArgument{}},
		{"no pool", func(s *types.StoragePlacementSpec) { s.ResourcePool = nil }, &types.InvalidArgument{}},
		{"no config", func(s *types.StoragePlacementSpec) { s.ConfigSpec = nil }, &types.InvalidArgument{}},
		{"no pod", func(s *types.StoragePlacementSpec) { s.PodSelectionSpec.StoragePod = nil }, &types.InvalidArgument{}},
		{"unknown disk", func(s *types.StoragePlacementSpec) {
			s.PodSelectionSpec.InitialVmConfig = []types.VmPodConfigForPlacement{{StoragePod: f.pod.Reference(), Disk: []types.PodDiskLocator{{DiskId: 42}}}}
		}, &types.InvalidArgument{}},
		{"relocate without vm", func(s *types.StoragePlacementSpec) { s.Type = "relocate" }, &types.InvalidArgument{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := f.createPlacement("vm1", nil)
			tt.change(&spec)
			_, err := f.srm.RecommendDatastores(f.ctx, spec)
			vmFault(t, err, tt.want)
		})
	}
}

func TestApplyStorageDrsRecommendation(t *testing.T) {
	f := newPodFx(t, true)
	res, err := f.srm.RecommendDatastores(f.ctx, f.createPlacement("placed", &f.h1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recommendations) == 0 {
		t.Fatal("no recommendation")
	}
	rec := res.Recommendations[0]
	dest := rec.Action[0].(*types.StoragePlacementAction).Destination
	task, err := f.srm.ApplyStorageDrsRecommendation(f.ctx, []string{rec.Key})
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	vmRef := info.Result.(types.ApplyStorageRecommendationResult).Vm
	if vmRef == nil {
		t.Fatal("the result names no VM")
	}
	vm := f.vm(object.NewVirtualMachine(f.c, *vmRef))
	if vm.Name != "placed" || len(vm.Datastore) != 1 || vm.Datastore[0] != dest || *vm.Runtime.Host != f.h1 {
		t.Errorf("VM %s on %v, host %v; want placed on %v, h1", vm.Name, vm.Datastore, vm.Runtime.Host, dest)
	}

	// The recommendation is used up.
	_, err = f.srm.ApplyStorageDrsRecommendation(f.ctx, []string{rec.Key})
	vmFault(t, err, &types.InvalidArgument{})
}

func TestCancelStorageDrsRecommendation(t *testing.T) {
	f := newPodFx(t, true)
	res, err := f.srm.RecommendDatastores(f.ctx, f.createPlacement("vm1", nil))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{res.Recommendations[0].Key}
	f.must(f.srm.CancelStorageDrsRecommendation(f.ctx, keys))
	vmFault(t, f.srm.CancelStorageDrsRecommendation(f.ctx, keys), &types.InvalidArgument{})
	_, err = f.srm.ApplyStorageDrsRecommendation(f.ctx, keys)
	vmFault(t, err, &types.InvalidArgument{})
}

func TestRefreshStorageDrsRecommendation(t *testing.T) {
	f := newPodFx(t, false)
	vmFault(t, f.srm.RefreshStorageDrsRecommendation(f.ctx, f.pod), &types.InvalidState{})
	f.must(f.configure(types.StorageDrsConfigSpec{PodConfigSpec: &types.StorageDrsPodConfigSpec{Enabled: types.NewBool(true)}}, true))

	vm := f.create(vmSpec("vm1")).Reference() // its files on LocalDS_0
	local0, shared := datastoreNamed(t, f.vmFx, "LocalDS_0"), datastoreNamed(t, f.vmFx, "shared")
	f.setSpace(local0, 100<<30, 5<<30) // 95% used, over the 80% threshold
	f.setSpace(shared, 100<<30, 90<<30)
	f.must(f.srm.RefreshStorageDrsRecommendation(f.ctx, f.pod))

	var p mo.StoragePod
	f.must(property.DefaultCollector(f.c).RetrieveOne(f.ctx, f.pod.Reference(), []string{"podStorageDrsEntry"}, &p))
	recs := p.PodStorageDrsEntry.Recommendation
	if len(recs) != 1 || len(recs[0].Action) != 1 {
		t.Fatalf("recommendations %+v, want one migration", recs)
	}
	m, ok := recs[0].Action[0].(*types.StorageMigrationAction)
	if !ok || m.Vm != vm || m.Source != local0 || m.Destination != shared {
		t.Fatalf("action %+v, want vm1 from LocalDS_0 to shared", recs[0].Action[0])
	}

	f.must(f.wait(f.srm.ApplyStorageDrsRecommendationToPod(f.ctx, f.pod, recs[0].Key)))
	if o := f.vm(object.NewVirtualMachine(f.c, vm)); len(o.Datastore) != 1 || o.Datastore[0] != shared {
		t.Errorf("vm1 on %v after the migration, want shared", o.Datastore)
	}
	f.must(property.DefaultCollector(f.c).RetrieveOne(f.ctx, f.pod.Reference(), []string{"podStorageDrsEntry"}, &p))
	if n := len(p.PodStorageDrsEntry.Recommendation); n != 0 {
		t.Errorf("%d recommendations left after applying the only one", n)
	}
}

// setSpace sets a datastore's capacity and free space in the inventory, as
// a measurement would.
func (f *podFx) setSpace(ds types.ManagedObjectReference, capacity, free int64) {
	f.t.Helper()
	f.must(f.svc.Registry().Update(f.ctx, func(tx *inventory.Txn) error {
		d := inventory.Edit[mo.Datastore](tx, ds)
		d.Summary.Capacity, d.Summary.FreeSpace = capacity, free
		return nil
	}))
}

func TestApplyCloneRecommendation(t *testing.T) {
	f := newPodFx(t, true)
	src := f.create(vmSpec("src")).Reference()
	pod, folder := f.pod.Reference(), f.dc.VmFolder
	res, err := f.srm.RecommendDatastores(f.ctx, types.StoragePlacementSpec{
		Type: string(types.StoragePlacementSpecPlacementTypeClone), Vm: &src, Folder: &folder, CloneName: "copy",
		CloneSpec: &types.VirtualMachineCloneSpec{}, PodSelectionSpec: types.StorageDrsPodSelectionSpec{StoragePod: &pod},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recommendations) == 0 {
		t.Fatalf("no recommendation: %+v", res.DrsFault)
	}
	rec := res.Recommendations[len(res.Recommendations)-1]
	dest := rec.Action[0].(*types.StoragePlacementAction).Destination
	task, err := f.srm.ApplyStorageDrsRecommendation(f.ctx, []string{rec.Key})
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	clone := f.vm(object.NewVirtualMachine(f.c, *info.Result.(types.ApplyStorageRecommendationResult).Vm))
	if clone.Name != "copy" || len(clone.Datastore) != 1 || clone.Datastore[0] != dest {
		t.Errorf("clone %s on %v, want copy on %v", clone.Name, clone.Datastore, dest)
	}
}
