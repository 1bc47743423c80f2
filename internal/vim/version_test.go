package vim

import (
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.7", "6.7.0.0", 0},
		{"6.7.3", "6.7", 1},
		{"7.0.3.0", "8.0.1.0", -1},
		{"8.0.10.0", "8.0.9.0", 1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	for v, want := range map[string]bool{"6.0": false, "6.5": true, "7.0.3.0": true, "8.0.3.0": true, "9.0.0.0": false} {
		if Supported(v) != want {
			t.Errorf("Supported(%q) = %v", v, !want)
		}
	}
}

func TestForVersionField(t *testing.T) {
	on := types.NewBool(true)
	info := &types.VirtualMachineConfigInfo{Name: "vm1", FixedPassthruHotPlugEnabled: on} // field since 8.0.1.0
	tests := []struct {
		version string
		kept    bool
	}{
		{"7.0.3.0", false},
		{"8.0.0.1", false},
		{"8.0.1.0", true},
		{"8.0.3.0", true},
	}
	for _, tt := range tests {
		got := ForVersion(info, tt.version).(*types.VirtualMachineConfigInfo)
		if kept := got.FixedPassthruHotPlugEnabled != nil; kept != tt.kept {
			t.Errorf("%s: fixedPassthruHotPlugEnabled kept = %v, want %v", tt.version, kept, tt.kept)
		}
		if got.Name != "vm1" {
			t.Errorf("%s: name lost", tt.version)
		}
	}
	if info.FixedPassthruHotPlugEnabled != on {
		t.Fatal("ForVersion modified its argument")
	}
	// Nothing to strip: the value itself comes back.
	plain := &types.VirtualMachineConfigInfo{Name: "vm1"}
	if ForVersion(plain, "6.7") != any(plain) {
		t.Fatal("ForVersion copied a value that needed no change")
	}
}

func TestForVersionInterface(t *testing.T) {
	newer := &types.HostTpmBootCompleteEventDetails{} // since 8.0.1.0
	oc := &types.ObjectContent{
		Obj: types.ManagedObjectReference{Type: "HostSystem", Value: "host-1"},
		PropSet: []types.DynamicProperty{
			{Name: "a", Val: newer},
			{Name: "b", Val: types.ArrayOfAnyType{AnyType: []types.AnyType{"x", newer, int32(1)}}},
		},
	}
	old := ForVersion(oc, "7.0.3.0").(*types.ObjectContent)
	if old.PropSet[0].Val != nil {
		t.Errorf("a type newer than the client survived in an interface slot: %#v", old.PropSet[0].Val)
	}
	arr := old.PropSet[1].Val.(types.ArrayOfAnyType).AnyType
	if len(arr) != 2 || arr[0] != "x" || arr[1] != int32(1) {
		t.Errorf("slice of interfaces = %#v, want the newer element dropped", arr)
	}
	if oc.PropSet[0].Val != newer || len(oc.PropSet[1].Val.(types.ArrayOfAnyType).AnyType) != 3 {
		t.Fatal("ForVersion modified its argument")
	}
	cur := ForVersion(oc, "8.0.3.0").(*types.ObjectContent)
	if cur.PropSet[0].Val != newer {
		t.Error("8.0.3 client lost a type it knows")
	}
	if !TypeKnown("VirtualMachine", "6.5") || TypeKnown("HostTpmBootCompleteEventDetails", "8.0.0.1") {
		t.Error("TypeKnown")
	}
}
