package api

import (
	"context"
	"fmt"
	"reflect"
	"strconv"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// Share values vCenter gives a resource pool for each shares level.
var (
	cpuPoolShares = map[types.SharesLevel]int32{types.SharesLevelLow: 2000, types.SharesLevelNormal: 4000, types.SharesLevelHigh: 8000}
	memPoolShares = map[types.SharesLevel]int32{types.SharesLevelLow: 81920, types.SharesLevelNormal: 163840, types.SharesLevelHigh: 327680}
)

func (s *Service) registerResourcePool(t *soap.Table) {
	soap.Register(t, "ResourcePool", "CreateResourcePool", s.createResourcePool)
	soap.Register(t, "ResourcePool", "UpdateConfig", s.updatePoolConfig)
	soap.Register(t, "ResourcePool", "DestroyChildren", s.destroyPoolChildren)
	soap.Register(t, "ResourcePool", "Destroy_Task", s.destroyPool)
}

func (s *Service) createResourcePool(ctx *soap.Context, req *types.CreateResourcePool) (any, error) {
	ref, err := s.CreateResourcePool(ctx, ctx.UserName(), ctx.This, req.Name, req.Spec)
	if err != nil {
		return nil, err
	}
	return &types.CreateResourcePoolResponse{Returnval: ref}, nil
}

// CreateResourcePool creates a child pool called name under the pool
// parent, as ResourcePool.CreateResourcePool does, and posts a
// ResourcePoolCreatedEvent. spec must set the reservation, limit, expandable
// reservation and shares of both allocations. Faults: InvalidName,
// DuplicateName (a sibling pool has the name), InvalidArgument (a bad
// allocation), InsufficientCpuResourcesFault or
// InsufficientMemoryResourcesFault (the parent cannot grant the
// reservation), ManagedObjectNotFound.
func (s *Service) CreateResourcePool(ctx context.Context, user string, parent types.ManagedObjectReference, name string, spec types.ResourceConfigSpec) (types.ManagedObjectReference, error) {
	name, err := entityName(name, "resource pool")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	spec = vim.DeepCopy(spec)
	if err := validatePoolSpec(&spec, true); err != nil {
		return types.ManagedObjectReference{}, err
	}
	var (
		ref   types.ManagedObjectReference
		owner types.ManagedObjectReference
		pname string
	)
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		p, err := lookupAs[mo.ResourcePool](tx, parent, "ResourcePool")
		if err != nil {
			return err
		}
		if err := checkUnique(tx, p.ResourcePool, name, ref); err != nil {
			return err
		}
		if err := checkAdmission(p, types.ResourceConfigSpec{}, spec); err != nil {
			return err
		}
		owner, pname = p.Owner, p.Name
		ref = tx.NewRef("ResourcePool")
		np := &mo.ResourcePool{}
		initEntity(&np.ManagedEntity, ref, name, &p.Self)
		np.Owner = p.Owner
		spec.Entity = &ref
		spec.ChangeVersion = "1"
		spec.LastModified = types.NewTime(s.now())
		np.Config = spec
		tx.Create(np, true)
		pp := inventory.Edit[mo.ResourcePool](tx, p.Self)
		pp.ResourcePool = append(pp.ResourcePool, ref)
		refreshComputeTxn(tx, owner)
		return nil
	})
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	crName := entityOf(s.reg, owner).Name
	s.postEvent(&types.ResourcePoolCreatedEvent{
		ResourcePoolEvent: types.ResourcePoolEvent{ResourcePool: poolArg(name, ref)},
		Parent:            poolArg(pname, parent),
	}, user, 0, owner, fmt.Sprintf("Created resource pool %s in compute-resource %s in %s", name, crName, dcNameOf(datacenterOf(s.reg, owner))))
	return ref, nil
}

