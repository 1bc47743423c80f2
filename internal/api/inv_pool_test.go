package api_test

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// poolSpec is govc pool.create's default spec with a CPU reservation.
func poolSpec(cpuRes int64) types.ResourceConfigSpec {
	alloc := func(res int64) types.ResourceAllocationInfo {
		return types.ResourceAllocationInfo{
			Reservation: types.NewInt64(res), ExpandableReservation: types.NewBool(true), Limit: types.NewInt64(-1),
			Shares: &types.SharesInfo{Level: types.SharesLevelNormal},
		}
	}
	return types.ResourceConfigSpec{CpuAllocation: alloc(cpuRes), MemoryAllocation: alloc(0)}
}

// poolFixture is a cluster of one host (16 x 2600 MHz, 64 GB) and its root pool.
func poolFixture(t *testing.T) (*invFixture, mo.Datacenter, mo.ClusterComputeResource, *object.ResourcePool) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cluster := f.cluster(dc, "C1")
	f.host(cluster, "esx-01")
	var c mo.ClusterComputeResource
	f.props(cluster, &c)
	return f, dc, c, object.NewResourcePool(f.c, *c.ResourcePool)
}

func TestCreateResourcePool(t *testing.T) {
	f, _, c, root := poolFixture(t)
	p, err := root.Create(f.ctx, "dev", poolSpec(1000))
	mustOK(t, err)
	var pool mo.ResourcePool
	f.props(p.Reference(), &pool)
	if pool.Owner.Value != c.Self.Value || pool.Parent.Value != root.Reference().Value || pool.Config.CpuAllocation.Shares.Shares != 4000 ||
		pool.Config.Entity == nil || pool.Config.Entity.Value != p.Reference().Value {
		t.Errorf("pool owner %s parent %v config %+v", pool.Owner.Value, pool.Parent, pool.Config)
	}
	if sum, ok := pool.Summary.(*types.ResourcePoolSummary); !ok || sum.Name != "dev" {
		t.Errorf("summary %#v", pool.Summary)
	}
	// The pool's reservation comes out of the root's unreserved capacity.
	var r mo.ResourcePool
	f.props(root.Reference(), &r)
	if r.Runtime.Cpu.ReservationUsed != 1000 || r.Runtime.Cpu.UnreservedForPool != 16*2600-1000 || !sameRefs(r.ResourcePool, []types.ManagedObjectReference{p.Reference()}) {
		t.Errorf("root runtime.cpu %+v children %v", r.Runtime.Cpu, refValues(r.ResourcePool))
	}

	bad := func(mod func(*types.ResourceConfigSpec)) types.ResourceConfigSpec {
		s := poolSpec(0)
		mod(&s)
		return s
	}
	tests := []struct {
		name  string
		pname string
		spec  types.ResourceConfigSpec
		fault types.BaseMethodFault
	}{
		{"duplicate sibling", "dev", poolSpec(0), &types.DuplicateName{}},
		{"no reservation", "a", bad(func(s *types.ResourceConfigSpec) { s.CpuAllocation.Reservation = nil }), &types.InvalidArgument{}},
		{"no shares", "a", bad(func(s *types.ResourceConfigSpec) { s.MemoryAllocation.Shares = nil }), &types.InvalidArgument{}},
		{"no expandable flag", "a", bad(func(s *types.ResourceConfigSpec) { s.CpuAllocation.ExpandableReservation = nil }), &types.InvalidArgument{}},
		{"negative reservation", "a", bad(func(s *types.ResourceConfigSpec) { s.CpuAllocation.Reservation = types.NewInt64(-5) }), &types.InvalidArgument{}},
		{"limit below -1", "a", bad(func(s *types.ResourceConfigSpec) { s.CpuAllocation.Limit = types.NewInt64(-2) }), &types.InvalidArgument{}},
		{"limit below reservation", "a", bad(func(s *types.ResourceConfigSpec) {
			s.MemoryAllocation.Reservation, s.MemoryAllocation.Limit = types.NewInt64(100), types.NewInt64(50)
		}), &types.InvalidArgument{}},
		{"unknown shares level", "a", bad(func(s *types.ResourceConfigSpec) { s.CpuAllocation.Shares.Level = "lots" }), &types.InvalidArgument{}},
		{"too much CPU", "a", poolSpec(1 << 30), &types.InsufficientCpuResourcesFault{}},
		{"empty name", "", poolSpec(0), &types.InvalidName{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := root.Create(f.ctx, tc.pname, tc.spec)
			wantFault(t, err, tc.fault)
		})
	}
	// A sibling name under another parent is fine.
	_, err = p.Create(f.ctx, "dev", poolSpec(0))
	mustOK(t, err)
}

