package api_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
)

func TestRetrieveThroughContainerView(t *testing.T) {
	inv := newPCInv(t, 10)
	ctx := context.Background()
	c := inv.srv.Client.Client
	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, api.RootFolderRef, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var vms []mo.VirtualMachine
	err = v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "summary.runtime.powerState", "config.hardware.memoryMB"}, &vms)
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 10 {
		t.Fatalf("retrieved %d VMs, want 10", len(vms))
	}
	names := map[string]bool{}
	for _, vm := range vms {
		names[vm.Name] = true
		if vm.Summary.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff || vm.Config == nil || vm.Config.Hardware.MemoryMB != 1024 {
			t.Errorf("%s: powerState %q, config %+v", vm.Name, vm.Summary.Runtime.PowerState, vm.Config)
		}
		if vm.Runtime.PowerState != "" || vm.Config.Uuid != "" {
			t.Errorf("%s: properties that were not asked for came back", vm.Name)
		}
	}
	for i := 0; i < 10; i++ {
		if !names[pcVMName(i)] {
			t.Errorf("%s missing", pcVMName(i))
		}
	}
}

func TestFinderTraversals(t *testing.T) {
	inv := newPCInv(t, 8)
	ctx := context.Background()
	f := find.NewFinder(inv.srv.Client.Client, false)
	dc, err := f.Datacenter(ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	tests := []struct {
		path string
		want []string
	}{
		{"*", []string{"VM0", "VM1", "VM2", "VM3", "VM4", "VM5", "VM6", "VM7"}}, // the finder recurses for a bare pattern
		{"sub/*", []string{"VM3", "VM7"}},
		{"/DC0/vm/sub/VM7", []string{"VM7"}},
		{"V*1", []string{"VM1"}},
	}
	for _, tt := range tests {
		vms, err := f.VirtualMachineList(ctx, tt.path)
		if err != nil {
			t.Fatalf("VirtualMachineList(%q): %v", tt.path, err)
		}
		var got []string
		for _, vm := range vms {
			got = append(got, vm.Name())
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("VirtualMachineList(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	hosts, err := f.HostSystemList(ctx, "*/*")
	if err != nil || len(hosts) != 1 || hosts[0].Name() != "H0" {
		t.Fatalf("HostSystemList = %v, %v", hosts, err)
	}
	if _, err := f.Datastore(ctx, "LocalDS_0"); err != nil {
		t.Fatalf("Datastore: %v", err)
	}
	if _, err := f.ResourcePool(ctx, "C0/Resources"); err != nil {
		t.Fatalf("ResourcePool: %v", err)
	}
}

// pcSpec returns a filter spec for obj's paths, of type typ.
func pcSpec(obj types.ManagedObjectReference, typ string, paths ...string) types.PropertyFilterSpec {
	return types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: obj}},
		PropSet:   []types.PropertySpec{{Type: typ, PathSet: paths}},
	}
}

func TestRetrievePropertyPaths(t *testing.T) {
	inv := newPCInv(t, 2)
	ctx := context.Background()
	pc := property.DefaultCollector(inv.srv.Client.Client)
	// A VM without config: nested paths under it are unset, not errors.
	bare := types.ManagedObjectReference{}
	inv.update(t, func(tx *inventory.Txn) {
		vm := &mo.VirtualMachine{}
		vm.Self = tx.NewRef("VirtualMachine")
		vm.Name = "bare"
		tx.Create(vm, true)
		bare = vm.Self
	})
	t.Run("nested and keyed", func(t *testing.T) {
		var content []types.ObjectContent
		err := pc.Retrieve(ctx, []types.ManagedObjectReference{inv.vms[0]},
			[]string{"name", "config.hardware.device", "config.hardware.device[2000].capacityInKB", "summary.runtime.powerState"}, &content)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{}
		for _, p := range content[0].PropSet {
			got[p.Name] = p.Val
		}
		if got["name"] != "VM0" || got["config.hardware.device[2000].capacityInKB"] != int64(1<<20) ||
			got["summary.runtime.powerState"] != types.VirtualMachinePowerStatePoweredOff {
			t.Fatalf("props = %#v", got)
		}
		if devs, ok := got["config.hardware.device"].(types.ArrayOfVirtualDevice); !ok || len(devs.VirtualDevice) != 1 {
			t.Fatalf("config.hardware.device = %#v", got["config.hardware.device"])
		}
	})
	t.Run("unset intermediate", func(t *testing.T) {
		var content []types.ObjectContent
		err := pc.Retrieve(ctx, []types.ManagedObjectReference{bare}, []string{"name", "config.hardware.memoryMB"}, &content)
		if err != nil {
			t.Fatal(err)
		}
		if len(content) != 1 || len(content[0].PropSet) != 1 || len(content[0].MissingSet) != 0 {
			t.Fatalf("content = %+v", content)
		}
	})
	t.Run("invalid property is a fault", func(t *testing.T) {
		var content []types.ObjectContent
		err := pc.Retrieve(ctx, []types.ManagedObjectReference{inv.vms[0]}, []string{"name", "config.nosuch"}, &content)
		if f := pcFault[*types.InvalidProperty](t, err); f.Name != "config.nosuch" {
			t.Fatalf("InvalidProperty.name = %q", f.Name)
		}
		err = pc.Retrieve(ctx, []types.ManagedObjectReference{inv.vms[0]}, []string{"parent.name"}, &content)
		pcFault[*types.InvalidProperty](t, err)
	})
	t.Run("path a value cannot resolve goes to missingSet", func(t *testing.T) {
		req := []types.PropertyFilterSpec{pcSpec(inv.ds, "Datastore", "name", "info.nas.remoteHost")}
		content, err := pcRetrieve(ctx, inv.srv.Client.Client, req)
		if err != nil {
			t.Fatal(err)
		}
		oc := content[0]
		if len(oc.PropSet) != 1 || len(oc.MissingSet) != 1 || oc.MissingSet[0].Path != "info.nas.remoteHost" {
			t.Fatalf("content = %+v", oc)
		}
		if _, ok := oc.MissingSet[0].Fault.Fault.(*types.InvalidProperty); !ok {
			t.Fatalf("missingSet fault = %T", oc.MissingSet[0].Fault.Fault)
		}
	})
	t.Run("all properties", func(t *testing.T) {
		req := []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{Obj: inv.host}},
			PropSet:   []types.PropertySpec{{Type: "HostSystem", All: types.NewBool(true)}},
		}}
		content, err := pcRetrieve(ctx, inv.srv.Client.Client, req)
		if err != nil {
			t.Fatal(err)
		}
		var host mo.HostSystem
		if err := mo.LoadObjectContent(content, &host); err != nil {
			t.Fatal(err)
		}
		if host.Name != "H0" || len(host.Vm) != 2 || host.Hardware == nil || host.Parent == nil {
			t.Fatalf("host = %+v", host)
		}
	})
	t.Run("missing object", func(t *testing.T) {
		gone := types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-999999"}
		_, err := pcRetrieve(ctx, inv.srv.Client.Client, []types.PropertyFilterSpec{pcSpec(gone, "VirtualMachine", "name")})
		if f := pcFault[*types.ManagedObjectNotFound](t, err); f.Obj != gone {
			t.Fatalf("ManagedObjectNotFound.obj = %v", f.Obj)
		}
		spec := pcSpec(gone, "VirtualMachine", "name")
		spec.ReportMissingObjectsInResults = types.NewBool(true)
		content, err := pcRetrieve(ctx, inv.srv.Client.Client, []types.PropertyFilterSpec{spec})
		if err != nil || len(content) != 0 {
			t.Fatalf("reportMissingObjectsInResults: %v, %v", content, err)
		}
	})
	t.Run("type matched by supertype", func(t *testing.T) {
		req := []types.PropertyFilterSpec{pcSpec(inv.cluster, "ManagedEntity", "name")}
		content, err := pcRetrieve(ctx, inv.srv.Client.Client, req)
		if err != nil || len(content) != 1 || content[0].PropSet[0].Val != "C0" {
			t.Fatalf("content = %+v, %v", content, err)
		}
		// A PropertySpec for another type selects nothing.
		content, err = pcRetrieve(ctx, inv.srv.Client.Client, []types.PropertyFilterSpec{pcSpec(inv.cluster, "HostSystem", "name")})
		if err != nil || len(content) != 0 {
			t.Fatalf("content = %+v, %v", content, err)
		}
	})
	t.Run("unknown type and selection name", func(t *testing.T) {
		_, err := pcRetrieve(ctx, inv.srv.Client.Client, []types.PropertyFilterSpec{pcSpec(inv.cluster, "NoSuchType", "name")})
		pcFault[*types.InvalidType](t, err)
		spec := pcSpec(inv.dc, "Folder", "name")
		spec.ObjectSet[0].SelectSet = []types.BaseSelectionSpec{&types.SelectionSpec{Name: "undefined"}}
		_, err = pcRetrieve(ctx, inv.srv.Client.Client, []types.PropertyFilterSpec{spec})
		pcFault[*types.InvalidArgument](t, err)
	})
}

// pcRetrieve calls RetrieveProperties on the default collector.
func pcRetrieve(ctx context.Context, c *vim25.Client, specs []types.PropertyFilterSpec) ([]types.ObjectContent, error) {
	res, err := methods.RetrieveProperties(ctx, c, &types.RetrieveProperties{This: c.ServiceContent.PropertyCollector, SpecSet: specs})
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}

// pcTraversal is the usual recursive traversal of a datacenter's vm folder:
// folders are walked by a named spec that refers to itself.
func pcTraversal(dc types.ManagedObjectReference) types.PropertyFilterSpec {
	folders := &types.TraversalSpec{
		SelectionSpec: types.SelectionSpec{Name: "folders"},
		Type:          "Folder", Path: "childEntity",
		SelectSet: []types.BaseSelectionSpec{&types.SelectionSpec{Name: "folders"}},
	}
	return types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: dc, Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{
			&types.TraversalSpec{Type: "Datacenter", Path: "vmFolder", Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{folders}},
		}}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"name"}}, {Type: "Folder", PathSet: []string{"name"}}},
	}
}

func TestTraversalSpecs(t *testing.T) {
	inv := newPCInv(t, 8)
	ctx := context.Background()
	content, err := pcRetrieve(ctx, inv.srv.Client.Client, []types.PropertyFilterSpec{pcTraversal(inv.dc)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, oc := range content {
		got = append(got, oc.PropSet[0].Val.(string))
	}
	sort.Strings(got)
	// vm itself is skipped by its traversal; sub is reported.
	want := []string{"VM0", "VM1", "VM2", "VM3", "VM4", "VM5", "VM6", "VM7", "sub"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("traversal reported %v, want %v", got, want)
	}
}

func TestRetrievePropertiesExPaging(t *testing.T) {
	inv := newPCInv(t, 10)
	ctx := context.Background()
	c := inv.srv.Client.Client
	spec := pcTraversal(inv.dc)
	spec.PropSet = spec.PropSet[:1] // VMs only: 10 objects
	res, err := methods.RetrievePropertiesEx(ctx, c, &types.RetrievePropertiesEx{
		This: c.ServiceContent.PropertyCollector, SpecSet: []types.PropertyFilterSpec{spec},
		Options: types.RetrieveOptions{MaxObjects: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	pages := []int{len(res.Returnval.Objects)}
	seen := map[string]bool{}
	for _, o := range res.Returnval.Objects {
		seen[o.Obj.Value] = true
	}
	token := res.Returnval.Token
	for token != "" {
		next, err := methods.ContinueRetrievePropertiesEx(ctx, c, &types.ContinueRetrievePropertiesEx{This: c.ServiceContent.PropertyCollector, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(next.Returnval.Objects))
		for _, o := range next.Returnval.Objects {
			seen[o.Obj.Value] = true
		}
		// A used token is gone.
		_, err = methods.ContinueRetrievePropertiesEx(ctx, c, &types.ContinueRetrievePropertiesEx{This: c.ServiceContent.PropertyCollector, Token: token})
		pcFault[*types.InvalidProperty](t, err)
		token = next.Returnval.Token
	}
	if !reflect.DeepEqual(pages, []int{3, 3, 3, 1}) || len(seen) != 10 {
		t.Fatalf("pages = %v, distinct objects = %d; want pages of the first call's maxObjects", pages, len(seen))
	}

	// Cancel forgets the rest.
	res, err = methods.RetrievePropertiesEx(ctx, c, &types.RetrievePropertiesEx{
		This: c.ServiceContent.PropertyCollector, SpecSet: []types.PropertyFilterSpec{spec},
		Options: types.RetrieveOptions{MaxObjects: 4},
	})
	if err != nil || res.Returnval.Token == "" {
		t.Fatalf("second retrieval: %+v, %v", res, err)
	}
	if _, err := methods.CancelRetrievePropertiesEx(ctx, c, &types.CancelRetrievePropertiesEx{This: c.ServiceContent.PropertyCollector, Token: res.Returnval.Token}); err != nil {
		t.Fatal(err)
	}
	_, err = methods.ContinueRetrievePropertiesEx(ctx, c, &types.ContinueRetrievePropertiesEx{This: c.ServiceContent.PropertyCollector, Token: res.Returnval.Token})
	pcFault[*types.InvalidProperty](t, err)

	// Tokens belong to the session.
	res, err = methods.RetrievePropertiesEx(ctx, c, &types.RetrievePropertiesEx{
		This: c.ServiceContent.PropertyCollector, SpecSet: []types.PropertyFilterSpec{spec},
		Options: types.RetrieveOptions{MaxObjects: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	other := inv.srv.Login(t, "administrator@vsphere.local", "vireo-test-pass").Client
	_, err = methods.ContinueRetrievePropertiesEx(ctx, other, &types.ContinueRetrievePropertiesEx{This: other.ServiceContent.PropertyCollector, Token: res.Returnval.Token})
	pcFault[*types.InvalidProperty](t, err)

	// Unset maxObjects returns everything at once; a negative one is refused.
	all, err := pcRetrieve(ctx, c, []types.PropertyFilterSpec{spec})
	if err != nil || len(all) != 10 {
		t.Fatalf("unpaged retrieval: %d objects, %v", len(all), err)
	}
	_, err = methods.RetrievePropertiesEx(ctx, c, &types.RetrievePropertiesEx{
		This: c.ServiceContent.PropertyCollector, SpecSet: []types.PropertyFilterSpec{spec},
		Options: types.RetrieveOptions{MaxObjects: -1},
	})
	pcFault[*types.InvalidArgument](t, err)
}

// pcWaiter is a collector with one filter that applies the updates it
// receives to a local copy of each object's properties.
type pcWaiter struct {
	t       testing.TB
	c       *vim25.Client
	pc      types.ManagedObjectReference
	filter  types.ManagedObjectReference
	version string
	objs    map[string]map[string]any
}

func newPCWaiter(t testing.TB, c *vim25.Client, pc types.ManagedObjectReference, spec types.PropertyFilterSpec, partial bool) *pcWaiter {
	t.Helper()
	res, err := methods.CreateFilter(context.Background(), c, &types.CreateFilter{This: pc, Spec: spec, PartialUpdates: partial})
	if err != nil {
		t.Fatalf("CreateFilter: %v", err)
	}
	return &pcWaiter{t: t, c: c, pc: pc, filter: res.Returnval, objs: map[string]map[string]any{}}
}

// wait calls WaitForUpdatesEx once and applies the result. A wait that
// should end by itself but does not fails after a minute rather than hang.
func (w *pcWaiter) wait(opts *types.WaitOptions) (*types.UpdateSet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := methods.WaitForUpdatesEx(ctx, w.c, &types.WaitForUpdatesEx{This: w.pc, Version: w.version, Options: opts})
	if err != nil {
		return nil, err
	}
	set := res.Returnval
	if set == nil {
		return nil, nil
	}
	w.version = set.Version
	for _, fu := range set.FilterSet {
		if fu.Filter != w.filter {
			w.t.Errorf("update for filter %v, want %v", fu.Filter, w.filter)
		}
		for _, u := range fu.ObjectSet {
			w.apply(u)
		}
	}
	return set, nil
}

func (w *pcWaiter) apply(u types.ObjectUpdate) {
	id := u.Obj.Value
	switch u.Kind {
	case types.ObjectUpdateKindEnter:
		if w.objs[id] != nil {
			w.t.Errorf("enter for %s, which is in the set", id)
		}
		w.objs[id] = map[string]any{}
	case types.ObjectUpdateKindLeave:
		if w.objs[id] == nil {
			w.t.Errorf("leave for %s, which is not in the set", id)
		}
		delete(w.objs, id)
		return
	case types.ObjectUpdateKindModify:
		if w.objs[id] == nil {
			w.t.Errorf("modify for %s, which is not in the set", id)
			w.objs[id] = map[string]any{}
		}
	}
	for _, c := range u.ChangeSet {
		if c.Val == nil {
			delete(w.objs[id], c.Name)
		} else {
			w.objs[id][c.Name] = c.Val
		}
	}
}

func pcWait(seconds int32) *types.WaitOptions {
	return &types.WaitOptions{MaxWaitSeconds: &seconds}
}

// pcVMView returns a filter spec over every VM through a container view.
func pcVMView(t testing.TB, inv *pcInv, paths ...string) types.PropertyFilterSpec {
	t.Helper()
	v, err := view.NewManager(inv.srv.Client.Client).CreateContainerView(context.Background(), api.RootFolderRef, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	return types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: v.Reference(), Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{
			&types.TraversalSpec{Type: "ContainerView", Path: "view"},
		}}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: paths}},
	}
}

func TestWaitForUpdatesEx(t *testing.T) {
	inv := newPCInv(t, 5)
	w := newPCWaiter(t, inv.srv.Client.Client, inv.srv.Client.ServiceContent.PropertyCollector, pcVMView(t, inv, "name", "runtime.powerState"), false)

	set, err := w.wait(pcWait(0))
	if err != nil || set == nil || len(w.objs) != 5 || set.Truncated != nil {
		t.Fatalf("initial update: %+v, %v; %d objects", set, err, len(w.objs))
	}
	if w.objs[inv.vms[0].Value]["runtime.powerState"] != types.VirtualMachinePowerStatePoweredOff {
		t.Fatalf("initial values: %v", w.objs[inv.vms[0].Value])
	}
	// Nothing changed: maxWaitSeconds 0 returns at once with nothing, and a
	// positive wait times out with nothing.
	if set, err := w.wait(pcWait(0)); set != nil || err != nil {
		t.Fatalf("no change: %+v, %v", set, err)
	}
	if set, err := w.wait(pcWait(1)); set != nil || err != nil {
		t.Fatalf("timed out wait: %+v, %v", set, err)
	}

	// A change made by someone else wakes a waiter blocked without timeout.
	done := make(chan error, 1)
	go func() { _, err := w.wait(nil); done <- err }()
	inv.setPower(t, inv.vms[2], types.VirtualMachinePowerStatePoweredOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.objs[inv.vms[2].Value]["runtime.powerState"] != types.VirtualMachinePowerStatePoweredOn {
		t.Fatalf("after power on: %v", w.objs[inv.vms[2].Value])
	}

	// Properties outside the filter do not wake it; create and destroy do.
	inv.update(t, func(tx *inventory.Txn) {
		inventory.Edit[mo.VirtualMachine](tx, inv.vms[1]).Config.Annotation = "not watched"
	})
	if set, err := w.wait(pcWait(0)); set != nil || err != nil {
		t.Fatalf("unwatched change reported: %+v, %v", set, err)
	}
	inv.update(t, func(tx *inventory.Txn) { inv.addVMs(tx, 1) })
	inv.destroyVM(t, inv.vms[0])
	if _, err := w.wait(pcWait(0)); err != nil {
		t.Fatal(err)
	}
	if len(w.objs) != 5 || w.objs[inv.vms[5].Value]["name"] != "VM5" || w.objs[inv.vms[0].Value] != nil {
		t.Fatalf("after create and destroy: %v", w.objs)
	}

	// A stale version is refused; "" starts over.
	_, err = methods.WaitForUpdatesEx(context.Background(), w.c, &types.WaitForUpdatesEx{This: w.pc, Version: "12345", Options: pcWait(0)})
	pcFault[*types.InvalidCollectorVersion](t, err)
	w.version, w.objs = "", map[string]map[string]any{}
	if _, err := w.wait(pcWait(0)); err != nil || len(w.objs) != 5 {
		t.Fatalf("restart: %d objects, %v", len(w.objs), err)
	}
}

func TestWaitForUpdatesTruncated(t *testing.T) {
	inv := newPCInv(t, 10)
	w := newPCWaiter(t, inv.srv.Client.Client, inv.srv.Client.ServiceContent.PropertyCollector, pcVMView(t, inv, "name"), false)
	opts := pcWait(0)
	opts.MaxObjectUpdates = 3
	var sizes []int
	for {
		set, err := w.wait(opts)
		if err != nil || set == nil {
			t.Fatalf("wait: %+v, %v", set, err)
		}
		sizes = append(sizes, len(set.FilterSet[0].ObjectSet))
		if set.Truncated == nil || !*set.Truncated {
			break
		}
	}
	if !reflect.DeepEqual(sizes, []int{3, 3, 3, 1}) || len(w.objs) != 10 {
		t.Fatalf("batches %v, %d objects", sizes, len(w.objs))
	}
}

func TestCancelWaitForUpdates(t *testing.T) {
	inv := newPCInv(t, 1)
	c := inv.srv.Client.Client
	pc := c.ServiceContent.PropertyCollector
	w := newPCWaiter(t, c, pc, pcSpec(inv.vms[0], "VirtualMachine", "name"), false)
	if _, err := w.wait(nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := w.wait(nil); done <- err }()
	// Cancel until the waiter is gone: a cancel sent before the wait began
	// does not count, as in vCenter.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := methods.CancelWaitForUpdates(context.Background(), c, &types.CancelWaitForUpdates{This: pc}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			pcFault[*types.RequestCanceled](t, err)
			return
		case <-tick.C:
		}
	}
}

func TestPartialUpdates(t *testing.T) {
	inv := newPCInv(t, 1)
	c := inv.srv.Client.Client
	pc := property.DefaultCollector(c)
	full := newPCWaiter(t, c, pc.Reference(), pcSpec(inv.vms[0], "VirtualMachine", "config"), false)
	if _, err := full.wait(pcWait(0)); err != nil {
		t.Fatal(err)
	}
	other, err := pc.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	part := newPCWaiter(t, c, other.Reference(), pcSpec(inv.vms[0], "VirtualMachine", "config"), true)
	if _, err := part.wait(pcWait(0)); err != nil {
		t.Fatal(err)
	}
	inv.update(t, func(tx *inventory.Txn) {
		inventory.Edit[mo.VirtualMachine](tx, inv.vms[0]).Config.Hardware.MemoryMB = 4096
	})
	set, err := part.wait(pcWait(0))
	if err != nil || set == nil {
		t.Fatalf("partial: %+v, %v", set, err)
	}
	ch := set.FilterSet[0].ObjectSet[0].ChangeSet
	if len(ch) != 1 || ch[0].Name != "config.hardware.memoryMB" || ch[0].Val != int32(4096) {
		t.Fatalf("partial change set = %+v", ch)
	}
	set, err = full.wait(pcWait(0))
	if err != nil || set == nil {
		t.Fatalf("full: %+v, %v", set, err)
	}
	ch = set.FilterSet[0].ObjectSet[0].ChangeSet
	if len(ch) != 1 || ch[0].Name != "config" || ch[0].Val.(types.VirtualMachineConfigInfo).Hardware.MemoryMB != 4096 {
		t.Fatalf("full change set = %+v", ch)
	}
}

func TestFiltersAreSessionObjects(t *testing.T) {
	inv := newPCInv(t, 1)
	ctx := context.Background()
	c := inv.srv.Client.Client
	pc := property.DefaultCollector(c)
	spec := pcSpec(inv.vms[0], "VirtualMachine", "name")
	w := newPCWaiter(t, c, pc.Reference(), spec, true)

	var me mo.PropertyCollector
	if err := pc.RetrieveOne(ctx, pc.Reference(), []string{"filter"}, &me); err != nil {
		t.Fatal(err)
	}
	if len(me.Filter) != 1 || me.Filter[0] != w.filter {
		t.Fatalf("PropertyCollector.filter = %v, want [%v]", me.Filter, w.filter)
	}
	var pf mo.PropertyFilter
	if err := pc.RetrieveOne(ctx, w.filter, []string{"spec", "partialUpdates"}, &pf); err != nil {
		t.Fatal(err)
	}
	if !pf.PartialUpdates || len(pf.Spec.ObjectSet) != 1 || pf.Spec.ObjectSet[0].Obj != inv.vms[0] {
		t.Fatalf("PropertyFilter = %+v", pf)
	}

	// Another session sees neither the filter nor it in the collector.
	other := inv.srv.Login(t, "administrator@vsphere.local", "vireo-test-pass").Client
	opc := property.DefaultCollector(other)
	var theirs mo.PropertyCollector
	if err := opc.RetrieveOne(ctx, opc.Reference(), []string{"filter"}, &theirs); err != nil {
		t.Fatal(err)
	}
	if len(theirs.Filter) != 0 {
		t.Fatalf("another session sees filters %v", theirs.Filter)
	}
	_, err := methods.DestroyPropertyFilter(ctx, other, &types.DestroyPropertyFilter{This: w.filter})
	pcFault[*types.ManagedObjectNotFound](t, err)
	_, err = pcRetrieve(ctx, other, []types.PropertyFilterSpec{pcSpec(w.filter, "PropertyFilter", "spec")})
	pcFault[*types.ManagedObjectNotFound](t, err)

	// Destroying the filter removes it; logging out removes the rest.
	if _, err := methods.DestroyPropertyFilter(ctx, c, &types.DestroyPropertyFilter{This: w.filter}); err != nil {
		t.Fatal(err)
	}
	if inv.reg().Get(w.filter) != nil {
		t.Fatal("destroyed filter still in the registry")
	}
	w2 := newPCWaiter(t, c, pc.Reference(), spec, false)
	cpc, err := pc.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w3 := newPCWaiter(t, c, cpc.Reference(), spec, false)
	if err := inv.srv.Client.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []types.ManagedObjectReference{w2.filter, w3.filter, cpc.Reference()} {
		if inv.reg().Get(r) != nil {
			t.Errorf("%v outlived its session", r)
		}
	}
}

func TestCreatedCollectors(t *testing.T) {
	inv := newPCInv(t, 2)
	ctx := context.Background()
	pc := property.DefaultCollector(inv.srv.Client.Client)
	cpc, err := pc.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := inv.srv.Client.Client
	a := newPCWaiter(t, c, pc.Reference(), pcSpec(inv.vms[0], "VirtualMachine", "name"), false)
	b := newPCWaiter(t, c, cpc.Reference(), pcSpec(inv.vms[1], "VirtualMachine", "name"), false)
	if _, err := a.wait(pcWait(0)); err != nil || len(a.objs) != 1 || a.objs[inv.vms[0].Value] == nil {
		t.Fatalf("default collector: %v, %v", a.objs, err)
	}
	if _, err := b.wait(pcWait(0)); err != nil || len(b.objs) != 1 || b.objs[inv.vms[1].Value] == nil {
		t.Fatalf("created collector: %v, %v", b.objs, err)
	}
	if err := cpc.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if inv.reg().Get(b.filter) != nil || inv.reg().Get(cpc.Reference()) != nil {
		t.Fatal("destroyed collector or its filter still in the registry")
	}
	_, err = methods.DestroyPropertyCollector(ctx, c, &types.DestroyPropertyCollector{This: pc.Reference()})
	pcFault[*types.InvalidArgument](t, err)
}

func TestReportMissingObjects(t *testing.T) {
	inv := newPCInv(t, 2)
	pc := property.DefaultCollector(inv.srv.Client.Client)
	_, err := pc.CreateFilter(context.Background(), types.CreateFilter{Spec: pcSpec(types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-424242"}, "VirtualMachine", "name")})
	pcFault[*types.ManagedObjectNotFound](t, err)

	spec := pcSpec(inv.vms[1], "VirtualMachine", "name")
	spec.ReportMissingObjectsInResults = types.NewBool(true)
	w := newPCWaiter(t, inv.srv.Client.Client, pc.Reference(), spec, false)
	if _, err := w.wait(pcWait(0)); err != nil || len(w.objs) != 1 {
		t.Fatalf("initial: %v, %v", w.objs, err)
	}
	inv.destroyVM(t, inv.vms[1])
	set, err := w.wait(pcWait(0))
	if err != nil || set == nil {
		t.Fatalf("after destroy: %+v, %v", set, err)
	}
	fu := set.FilterSet[0]
	if len(fu.ObjectSet) != 1 || fu.ObjectSet[0].Kind != types.ObjectUpdateKindLeave || len(fu.MissingSet) != 1 || fu.MissingSet[0].Obj != inv.vms[1] {
		t.Fatalf("after destroy: %+v", fu)
	}
}

// TestConcurrentChanges changes VMs from several goroutines while a waiter
// follows; in the end the waiter's copy matches the registry.
func TestConcurrentChanges(t *testing.T) {
	inv := newPCInv(t, 20)
	w := newPCWaiter(t, inv.srv.Client.Client, inv.srv.Client.ServiceContent.PropertyCollector, pcVMView(t, inv, "name", "runtime.powerState", "config.hardware.memoryMB"), false)
	if _, err := w.wait(pcWait(0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			for i := 0; i < 50; i++ {
				ref := inv.vms[(g*7+i)%len(inv.vms)]
				err := inv.reg().Update(ctx, func(tx *inventory.Txn) error {
					vm := inventory.Edit[mo.VirtualMachine](tx, ref)
					vm.Config.Hardware.MemoryMB = int32(1024 + g*100 + i)
					if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
						vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
					} else {
						vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOn
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(g)
	}
	waiting := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if _, err := w.wait(pcWait(1)); err != nil {
				waiting <- err
				return
			}
		}
		waiting <- nil
	}()
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-waiting; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, err := w.wait(pcWait(0)); err != nil {
		t.Fatal(err)
	}
	for _, ref := range inv.vms {
		vm := inventory.Get[mo.VirtualMachine](inv.reg(), ref)
		got := w.objs[ref.Value]
		if got["runtime.powerState"] != vm.Runtime.PowerState || got["config.hardware.memoryMB"] != vm.Config.Hardware.MemoryMB {
			t.Errorf("%s: waiter has %v, registry %s/%d", vm.Name, got, vm.Runtime.PowerState, vm.Config.Hardware.MemoryMB)
		}
	}
}

func TestLegacyWaitAndCheck(t *testing.T) {
	inv := newPCInv(t, 2)
	ctx := context.Background()
	c := inv.srv.Client.Client
	pc := c.ServiceContent.PropertyCollector
	newPCWaiter(t, c, pc, pcSpec(inv.vms[0], "VirtualMachine", "runtime.powerState"), false)
	check, err := methods.CheckForUpdates(ctx, c, &types.CheckForUpdates{This: pc})
	if err != nil || check.Returnval == nil || len(check.Returnval.FilterSet[0].ObjectSet) != 1 {
		t.Fatalf("CheckForUpdates: %+v, %v", check, err)
	}
	version := check.Returnval.Version
	check, err = methods.CheckForUpdates(ctx, c, &types.CheckForUpdates{This: pc, Version: version})
	if err != nil || check.Returnval != nil {
		t.Fatalf("CheckForUpdates without changes: %+v, %v", check.Returnval, err)
	}
	inv.setPower(t, inv.vms[0], types.VirtualMachinePowerStatePoweredOn)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := methods.WaitForUpdates(wctx, c, &types.WaitForUpdates{This: pc, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	ch := res.Returnval.FilterSet[0].ObjectSet[0].ChangeSet
	if len(ch) != 1 || ch[0].Val != types.VirtualMachinePowerStatePoweredOn || res.Returnval.Version == version {
		t.Fatalf("WaitForUpdates = %+v", res.Returnval)
	}
}