// newRootPoolTxn creates the root resource pool "Resources" of the compute
// resource owner; refreshComputeTxn sizes it.
func newRootPoolTxn(tx *inventory.Txn, owner types.ManagedObjectReference) types.ManagedObjectReference {
	ref := tx.NewRef("ResourcePool")
	p := &mo.ResourcePool{}
	initEntity(&p.ManagedEntity, ref, "Resources", &owner)
	p.Owner = owner
	alloc := func(shares int32) types.ResourceAllocationInfo {
		return types.ResourceAllocationInfo{
			Reservation: types.NewInt64(0), ExpandableReservation: types.NewBool(false), Limit: types.NewInt64(0),
			Shares: &types.SharesInfo{Shares: shares, Level: types.SharesLevelNormal},
		}
	}
	p.Config = types.ResourceConfigSpec{
		Entity: &ref, ChangeVersion: "1",
		CpuAllocation:    alloc(cpuPoolShares[types.SharesLevelNormal]),
		MemoryAllocation: alloc(memPoolShares[types.SharesLevelNormal]),
	}
	tx.Create(p, true)
	return ref
}

// isRootPool reports whether p is a compute resource's root pool.
func isRootPool(p *mo.ResourcePool) bool {
	return p.Parent != nil && p.Parent.Value == p.Owner.Value
}

// validatePoolSpec checks both allocations of spec and normalizes share
// counts of the predefined levels. complete says every field must be set.
func validatePoolSpec(spec *types.ResourceConfigSpec, complete bool) error {
	if err := validateAllocation(&spec.CpuAllocation, "spec.cpuAllocation", cpuPoolShares, complete); err != nil {
		return err
	}
	return validateAllocation(&spec.MemoryAllocation, "spec.memoryAllocation", memPoolShares, complete)
}

func validateAllocation(a *types.ResourceAllocationInfo, prop string, levels map[types.SharesLevel]int32, complete bool) error {
	if complete {
		switch {
		case a.Reservation == nil:
			return vim.InvalidArgument(prop+".reservation", "%s.reservation is required.", prop)
		case a.Limit == nil:
			return vim.InvalidArgument(prop+".limit", "%s.limit is required (-1 for unlimited).", prop)
		case a.ExpandableReservation == nil:
			return vim.InvalidArgument(prop+".expandableReservation", "%s.expandableReservation is required.", prop)
		case a.Shares == nil:
			return vim.InvalidArgument(prop+".shares", "%s.shares is required.", prop)
		}
	}
	if a.Reservation != nil && *a.Reservation < 0 {
		return vim.InvalidArgument(prop+".reservation", "%s.reservation must not be negative (%d).", prop, *a.Reservation)
	}
	if a.Limit != nil && *a.Limit < -1 {
		return vim.InvalidArgument(prop+".limit", "%s.limit must be -1 (unlimited) or at least 0, not %d.", prop, *a.Limit)
	}
	if a.Limit != nil && a.Reservation != nil && *a.Limit != -1 && *a.Limit < *a.Reservation {
		return vim.InvalidArgument(prop+".limit", "%s.limit (%d) must not be below the reservation (%d).", prop, *a.Limit, *a.Reservation)
	}
	if a.OverheadLimit != nil {
		return vim.InvalidArgument(prop+".overheadLimit", "%s.overheadLimit cannot be set on a resource pool.", prop)
	}
	if sh := a.Shares; sh != nil {
		if sh.Level == types.SharesLevelCustom {
			if sh.Shares < 0 {
				return vim.InvalidArgument(prop+".shares.shares", "%s.shares.shares must not be negative (%d).", prop, sh.Shares)
			}
		} else if n, ok := levels[sh.Level]; ok {
			sh.Shares = n
		} else {
			return vim.InvalidArgument(prop+".shares.level", "%s.shares.level must be low, normal, high or custom, not %q.", prop, sh.Level)
		}
	}
	return nil
}

// checkAdmission refuses a change of a child pool's reservations from old
// to next that parent p cannot grant.
func checkAdmission(p *mo.ResourcePool, old, next types.ResourceConfigSpec) error {
	need := func(o, n types.ResourceAllocationInfo) int64 {
		return int64Val(n.Reservation) - int64Val(o.Reservation)
	}
	if d := need(old.CpuAllocation, next.CpuAllocation); d > 0 && d > p.Runtime.Cpu.UnreservedForPool {
		return vim.NewFault(&types.InsufficientCpuResourcesFault{Unreserved: p.Runtime.Cpu.UnreservedForPool, Requested: d},
			"The available CPU resources in the parent resource pool '%s' are insufficient for the operation: %d MHz unreserved, %d MHz requested.",
			p.Name, p.Runtime.Cpu.UnreservedForPool, d)
	}
	free := p.Runtime.Memory.UnreservedForPool >> 20
	if d := need(old.MemoryAllocation, next.MemoryAllocation); d > 0 && d > free {
		return vim.NewFault(&types.InsufficientMemoryResourcesFault{Unreserved: p.Runtime.Memory.UnreservedForPool, Requested: d << 20},
			"The available memory resources in the parent resource pool '%s' are insufficient for the operation: %d MB unreserved, %d MB requested.",
			p.Name, free, d)
	}
	return nil
}

