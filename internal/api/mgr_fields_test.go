package api_test

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/testserver"
)

// mgrVMFields returns a VM's custom field properties.
func mgrVMFields(t *testing.T, s *testserver.Server, ref types.ManagedObjectReference) mo.VirtualMachine {
	t.Helper()
	var vm mo.VirtualMachine
	err := property.DefaultCollector(s.Client.Client).RetrieveOne(mgrContext(t), ref,
		[]string{"customValue", "value", "availableField", "summary.customValue"}, &vm)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func mgrValues(values []types.BaseCustomFieldValue) map[int32]string {
	out := map[int32]string{}
	for _, v := range values {
		out[v.GetCustomFieldValue().Key] = v.(*types.CustomFieldStringValue).Value
	}
	return out
}

func TestCustomFields(t *testing.T) {
	dir := t.TempDir()
	s := testserver.New(t, testserver.WithDataDir(dir))
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	m, err := object.GetCustomFieldsManager(s.Client.Client)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := m.Add(ctx, "owner", "VirtualMachine", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	global, err := m.Add(ctx, "note", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if owner.Key == global.Key || owner.Type != "string" || owner.FieldInstancePrivileges == nil {
		t.Fatalf("definitions = %+v, %+v", owner, global)
	}
	_, err = m.Add(ctx, "owner", "VirtualMachine", nil, nil)
	mgrFault(t, err, &types.DuplicateName{})
	_, err = m.Add(ctx, "note", "HostSystem", nil, nil)
	mgrFault(t, err, &types.DuplicateName{})
	_, err = m.Add(ctx, "x", "NoSuchType", nil, nil)
	mgrFault(t, err, &types.InvalidArgument{})

	if err := m.Set(ctx, inv.vm1, owner.Key, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := object.NewVirtualMachine(s.Client.Client, inv.vm1).SetCustomValue(ctx, "note", "hi"); err != nil {
		t.Fatal(err)
	}
	mgrFault(t, m.Set(ctx, inv.host, owner.Key, "x"), &types.InvalidArgument{})
	mgrFault(t, m.Set(ctx, inv.vm1, 999, "x"), &types.InvalidArgument{})
	mgrFault(t, object.NewVirtualMachine(s.Client.Client, inv.vm1).SetCustomValue(ctx, "nope", "x"), &types.InvalidArgument{})

	vm := mgrVMFields(t, s, inv.vm1)
	want := map[int32]string{owner.Key: "alice", global.Key: "hi"}
	for what, values := range map[string][]types.BaseCustomFieldValue{"customValue": vm.CustomValue, "value": vm.Value, "summary.customValue": vm.Summary.CustomValue} {
		if got := mgrValues(values); len(got) != 2 || got[owner.Key] != "alice" || got[global.Key] != "hi" {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	if len(vm.AvailableField) != 2 || vm.AvailableField[0].Name != "note" || vm.AvailableField[1].Name != "owner" {
		t.Errorf("availableField = %+v", vm.AvailableField)
	}

	// Renaming and removing follow through to the entities.
	if err := m.Rename(ctx, owner.Key, "owned-by"); err != nil {
		t.Fatal(err)
	}
	mgrFault(t, m.Rename(ctx, owner.Key, "note"), &types.DuplicateName{})
	if err := m.Remove(ctx, global.Key); err != nil {
		t.Fatal(err)
	}
	mgrFault(t, m.Remove(ctx, global.Key), &types.InvalidArgument{})
	vm = mgrVMFields(t, s, inv.vm1)
	if got := mgrValues(vm.CustomValue); len(got) != 1 || got[owner.Key] != "alice" {
		t.Errorf("customValue after remove = %v", got)
	}
	if len(vm.AvailableField) != 1 || vm.AvailableField[0].Name != "owned-by" {
		t.Errorf("availableField after rename = %+v", vm.AvailableField)
	}

	// Definitions and values survive a restart; keys are not reused.
	s.Close()
	s2 := testserver.New(t, testserver.WithDataDir(dir))
	m2, err := object.GetCustomFieldsManager(s2.Client.Client)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := m2.Field(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 || defs[0].Name != "owned-by" || defs[0].Key != owner.Key {
		t.Fatalf("definitions after restart = %+v", defs)
	}
	next, err := m2.Add(ctx, "note", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.Key == owner.Key || next.Key == global.Key {
		t.Fatalf("key %d reused", next.Key)
	}
	if got := mgrValues(mgrVMFields(t, s2, inv.vm1).CustomValue); got[owner.Key] != "alice" {
		t.Fatalf("customValue after restart = %v", got)
	}
}
