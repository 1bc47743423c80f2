package vim

import (
	"reflect"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func testVM() *mo.VirtualMachine {
	vm := &mo.VirtualMachine{}
	vm.Self = types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-1"}
	vm.Name = "vm1"
	vm.Parent = &types.ManagedObjectReference{Type: "Folder", Value: "group-v3"}
	vm.Summary.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOn
	vm.Config = &types.VirtualMachineConfigInfo{
		Hardware: types.VirtualHardware{
			MemoryMB: 2048,
			Device: []types.BaseVirtualDevice{
				&types.VirtualIDEController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 200}}},
				&types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: 2000, UnitNumber: types.NewInt32(0)}, CapacityInKB: 1024},
			},
		},
		ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "guestinfo.a.b", Value: "x"}},
	}
	return vm
}

func TestProperty(t *testing.T) {
	vm := testVM()
	empty := &mo.VirtualMachine{}
	tests := []struct {
		name string
		obj  any
		path string
		want any
		ok   bool
	}{
		{"top level", vm, "name", "vm1", true},
		{"embedded entity moref", vm, "parent", types.ManagedObjectReference{Type: "Folder", Value: "group-v3"}, true},
		{"nested enum", vm, "summary.runtime.powerState", types.VirtualMachinePowerStatePoweredOn, true},
		{"through pointer", vm, "config.hardware.memoryMB", int32(2048), true},
		{"keyed int element", vm, "config.hardware.device[2000].capacityInKB", int64(1024), true},
		{"keyed string element", vm, `config.extraConfig["guestinfo.a.b"].value`, "x", true},
		{"keyed element missing", vm, "config.hardware.device[9].key", nil, true},
		{"unset intermediate", empty, "config.hardware.memoryMB", nil, true},
		{"empty array is unset", empty, "datastore", nil, true},
		{"unknown top level", vm, "nosuch", nil, false},
		{"unknown nested", vm, "config.hardware.nosuch", nil, false},
		{"through moref", vm, "parent.name", nil, false},
		{"through array", vm, "config.hardware.device.key", nil, false},
		{"bad syntax", vm, "config..hardware", nil, false},
		{"unterminated key", vm, "config.hardware.device[2000", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Property(tt.obj, tt.path)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Property(%q) = %#v, %v; want %#v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
	// Device lists come back as the slice itself.
	devs, ok := Property(vm, "config.hardware.device")
	if d, isSlice := devs.([]types.BaseVirtualDevice); !ok || !isSlice || len(d) != 2 {
		t.Fatalf("config.hardware.device = %#v, %v", devs, ok)
	}
}

func TestCheckPath(t *testing.T) {
	vmType, ok := ManagedType("VirtualMachine")
	if !ok {
		t.Fatal("ManagedType(VirtualMachine) not found")
	}
	entity, ok := ManagedType("ManagedEntity")
	if !ok {
		t.Fatal("ManagedType(ManagedEntity) not found")
	}
	for i := 0; i < 2; i++ { // the second answer comes from the cache
		if _, ok := ManagedType("NoSuchType"); ok {
			t.Fatal("ManagedType(NoSuchType) found")
		}
	}
	ds, _ := ManagedType("Datastore")
	tests := []struct {
		t    reflect.Type
		path string
		want bool
	}{
		{vmType, "name", true},
		{vmType, "summary.runtime.powerState", true},
		{vmType, "config.hardware.device", true},
		{vmType, "config.hardware.device[4000].key", true},
		{vmType, "config.hardware.device[4000].capacityInKB", true}, // dynamic: VirtualDisk has it
		{vmType, "config.hardware.nosuch", false},
		{vmType, "nosuch", false},
		{vmType, "parent.name", false},
		{vmType, "config.hardware.device.key", false},
		{vmType, `config.hardware.device["4000"]`, false}, // a device's key is an int
		{vmType, `config.extraConfig["guestinfo.x"]`, true},
		{vmType, "config.extraConfig[4]", false}, // an option's key is a string
		{entity, "name", true},
		{entity, "summary", false},
		{ds, "info.url", true},
		{ds, "info.nas.remoteHost", true}, // NasDatastoreInfo, known only per value
	}
	for _, tt := range tests {
		if got := CheckPath(tt.t, tt.path); got != tt.want {
			t.Errorf("CheckPath(%s, %q) = %v, want %v", tt.t.Name(), tt.path, got, tt.want)
		}
	}
}

func TestPropertyNames(t *testing.T) {
	vmType, _ := ManagedType("VirtualMachine")
	names := PropertyNames(vmType)
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	for _, want := range []string{"name", "parent", "config", "summary", "runtime", "availableField"} {
		if !has[want] {
			t.Errorf("PropertyNames(VirtualMachine) lacks %q: %v", want, names)
		}
	}
	if has["self"] || has["Self"] || has["-"] {
		t.Errorf("PropertyNames(VirtualMachine) holds Self: %v", names)
	}
}

func TestAnyValue(t *testing.T) {
	refs := []types.ManagedObjectReference{{Type: "VirtualMachine", Value: "vm-1"}}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"scalar", int32(3), int32(3)},
		{"strings", []string{"a"}, types.ArrayOfString{String: []string{"a"}}},
		{"ints", []int32{1}, types.ArrayOfInt{Int: []int32{1}}},
		{"longs", []int64{1}, types.ArrayOfLong{Long: []int64{1}}},
		{"morefs", refs, types.ArrayOfManagedObjectReference{ManagedObjectReference: refs}},
		{"interfaces", []types.BaseVirtualDevice{&types.VirtualDisk{}}, types.ArrayOfVirtualDevice{VirtualDevice: []types.BaseVirtualDevice{&types.VirtualDisk{}}}},
		{"structs", []types.VirtualMachineMessage{{Id: "x"}}, types.ArrayOfVirtualMachineMessage{VirtualMachineMessage: []types.VirtualMachineMessage{{Id: "x"}}}},
		{"bytes", []byte("ab"), types.ArrayOfByte{Byte: types.ByteSlice("ab")}},
		{"byte slice", types.ByteSlice("ab"), types.ArrayOfByte{Byte: types.ByteSlice("ab")}},
		{"no array type", []time.Duration{1}, []time.Duration{1}},
		{"no array type, cached", []time.Duration{1}, []time.Duration{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AnyValue(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("AnyValue(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestPropertyOmitsUnsetOptionalScalars(t *testing.T) {
	vm := &mo.VirtualMachine{Guest: &types.GuestInfo{ToolsRunningStatus: "guestToolsNotRunning"}}
	if v, ok := Property(vm, "guest.ipAddress"); !ok || v != nil {
		t.Errorf("unset guest.ipAddress = %#v, %v; want nil, true", v, ok)
	}
	vm.Guest.IpAddress = "10.0.2.15"
	if v, ok := Property(vm, "guest.ipAddress"); !ok || v != "10.0.2.15" {
		t.Errorf("guest.ipAddress = %#v, %v", v, ok)
	}
	// A required scalar is reported at its zero value; an optional one set
	// through a pointer is set.
	vm.Summary.Config.Template = false
	if v, _ := Property(vm, "summary.config.template"); v != false {
		t.Errorf("summary.config.template = %#v, want false", v)
	}
	vm.Config = &types.VirtualMachineConfigInfo{Hardware: types.VirtualHardware{NumCPU: 0}, NestedHVEnabled: types.NewBool(false)}
	if v, _ := Property(vm, "config.nestedHVEnabled"); v != false {
		t.Errorf("config.nestedHVEnabled = %#v, want false", v)
	}
}