// int64Val returns *p, or 0 for nil.
func int64Val(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// refreshPoolsTxn sizes cr's root pool to cr's effective capacity and
// recomputes the runtime (reservation used, unreserved, maximum usage) and
// summary of every pool of cr, editing only the pools that change.
func refreshPoolsTxn(tx *inventory.Txn, cr *mo.ComputeResource) {
	if cr.ResourcePool == nil {
		return
	}
	root, ok := tx.Get(*cr.ResourcePool).(*mo.ResourcePool)
	if !ok {
		return
	}
	var cpu, memMB int64
	if cr.Summary != nil {
		sum := cr.Summary.GetComputeResourceSummary()
		cpu, memMB = int64(sum.EffectiveCpu), sum.EffectiveMemory
	}
	cfg := vim.DeepCopy(root.Config)
	cfg.CpuAllocation.Reservation, cfg.CpuAllocation.Limit = types.NewInt64(cpu), types.NewInt64(cpu)
	cfg.MemoryAllocation.Reservation, cfg.MemoryAllocation.Limit = types.NewInt64(memMB), types.NewInt64(memMB)
	refreshPoolTxn(tx, root, cfg, nil)
}

// refreshPoolTxn sets pool p's config to cfg, computes its runtime from its
// parent's (nil for a root pool), and recurses into its children.
func refreshPoolTxn(tx *inventory.Txn, p *mo.ResourcePool, cfg types.ResourceConfigSpec, parent *types.ResourcePoolRuntimeInfo) {
	var children []*mo.ResourcePool
	for _, c := range p.ResourcePool {
		if cp, ok := tx.Get(c).(*mo.ResourcePool); ok {
			children = append(children, cp)
		}
	}
	rt := types.ResourcePoolRuntimeInfo{OverallStatus: types.ManagedEntityStatusGreen}
	rt.Cpu = poolUsage(cfg.CpuAllocation, 1, children, func(c types.ResourceConfigSpec) types.ResourceAllocationInfo { return c.CpuAllocation }, parentUsage(parent, true))
	rt.Memory = poolUsage(cfg.MemoryAllocation, 1<<20, children, func(c types.ResourceConfigSpec) types.ResourceAllocationInfo { return c.MemoryAllocation }, parentUsage(parent, false))
	sum := &types.ResourcePoolSummary{Name: p.Name, Config: cfg, Runtime: rt, QuickStats: &types.ResourcePoolQuickStats{}}
	if !reflect.DeepEqual(p.Config, cfg) || !reflect.DeepEqual(p.Runtime, rt) || !reflect.DeepEqual(p.Summary, types.BaseResourcePoolSummary(sum)) {
		e := inventory.Edit[mo.ResourcePool](tx, p.Self)
		e.Config, e.Runtime, e.Summary = cfg, rt, sum
	}
	for _, c := range children {
		refreshPoolTxn(tx, c, c.Config, &rt)
	}
}

func parentUsage(rt *types.ResourcePoolRuntimeInfo, cpu bool) *types.ResourcePoolResourceUsage {
	switch {
	case rt == nil:
		return nil
	case cpu:
		return &rt.Cpu
	}
	return &rt.Memory
}

// poolUsage computes one resource's usage figures of a pool from its
// allocation a (in config units; unit converts to runtime units), its
// children's reservations, and its parent's figures (nil for the root).
func poolUsage(a types.ResourceAllocationInfo, unit int64, children []*mo.ResourcePool, alloc func(types.ResourceConfigSpec) types.ResourceAllocationInfo, parent *types.ResourcePoolResourceUsage) types.ResourcePoolResourceUsage {
	var used int64
	for _, c := range children {
		used += int64Val(alloc(c.Config).Reservation) * unit
	}
	res := int64Val(a.Reservation) * unit
	u := types.ResourcePoolResourceUsage{ReservationUsed: used, MaxUsage: res}
	if parent != nil {
		u.MaxUsage = parent.MaxUsage
		if l := int64Val(a.Limit); a.Limit != nil && l >= 0 && l*unit < u.MaxUsage {
			u.MaxUsage = l * unit
		}
	}
	u.UnreservedForPool = res - used
	if parent != nil && a.ExpandableReservation != nil && *a.ExpandableReservation {
		u.UnreservedForPool += parent.UnreservedForPool
	}
	if u.UnreservedForPool < 0 {
		u.UnreservedForPool = 0
	}
	u.UnreservedForVm = u.UnreservedForPool
	return u
}

func (s *Service) updatePoolConfig(ctx *soap.Context, req *types.UpdateConfig) (any, error) {
	if err := s.UpdateResourcePool(ctx, ctx.UserName(), ctx.This, req.Name, req.Config); err != nil {
		return nil, err
	}
	return &types.UpdateConfigResponse{}, nil
}

// UpdateResourcePool renames pool (when name is not empty) and applies the
// set fields of config (when not nil), as ResourcePool.UpdateConfig does,
// and posts a ResourcePoolReconfiguredEvent. The root pool's allocation
// follows its compute resource and cannot be changed. Faults: InvalidName,
// DuplicateName, InvalidArgument, NotSupported, Insufficient*ResourcesFault.
func (s *Service) UpdateResourcePool(ctx context.Context, user string, pool types.ManagedObjectReference, name string, config *types.ResourceConfigSpec) error {
	if name != "" {
		var err error
		if name, err = entityName(name, "resource pool"); err != nil {
			return err
		}
	}
	var (
		owner types.ManagedObjectReference
		final string
	)
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		p, err := lookupAs[mo.ResourcePool](tx, pool, "ResourcePool")
		if err != nil {
			return err
		}
		owner, final = p.Owner, p.Name
		if isRootPool(p) && (config != nil || name != "") {
			return vim.NotSupported("'%s' is the root resource pool of its cluster or host: its name and allocation cannot be changed. Create a child pool instead.", p.Name)
		}
		next := vim.DeepCopy(p.Config)
		if config != nil {
			c := vim.DeepCopy(config)
			if err := validatePoolSpec(c, false); err != nil {
				return err
			}
			mergeSet(&next.CpuAllocation, &c.CpuAllocation)
			mergeSet(&next.MemoryAllocation, &c.MemoryAllocation)
			if err := validatePoolSpec(&next, true); err != nil {
				return err
			}
			if parent, ok := tx.Get(*p.Parent).(*mo.ResourcePool); ok {
				if err := checkAdmission(parent, p.Config, next); err != nil {
					return err
				}
			}
			n, _ := strconv.Atoi(next.ChangeVersion)
			next.ChangeVersion = strconv.Itoa(n + 1)
			next.LastModified = types.NewTime(s.now())
		}
		if name != "" && name != p.Name {
			if err := checkUnique(tx, siblings(tx, p), name, p.Self); err != nil {
				return err
			}
			final = name
		}
		e := inventory.Edit[mo.ResourcePool](tx, pool)
		e.Name, e.Config = final, next
		refreshComputeTxn(tx, owner)
		return nil
	})
	if err != nil {
		return err
	}
	s.postEvent(&types.ResourcePoolReconfiguredEvent{ResourcePoolEvent: types.ResourcePoolEvent{ResourcePool: poolArg(final, pool)}},
		user, 0, owner, fmt.Sprintf("Updated configuration for %s in compute-resource %s in %s", final, entityOf(s.reg, owner).Name, dcNameOf(datacenterOf(s.reg, owner))))
	return nil
}

