package api

import (
	"context"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

func (s *Service) registerClusterMove(t *soap.Table) {
	soap.Register(t, "ClusterComputeResource", "MoveInto_Task", s.moveIntoCluster)
	soap.Register(t, "ClusterComputeResource", "MoveHostInto_Task", s.moveHostIntoCluster)
}

func (s *Service) moveIntoCluster(ctx *soap.Context, req *types.MoveInto_Task) (any, error) {
	ref, err := s.startHostMove(ctx, "ClusterComputeResource.moveInto", req.Host, nil)
	if err != nil {
		return nil, err
	}
	return &types.MoveInto_TaskResponse{Returnval: ref}, nil
}

func (s *Service) moveHostIntoCluster(ctx *soap.Context, req *types.MoveHostInto_Task) (any, error) {
	ref, err := s.startHostMove(ctx, "ClusterComputeResource.moveHostInto", []types.ManagedObjectReference{req.Host}, req.ResourcePool)
	if err != nil {
		return nil, err
	}
	return &types.MoveHostInto_TaskResponse{Returnval: ref}, nil
}

func (s *Service) startHostMove(ctx *soap.Context, desc string, hosts []types.ManagedObjectReference, pool *types.ManagedObjectReference) (types.ManagedObjectReference, error) {
	cluster, user := ctx.This, ctx.UserName()
	return s.tasks.Start(ctx, task.Spec{Entity: cluster, DescriptionID: desc, User: user},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			return nil, s.MoveHostsIntoCluster(tctx, user, cluster, hosts, pool)
		})
}

// MoveHostsIntoCluster moves hosts of the cluster's datacenter into cluster,
// as ClusterComputeResource.MoveInto_Task (and MoveHostInto_Task, with pool)
// do: a host from another cluster must be in maintenance mode (or
// disconnected); a standalone host's compute resource and its pools go away.
// The VMs registered on a moved host come along into pool (the cluster's
// root pool when nil). Faults: DuplicateName (a host already in the
// cluster), InvalidState, InvalidArgument (another datacenter, or a pool of
// another cluster), ManagedObjectNotFound.
func (s *Service) MoveHostsIntoCluster(ctx context.Context, user string, cluster types.ManagedObjectReference, hosts []types.ManagedObjectReference, pool *types.ManagedObjectReference) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		c, err := lookupAs[mo.ClusterComputeResource](tx, cluster, "ClusterComputeResource")
		if err != nil {
			return err
		}
		target := *c.ResourcePool
		if pool != nil {
			p, err := lookupAs[mo.ResourcePool](tx, *pool, "ResourcePool")
			if err != nil {
				return err
			}
			if p.Owner.Value != cluster.Value {
				return vim.InvalidArgument("resourcePool", "The resource pool %s does not belong to the cluster %s.", p.Name, c.Name)
			}
			target = p.Self
		}
		dc := datacenterOf(tx, cluster)
		refresh := []types.ManagedObjectReference{cluster}
		for _, hr := range hosts {
			from, err := moveHostTxn(tx, c, dc, hr, target)
			if err != nil {
				return err
			}
			refresh = append(refresh, from)
		}
		for _, r := range refresh {
			refreshComputeTxn(tx, r)
		}
		return nil
	})
}

// moveHostTxn moves one host into cluster c and returns the compute
// resource it left.
func moveHostTxn(tx *inventory.Txn, c *mo.ClusterComputeResource, dc *mo.Datacenter, hr, pool types.ManagedObjectReference) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	h, err := lookupAs[mo.HostSystem](tx, hr, "HostSystem")
	if err != nil {
		return none, err
	}
	if h.Parent == nil {
		return none, vim.InvalidState("The host %s has no compute resource.", h.Name)
	}
	from := *h.Parent
	if from.Value == c.Self.Value {
		return none, vim.DuplicateName(h.Name, hr)
	}
	if hdc := datacenterOf(tx, hr); dc == nil || hdc == nil || hdc.Self.Value != dc.Self.Value {
		return none, vim.InvalidArgument("host", "The host %s is in another datacenter than the cluster %s.", h.Name, c.Name)
	}
	switch old := tx.Get(from).(type) {
	case *mo.ClusterComputeResource:
		if !h.Runtime.InMaintenanceMode && h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected {
			return none, vim.InvalidState("The host %s must be in maintenance mode (or disconnected) to leave the cluster %s.", h.Name, old.Name)
		}
		oc := inventory.Edit[mo.ClusterComputeResource](tx, from)
		oc.Host = dropRef(oc.Host, hr)
	case *mo.ComputeResource:
		deletePoolTreeTxn(tx, old.ResourcePool)
		if old.Parent != nil {
			removeChildTxn(tx, *old.Parent, from)
		}
		tx.Delete(from)
	}
	for _, v := range h.Vm {
		moveVMPoolTxn(tx, v, pool)
	}
	e := inventory.Edit[mo.HostSystem](tx, hr)
	e.Parent = refp(c.Self)
	nc := inventory.Edit[mo.ClusterComputeResource](tx, c.Self)
	appendRef(&nc.Host, hr)
	return from, nil
}

// moveVMPoolTxn puts VM v into pool, out of the pool it was in.
func moveVMPoolTxn(tx *inventory.Txn, v, pool types.ManagedObjectReference) {
	vm := inventory.Edit[mo.VirtualMachine](tx, v)
	if vm == nil {
		return
	}
	if vm.ResourcePool != nil {
		if old := inventory.Edit[mo.ResourcePool](tx, *vm.ResourcePool); old != nil {
			old.Vm = dropRef(old.Vm, v)
		}
	}
	vm.ResourcePool = refp(pool)
	p := inventory.Edit[mo.ResourcePool](tx, pool)
	appendRef(&p.Vm, v)
}

// deletePoolTreeTxn deletes a pool and its descendants.
func deletePoolTreeTxn(tx *inventory.Txn, ref *types.ManagedObjectReference) {
	if ref == nil {
		return
	}
	p, ok := tx.Get(*ref).(*mo.ResourcePool)
	if !ok {
		return
	}
	for _, c := range p.ResourcePool {
		deletePoolTreeTxn(tx, &c)
	}
	tx.Delete(*ref)
}