func TestUpdateResourcePool(t *testing.T) {
	f, _, _, root := poolFixture(t)
	p, err := root.Create(f.ctx, "dev", poolSpec(100))
	mustOK(t, err)
	_, err = root.Create(f.ctx, "test", poolSpec(0))
	mustOK(t, err)

	// govc pool.change -cpu.reservation 0 -mem.shares high
	mustOK(t, p.UpdateConfig(f.ctx, "", &types.ResourceConfigSpec{
		CpuAllocation:    types.ResourceAllocationInfo{Reservation: types.NewInt64(0)},
		MemoryAllocation: types.ResourceAllocationInfo{Shares: &types.SharesInfo{Level: types.SharesLevelHigh}},
	}))
	var pool mo.ResourcePool
	f.props(p.Reference(), &pool, "config")
	cfg := pool.Config
	if *cfg.CpuAllocation.Reservation != 0 || cfg.CpuAllocation.Shares.Level != types.SharesLevelNormal ||
		cfg.MemoryAllocation.Shares.Level != types.SharesLevelHigh || cfg.MemoryAllocation.Shares.Shares != 327680 || cfg.ChangeVersion != "2" {
		t.Errorf("config after update %+v / %+v (version %s)", cfg.CpuAllocation, cfg.MemoryAllocation, cfg.ChangeVersion)
	}
	mustOK(t, p.UpdateConfig(f.ctx, "prod", nil))
	f.props(p.Reference(), &pool, "name")
	if pool.Name != "prod" {
		t.Errorf("name %q after rename, want prod", pool.Name)
	}
	wantFault(t, p.UpdateConfig(f.ctx, "test", nil), &types.DuplicateName{})
	wantFault(t, p.UpdateConfig(f.ctx, "", &types.ResourceConfigSpec{
		CpuAllocation: types.ResourceAllocationInfo{Limit: types.NewInt64(-7)},
	}), &types.InvalidArgument{})
	wantFault(t, root.UpdateConfig(f.ctx, "", &types.ResourceConfigSpec{
		CpuAllocation: types.ResourceAllocationInfo{Reservation: types.NewInt64(1)},
	}), &types.NotSupported{})
}

func TestDestroyResourcePool(t *testing.T) {
	f, dc, c, root := poolFixture(t)
	parent, err := root.Create(f.ctx, "parent", poolSpec(0))
	mustOK(t, err)
	child, err := parent.Create(f.ctx, "child", poolSpec(0))
	mustOK(t, err)
	vm := f.addVM("vm1", dc, c.Host[0], parent.Reference(), c.Datastore[0], c.Network[0], types.VirtualMachinePowerStatePoweredOff)

	mustOK(t, f.wait(parent.Destroy(f.ctx)))
	if f.exists(parent.Reference()) {
		t.Fatal("pool still exists")
	}
	var r mo.ResourcePool
	f.props(root.Reference(), &r, "resourcePool", "vm")
	if !sameRefs(r.ResourcePool, []types.ManagedObjectReference{child.Reference()}) || !sameRefs(r.Vm, []types.ManagedObjectReference{vm}) {
		t.Errorf("root children %v vms %v: want the destroyed pool's child and VM", refValues(r.ResourcePool), refValues(r.Vm))
	}
	var v mo.VirtualMachine
	f.props(vm, &v, "resourcePool")
	var cp mo.ResourcePool
	f.props(child.Reference(), &cp, "parent")
	if v.ResourcePool.Value != root.Reference().Value || cp.Parent.Value != root.Reference().Value {
		t.Errorf("vm pool %v, child parent %v: want the root pool", v.ResourcePool, cp.Parent)
	}
	wantFault(t, f.wait(root.Destroy(f.ctx)), &types.NotSupported{})

	// DestroyChildren empties a pool's subtree.
	_, err = child.Create(f.ctx, "grandchild", poolSpec(0))
	mustOK(t, err)
	mustOK(t, root.DestroyChildren(f.ctx))
	f.props(root.Reference(), &r, "resourcePool")
	if len(r.ResourcePool) != 0 || f.exists(child.Reference()) {
		t.Errorf("children left: %v", refValues(r.ResourcePool))
	}
}
