package api_test

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestCreateDatacenterFolders(t *testing.T) {
	f := newInv(t)
	dc, err := f.root().CreateDatacenter(f.ctx, "DC1")
	mustOK(t, err)
	if !strings.HasPrefix(dc.Reference().Value, "datacenter-") {
		t.Errorf("datacenter MoRef %s, want datacenter-N", dc.Reference().Value)
	}
	var d mo.Datacenter
	f.props(dc.Reference(), &d)
	want := []struct {
		ref    types.ManagedObjectReference
		name   string
		prefix string
		types  []string
	}{
		{d.VmFolder, "vm", "group-v", []string{"Folder", "VirtualMachine", "VirtualApp"}},
		{d.HostFolder, "host", "group-h", []string{"Folder", "ComputeResource"}},
		{d.DatastoreFolder, "datastore", "group-s", []string{"Folder", "Datastore", "StoragePod"}},
		{d.NetworkFolder, "network", "group-n", []string{"Folder", "Network", "DistributedVirtualSwitch"}},
	}
	for _, w := range want {
		var fo mo.Folder
		f.props(w.ref, &fo)
		if fo.Name != w.name || !strings.HasPrefix(w.ref.Value, w.prefix) || fo.Parent == nil || fo.Parent.Value != d.Self.Value {
			t.Errorf("folder %s: name %q parent %v, want %q (%s*) under %s", w.ref.Value, fo.Name, fo.Parent, w.name, w.prefix, d.Self.Value)
		}
		if strings.Join(fo.ChildType, ",") != strings.Join(w.types, ",") {
			t.Errorf("folder %s childType %v, want %v", w.name, fo.ChildType, w.types)
		}
	}
	var root mo.Folder
	f.props(f.root().Reference(), &root, "childEntity")
	if len(root.ChildEntity) != 1 || root.ChildEntity[0].Value != d.Self.Value {
		t.Errorf("root childEntity %v, want [%s]", root.ChildEntity, d.Self.Value)
	}
	// govmomi's finder walks the new tree.
	finder := find.NewFinder(f.c)
	if _, err := finder.Folder(f.ctx, "/DC1/vm"); err != nil {
		t.Errorf("find /DC1/vm: %v", err)
	}
}

func TestFolderChildTypes(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	sub, err := f.root().CreateFolder(f.ctx, "Projects")
	mustOK(t, err)
	tests := []struct {
		name   string
		create func() error
		fault  types.BaseMethodFault
	}{
		{"datacenter in subfolder of root", func() error { _, err := sub.CreateDatacenter(f.ctx, "DC2"); return err }, nil},
		{"folder in vm folder", func() error { _, err := f.folder(dc.VmFolder).CreateFolder(f.ctx, "apps"); return err }, nil},
		{"cluster in host folder", func() error {
			_, err := f.folder(dc.HostFolder).CreateCluster(f.ctx, "C1", types.ClusterConfigSpecEx{})
			return err
		}, nil},
		{"datacenter in vm folder", func() error { _, err := f.folder(dc.VmFolder).CreateDatacenter(f.ctx, "x"); return err }, &types.NotSupported{}},
		{"cluster in vm folder", func() error {
			_, err := f.folder(dc.VmFolder).CreateCluster(f.ctx, "x", types.ClusterConfigSpecEx{})
			return err
		}, &types.NotSupported{}},
		{"cluster in root folder", func() error {
			_, err := f.root().CreateCluster(f.ctx, "x", types.ClusterConfigSpecEx{})
			return err
		}, &types.NotSupported{}},
		{"cluster in network folder", func() error {
			_, err := f.folder(dc.NetworkFolder).CreateCluster(f.ctx, "x", types.ClusterConfigSpecEx{})
			return err
		}, &types.NotSupported{}},
		{"duplicate datacenter", func() error { _, err := f.root().CreateDatacenter(f.ctx, "DC1"); return err }, &types.DuplicateName{}},
		{"duplicate folder", func() error { _, err := f.root().CreateFolder(f.ctx, "Projects"); return err }, &types.DuplicateName{}},
		{"folder named like a datacenter", func() error { _, err := f.root().CreateFolder(f.ctx, "DC1"); return err }, &types.DuplicateName{}},
		{"empty name", func() error { _, err := f.root().CreateFolder(f.ctx, ""); return err }, &types.InvalidName{}},
		{"long name", func() error { _, err := f.root().CreateFolder(f.ctx, strings.Repeat("n", 81)); return err }, &types.InvalidName{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.create()
			if tc.fault == nil {
				mustOK(t, err)
				return
			}
			wantFault(t, err, tc.fault)
		})
	}
	// A subfolder holds what its parent holds.
	apps, err := find.NewFinder(f.c).Folder(f.ctx, "/DC1/vm/apps")
	mustOK(t, err)
	var fo mo.Folder
	f.props(apps.Reference(), &fo, "childType")
	if strings.Join(fo.ChildType, ",") != "Folder,VirtualMachine,VirtualApp" {
		t.Errorf("vm subfolder childType %v", fo.ChildType)
	}
	// Special characters are escaped as vCenter does.
	esc, err := f.root().CreateFolder(f.ctx, "a/b%c")
	mustOK(t, err)
	f.props(esc.Reference(), &fo, "name")
	if fo.Name != "a%2fb%25c" {
		t.Errorf("name stored as %q, want a%%2fb%%25c", fo.Name)
	}
}

