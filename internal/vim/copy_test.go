package vim

import (
	"reflect"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestDeepCopy(t *testing.T) {
	vm := testVM()
	vm.Config.Hardware.Device[1].(*types.VirtualDisk).Backing = &types.VirtualDiskFlatVer2BackingInfo{ThinProvisioned: types.NewBool(true)}
	c := DeepCopy(vm)
	if c == vm || !reflect.DeepEqual(c, vm) {
		t.Fatalf("DeepCopy returned the same pointer or a different value")
	}
	// Mutating the copy at every level must leave the original alone.
	c.Name = "changed"
	c.Parent.Value = "group-x"
	c.Config.Hardware.MemoryMB = 1
	disk := c.Config.Hardware.Device[1].(*types.VirtualDisk)
	disk.CapacityInKB = 7
	*disk.UnitNumber = 9
	*disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ThinProvisioned = false
	c.Config.Hardware.Device = append(c.Config.Hardware.Device[:1], &types.VirtualCdrom{})
	c.Config.ExtraConfig[0].GetOptionValue().Value = "y"

	orig := testVM()
	orig.Config.Hardware.Device[1].(*types.VirtualDisk).Backing = &types.VirtualDiskFlatVer2BackingInfo{ThinProvisioned: types.NewBool(true)}
	if !reflect.DeepEqual(vm, orig) {
		t.Fatalf("mutating the copy changed the original:\n%#v", vm.Config.Hardware.Device[1])
	}
}

func TestDeepCopyNilAndMaps(t *testing.T) {
	var nilVM *mo.VirtualMachine
	if DeepCopy(nilVM) != nil {
		t.Fatal("DeepCopy(nil) != nil")
	}
	var iface mo.Reference
	if DeepCopy(iface) != nil {
		t.Fatal("DeepCopy(nil interface) != nil")
	}
	m := map[string][]int{"a": {1}}
	c := DeepCopy(m)
	c["a"][0] = 2
	if m["a"][0] != 1 {
		t.Fatal("map values are shared")
	}
	// An interface holding a pointer keeps its dynamic type.
	var r mo.Reference = testVM()
	cr := DeepCopy(r)
	if _, ok := cr.(*mo.VirtualMachine); !ok || cr == r {
		t.Fatalf("DeepCopy(interface) = %T", cr)
	}
}