func (s *Service) destroyPool(ctx *soap.Context, _ *types.Destroy_Task) (any, error) {
	this, user := ctx.This, ctx.UserName()
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: this, DescriptionID: this.Type + ".destroy", User: user},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			return nil, s.DestroyResourcePool(tctx, user, this, t.ChainID)
		})
	if err != nil {
		return nil, err
	}
	return &types.Destroy_TaskResponse{Returnval: ref}, nil
}

// DestroyResourcePool removes a child pool, as ResourcePool.Destroy_Task
// does: its child pools and its VMs move to its parent pool. It posts a
// ResourcePoolDestroyedEvent. Faults: NotSupported (a root pool, or a vApp),
// ManagedObjectNotFound.
func (s *Service) DestroyResourcePool(ctx context.Context, user string, pool types.ManagedObjectReference, chain int32) error {
	var evs []pendingEvent
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		p, err := s.destroyablePool(tx, pool)
		if err != nil {
			return err
		}
		evs = append(evs, s.poolDestroyedEvent(p, user, chain))
		movePoolContentsTxn(tx, p, *p.Parent)
		removePoolTxn(tx, p)
		refreshComputeTxn(tx, p.Owner)
		return nil
	})
	if err != nil {
		return err
	}
	s.emit(evs)
	return nil
}