func TestMoveIntoFolder(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	dc2 := f.datacenter("DC2")
	vmf := f.folder(dc.VmFolder)
	a, err := vmf.CreateFolder(f.ctx, "A")
	mustOK(t, err)
	b, err := vmf.CreateFolder(f.ctx, "B")
	mustOK(t, err)
	dupB, err := a.CreateFolder(f.ctx, "B")
	mustOK(t, err)
	cluster := f.cluster(dc, "C1")
	hostSub, err := f.folder(dc.HostFolder).CreateFolder(f.ctx, "racks")
	mustOK(t, err)

	// B into A collides with A/B.
	wantFault(t, f.wait(a.MoveInto(f.ctx, []types.ManagedObjectReference{b.Reference()})), &types.DuplicateName{})
	// Once A's B is renamed, B moves in.
	mustOK(t, f.wait(dupB.Rename(f.ctx, "B2")))
	mustOK(t, f.wait(a.MoveInto(f.ctx, []types.ManagedObjectReference{b.Reference()})))
	var fa, fv mo.Folder
	f.props(a.Reference(), &fa, "childEntity")
	f.props(dc.VmFolder, &fv, "childEntity")
	// childEntity lists children in creation order, so B (older) precedes B2.
	if !sameRefs(fa.ChildEntity, []types.ManagedObjectReference{b.Reference(), dupB.Reference()}) {
		t.Errorf("A children %v, want [B B2]", refValues(fa.ChildEntity))
	}
	if containsValue(fv.ChildEntity, b.Reference().Value) {
		t.Errorf("vm folder still lists B: %v", refValues(fv.ChildEntity))
	}
	var fb mo.Folder
	f.props(b.Reference(), &fb, "parent")
	if fb.Parent == nil || fb.Parent.Value != a.Reference().Value {
		t.Errorf("B parent %v, want A", fb.Parent)
	}

	tests := []struct {
		name   string
		target *object.Folder
		move   types.ManagedObjectReference
		fault  types.BaseMethodFault
	}{
		{"folder into its own child", b, a.Reference(), &types.InvalidFolder{}},
		{"folder into itself", a, a.Reference(), &types.InvalidFolder{}},
		{"cluster into vm folder", a, cluster, &types.NotSupported{}},
		{"across datacenters", f.folder(dc2.VmFolder), a.Reference(), &types.NotSupported{}},
		{"datacenter's own folder", f.root(), dc.VmFolder, &types.NotSupported{}},
		{"host folder into vm folder", f.folder(dc.VmFolder), hostSub.Reference(), &types.NotSupported{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantFault(t, f.wait(tc.target.MoveInto(f.ctx, []types.ManagedObjectReference{tc.move})), tc.fault)
		})
	}
	// Datacenters move between folders of the root.
	sub, err := f.root().CreateFolder(f.ctx, "Region")
	mustOK(t, err)
	mustOK(t, f.wait(sub.MoveInto(f.ctx, []types.ManagedObjectReference{dc2.Self})))
	if _, err := find.NewFinder(f.c).Datacenter(f.ctx, "/Region/DC2"); err != nil {
		t.Errorf("moved datacenter not found: %v", err)
	}
}

func containsValue(refs []types.ManagedObjectReference, v string) bool {
	for _, r := range refs {
		if r.Value == v {
			return true
		}
	}
	return false
}

// The first object a new server creates may be a folder of the root, whose
// MoRef must not collide with the root folder's group-d1.
func TestFirstFolderMoRef(t *testing.T) {
	f := newInv(t)
	sub, err := f.svc.CreateFolder(f.ctx, testUser, f.root().Reference(), "F0")
	mustOK(t, err)
	if sub.Value == f.root().Reference().Value {
		t.Fatalf("new folder reused the root folder's MoRef %s", sub.Value)
	}
	var root mo.Folder
	f.props(f.root().Reference(), &root, "name", "parent")
	if root.Name != "Datacenters" || root.Parent != nil {
		t.Errorf("root folder became %q under %v", root.Name, root.Parent)
	}
}

func TestStoragePod(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	f.host(dc.HostFolder, "esx-01")
	var d mo.Datacenter
	f.props(dc.Self, &d, "datastore")
	dsf := f.folder(dc.DatastoreFolder)
	pod, err := dsf.CreateStoragePod(f.ctx, "pod")
	mustOK(t, err)
	_, err = dsf.CreateStoragePod(f.ctx, "pod")
	wantFault(t, err, &types.DuplicateName{})
	_, err = f.folder(dc.VmFolder).CreateStoragePod(f.ctx, "pod2")
	wantFault(t, err, &types.NotSupported{})

	podFolder := object.NewFolder(f.c, pod.Reference())
	mustOK(t, f.wait(podFolder.MoveInto(f.ctx, d.Datastore)))
	var p mo.StoragePod
	f.props(pod.Reference(), &p)
	var ds mo.Datastore
	f.props(d.Datastore[0], &ds, "summary", "parent")
	if len(p.ChildEntity) != 2 || ds.Parent.Value != pod.Reference().Value || p.Summary.Capacity <= 0 || p.Summary.FreeSpace <= 0 {
		t.Errorf("pod children %v summary %+v; datastore parent %v", refValues(p.ChildEntity), p.Summary, ds.Parent)
	}
	// A folder does not go into a pod.
	sub, err := dsf.CreateFolder(f.ctx, "sub")
	mustOK(t, err)
	wantFault(t, f.wait(podFolder.MoveInto(f.ctx, []types.ManagedObjectReference{sub.Reference()})), &types.NotSupported{})

	// Destroying the pod keeps its datastores.
	mustOK(t, f.wait(pod.Destroy(f.ctx)))
	var df mo.Folder
	f.props(dc.DatastoreFolder, &df, "childEntity")
	for _, r := range d.Datastore {
		if !containsValue(df.ChildEntity, r.Value) {
			t.Errorf("datastore %s not back in the datastore folder %v", r.Value, refValues(df.ChildEntity))
		}
	}
}
