package inventory

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/store"
)

// memStore is an in-memory store.Store whose Commit can be made to fail.
type memStore struct {
	mu   sync.Mutex
	objs map[string]store.Object
	meta map[string]string
	fail error
}

func newMemStore() *memStore {
	return &memStore{objs: map[string]store.Object{}, meta: map[string]string{}}
}

func (m *memStore) Objects(context.Context) ([]store.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Object
	for _, o := range m.objs {
		out = append(out, o)
	}
	return out, nil
}

func (m *memStore) Meta(_ context.Context, k string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.meta[k]
	return v, ok, nil
}

func (m *memStore) MetaPrefix(_ context.Context, p string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.meta {
		if strings.HasPrefix(k, p) {
			out[k] = v
		}
	}
	return out, nil
}

func (m *memStore) Commit(_ context.Context, b *store.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, o := range b.Put {
		m.objs[o.ID] = o
	}
	for _, id := range b.Delete {
		delete(m.objs, id)
	}
	for k, v := range b.Meta {
		m.meta[k] = v
	}
	return nil
}

func (m *memStore) Close() error { return nil }

func newFolder(tx *Txn, name string) *mo.Folder {
	f := &mo.Folder{}
	f.Self = tx.NewRef("Folder")
	f.Name = name
	tx.Create(f, true)
	return f
}