func (s *Service) destroyablePool(r objReader, ref types.ManagedObjectReference) (*mo.ResourcePool, error) {
	if _, ok := r.Get(ref).(*mo.VirtualApp); ok {
		return nil, vim.NotSupported("vApps are not supported yet.")
	}
	p, err := lookupAs[mo.ResourcePool](r, ref, "ResourcePool")
	if err != nil {
		return nil, err
	}
	if isRootPool(p) {
		return nil, vim.NotSupported("'%s' is the root resource pool of '%s' and goes away only with it; destroy the cluster or host instead.",
			p.Name, entityOf(r, p.Owner).Name)
	}
	return p, nil
}

func (s *Service) poolDestroyedEvent(p *mo.ResourcePool, user string, chain int32) pendingEvent {
	cr := entityOf(s.reg, p.Owner)
	return s.captureEvent(&types.ResourcePoolDestroyedEvent{ResourcePoolEvent: types.ResourcePoolEvent{ResourcePool: poolArg(p.Name, p.Self)}},
		user, chain, p.Owner, fmt.Sprintf("Removed resource pool %s on %s in %s", p.Name, cr.Name, dcNameOf(datacenterOf(s.reg, p.Owner))))
}

// movePoolContentsTxn moves p's child pools and VMs to the pool to.
func movePoolContentsTxn(tx *inventory.Txn, p *mo.ResourcePool, to types.ManagedObjectReference) {
	dst := inventory.Edit[mo.ResourcePool](tx, to)
	for _, c := range p.ResourcePool {
		if e := editEntity(tx, c); e != nil {
			e.Parent = refp(to)
			appendRef(&dst.ResourcePool, c)
		}
	}
	for _, v := range p.Vm {
		if vm := inventory.Edit[mo.VirtualMachine](tx, v); vm != nil {
			vm.ResourcePool = refp(to)
			appendRef(&dst.Vm, v)
		}
	}
}

// removePoolTxn deletes p and unlinks it from its parent pool.
func removePoolTxn(tx *inventory.Txn, p *mo.ResourcePool) {
	if parent := inventory.Edit[mo.ResourcePool](tx, *p.Parent); parent != nil {
		parent.ResourcePool = dropRef(parent.ResourcePool, p.Self)
	}
	tx.Delete(p.Self)
}

func (s *Service) destroyPoolChildren(ctx *soap.Context, _ *types.DestroyChildren) (any, error) {
	if err := s.DestroyPoolChildren(ctx, ctx.UserName(), ctx.This); err != nil {
		return nil, err
	}
	return &types.DestroyChildrenResponse{}, nil
}

// DestroyPoolChildren removes every descendant pool of pool, as
// ResourcePool.DestroyChildren does: their VMs move to pool.
func (s *Service) DestroyPoolChildren(ctx context.Context, user string, pool types.ManagedObjectReference) error {
	var evs []pendingEvent
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		p, err := lookupAs[mo.ResourcePool](tx, pool, "ResourcePool")
		if err != nil {
			return err
		}
		var walk func(ref types.ManagedObjectReference)
		walk = func(ref types.ManagedObjectReference) {
			c, ok := tx.Get(ref).(*mo.ResourcePool)
			if !ok {
				return
			}
			for _, cc := range c.ResourcePool {
				walk(cc)
			}
			evs = append(evs, s.poolDestroyedEvent(c, user, 0))
			c = tx.Get(ref).(*mo.ResourcePool)
			movePoolContentsTxn(tx, c, pool)
			removePoolTxn(tx, c)
		}
		for _, c := range p.ResourcePool {
			walk(c)
		}
		refreshComputeTxn(tx, p.Owner)
		return nil
	})
	if err != nil {
		return err
	}
	s.emit(evs)
	return nil
}