func TestUpdatePublishesImmutableCopies(t *testing.T) {
	ctx := context.Background()
	r := New(newMemStore())
	var ref types.ManagedObjectReference
	if err := r.Update(ctx, func(tx *Txn) error { ref = newFolder(tx, "a").Self; return nil }); err != nil {
		t.Fatal(err)
	}
	if ref.Value != "group-1" {
		t.Fatalf("first folder ref = %s, want group-1", ref.Value)
	}
	before := Get[mo.Folder](r, ref)
	err := r.Update(ctx, func(tx *Txn) error {
		f := Edit[mo.Folder](tx, ref)
		f.Name = "b"
		if again := Edit[mo.Folder](tx, ref); again != f {
			t.Error("Edit returned a second copy in the same transaction")
		}
		if got := tx.Get(ref).(*mo.Folder).Name; got != "b" {
			t.Errorf("tx.Get sees %q, want its own write", got)
		}
		if got := Get[mo.Folder](r, ref).Name; got != "a" {
			t.Errorf("readers see %q before commit", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.Name != "a" {
		t.Fatal("a published object was modified in place")
	}
	if got := Get[mo.Folder](r, ref).Name; got != "b" {
		t.Fatalf("after commit name = %q", got)
	}
	if Get[mo.VirtualMachine](r, ref) != nil {
		t.Fatal("Get with the wrong type returned an object")
	}
}

func TestUpdateAbortsOnError(t *testing.T) {
	ctx := context.Background()
	ms := newMemStore()
	r := New(ms)
	boom := errors.New("boom")
	var aborted int
	err := r.Update(ctx, func(tx *Txn) error {
		newFolder(tx, "x")
		tx.OnAbort(func() { aborted++ })
		return boom
	})
	if !errors.Is(err, boom) || aborted != 1 {
		t.Fatalf("err = %v, aborted = %d", err, aborted)
	}
	if r.Lookup("group-1") != nil || r.Version() != 0 {
		t.Fatal("an aborted update left changes behind")
	}
	// A failed commit publishes nothing, keeps the MoRef counter, and runs
	// the abort callbacks.
	ms.fail = errors.New("disk full")
	err = r.Update(ctx, func(tx *Txn) error {
		newFolder(tx, "y")
		tx.OnAbort(func() { aborted++ })
		return nil
	})
	if !errors.Is(err, ms.fail) || aborted != 2 || r.Lookup("group-1") != nil {
		t.Fatalf("failed commit: err = %v, aborted = %d", err, aborted)
	}
	ms.fail = nil
	var ref types.ManagedObjectReference
	if err := r.Update(ctx, func(tx *Txn) error { ref = newFolder(tx, "z").Self; return nil }); err != nil {
		t.Fatal(err)
	}
	if ref.Value != "group-1" {
		t.Fatalf("ref after aborted updates = %s, want group-1", ref.Value)
	}
}

func TestSubscribersSeeChangesInOrder(t *testing.T) {
	ctx := context.Background()
	r := New(nil)
	type seen struct {
		version uint64
		kinds   []ChangeKind
	}
	var got []seen
	r.Subscribe(func(v uint64, cs []Change) {
		s := seen{version: v}
		for _, c := range cs {
			s.kinds = append(s.kinds, c.Kind)
			if (c.Kind == Enter) != (c.Old == nil) || (c.Kind == Leave) != (c.New == nil) {
				t.Errorf("change %+v has the wrong Old/New", c)
			}
		}
		got = append(got, s)
	})
	var a, b types.ManagedObjectReference
	_ = r.Update(ctx, func(tx *Txn) error { a, b = newFolder(tx, "a").Self, newFolder(tx, "b").Self; return nil })
	_ = r.Update(ctx, func(tx *Txn) error { Edit[mo.Folder](tx, a).Name = "a2"; tx.Delete(b); return nil })
	_ = r.Update(ctx, func(tx *Txn) error { return nil }) // no change, no notification
	_ = r.Update(ctx, func(tx *Txn) error {
		c := newFolder(tx, "c")
		tx.Delete(c.Self) // created and deleted: nothing to report
		return nil
	})
	// The last update created and deleted an object: a commit with nothing
	// to report.
	want := []seen{{1, []ChangeKind{Enter, Enter}}, {2, []ChangeKind{Modify, Leave}}, {3, nil}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("notifications = %+v, want %+v", got, want)
	}
}

func TestHooksRunInTheSameTransaction(t *testing.T) {
	ctx := context.Background()
	r := New(newMemStore())
	var counter types.ManagedObjectReference
	_ = r.Update(ctx, func(tx *Txn) error { counter = newFolder(tx, "0").Self; return nil })
	// The hook counts folders entering and leaving in the counter folder's
	// name, in the transaction that changes them.
	r.AddHook(func(tx *Txn) error {
		n := 0
		for _, c := range tx.Changes() {
			if c.Ref == counter {
				continue
			}
			switch c.Kind {
			case Enter:
				n++
			case Leave:
				n--
			}
		}
		if n != 0 {
			f := Edit[mo.Folder](tx, counter)
			old, _ := strconv.Atoi(f.Name)
			f.Name = strconv.Itoa(old + n)
		}
		return nil
	})
	var commits int
	r.Subscribe(func(uint64, []Change) { commits++ })
	var x types.ManagedObjectReference
	_ = r.Update(ctx, func(tx *Txn) error { x = newFolder(tx, "x").Self; newFolder(tx, "y"); return nil })
	if got := Get[mo.Folder](r, counter).Name; got != "2" || commits != 1 {
		t.Fatalf("counter = %s after %d commits, want 2 after 1", got, commits)
	}
	_ = r.Update(ctx, func(tx *Txn) error { tx.Delete(x); return nil })
	if got := Get[mo.Folder](r, counter).Name; got != "1" {
		t.Fatalf("counter = %s, want 1", got)
	}
	// A hook error aborts the update.
	r.AddHook(func(tx *Txn) error { return errors.New("veto") })
	if err := r.Update(ctx, func(tx *Txn) error { newFolder(tx, "z"); return nil }); err == nil {
		t.Fatal("a hook's error did not abort the update")
	}
	if got := Get[mo.Folder](r, counter).Name; got != "1" {
		t.Fatalf("counter = %s after an aborted update", got)
	}
}

func TestLoadRebuildsFromStore(t *testing.T) {
	ctx := context.Background()
	ms := newMemStore()
	r := New(ms)
	var vmRef types.ManagedObjectReference
	err := r.Update(ctx, func(tx *Txn) error {
		f := newFolder(tx, "vms")
		vm := &mo.VirtualMachine{}
		vm.Self = tx.NewRef("VirtualMachine")
		vm.Name = "vm"
		vm.Parent = &f.Self
		vm.Config = &types.VirtualMachineConfigInfo{Hardware: types.VirtualHardware{Device: []types.BaseVirtualDevice{&types.VirtualDisk{CapacityInKB: 5}}}}
		tx.Create(vm, true)
		tmp := &mo.Task{}
		tmp.Self = tx.NewRef("Task")
		tx.Create(tmp, false) // in memory only
		vmRef = vm.Self
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r2 := New(ms)
	if err := r2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	vm := Get[mo.VirtualMachine](r2, vmRef)
	if vm == nil || vm.Name != "vm" || vm.Config.Hardware.Device[0].(*types.VirtualDisk).CapacityInKB != 5 {
		t.Fatalf("reloaded vm = %+v", vm)
	}
	if r2.Lookup("task-3") != nil {
		t.Fatal("an in-memory object was persisted")
	}
	_ = r2.Update(ctx, func(tx *Txn) error {
		if ref := tx.NewRef("HostSystem"); ref.Value != "host-4" {
			t.Errorf("MoRef counter not restored: %s", ref.Value)
		}
		return nil
	})
}

func TestTypeHierarchy(t *testing.T) {
	tests := []struct {
		typ, want string
		ok        bool
	}{
		{"ClusterComputeResource", "ComputeResource", true},
		{"ClusterComputeResource", "ManagedEntity", true},
		{"VirtualApp", "ResourcePool", true},
		{"VirtualMachine", "VirtualMachine", true},
		{"Folder", "Datacenter", false},
		{"ContainerView", "View", true},
	}
	for _, tt := range tests {
		if got := IsA(tt.typ, tt.want); got != tt.ok {
			t.Errorf("IsA(%s, %s) = %v", tt.typ, tt.want, got)
		}
	}
	if Prefix("ClusterComputeResource") != "domain-c" || Prefix("Unknown") != "Unknown-" {
		t.Error("Prefix")
	}
}

func TestSupertypeFromMoStructs(t *testing.T) {
	tests := map[string]string{
		"HostSystem":                        "ManagedEntity",
		"ManagedEntity":                     "ExtensibleManagedObject",
		"ExtensibleManagedObject":           "",
		"DistributedVirtualSwitch":          "ManagedEntity",
		"PropertyFilter":                    "",
		"NoSuchType":                        "",
		"HostActiveDirectoryAuthentication": "HostDirectoryStore", // not in the table
	}
	for typ, want := range tests {
		if got := Supertype(typ); got != want {
			t.Errorf("Supertype(%s) = %q, want %q", typ, got, want)
		}
	}
	if !IsA("HostSystem", "ExtensibleManagedObject") {
		t.Error("IsA(HostSystem, ExtensibleManagedObject) = false")
	}
}

func TestVolatileEditsArePublishedNotStored(t *testing.T) {
	ctx := context.Background()
	ms := newMemStore()
	r := New(ms)
	var ref types.ManagedObjectReference
	if err := r.Update(ctx, func(tx *Txn) error { ref = newFolder(tx, "a").Self; return nil }); err != nil {
		t.Fatal(err)
	}
	var seen []string
	r.Subscribe(func(_ uint64, cs []Change) {
		for _, c := range cs {
			seen = append(seen, c.New.(*mo.Folder).Name)
		}
	})
	err := r.Update(ctx, func(tx *Txn) error {
		tx.Volatile()
		Edit[mo.Folder](tx, ref).Name = "volatile"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := Get[mo.Folder](r, ref).Name; got != "volatile" || len(seen) != 1 {
		t.Fatalf("published name %q, changes seen %v", got, seen)
	}
	r2 := New(ms)
	if err := r2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := Get[mo.Folder](r2, ref).Name; got != "a" {
		t.Fatalf("stored name after a volatile edit = %q, want the last stored %q", got, "a")
	}
	// The next stored change stores the volatile value with it.
	if err := r.Update(ctx, func(tx *Txn) error { Edit[mo.Folder](tx, ref).OverallStatus = "green"; return nil }); err != nil {
		t.Fatal(err)
	}
	r3 := New(ms)
	if err := r3.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := Get[mo.Folder](r3, ref); got.Name != "volatile" || got.OverallStatus != "green" {
		t.Fatalf("stored folder = %q/%q", got.Name, got.OverallStatus)
	}
}
