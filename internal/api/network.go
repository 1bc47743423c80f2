package api

import (
	"context"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
)

// Networks are destroyed through ManagedEntity.Destroy_Task (entity.go).
func (s *Service) registerNetwork(t *soap.Table) {
	soap.Register(t, "Network", "DestroyNetwork", s.destroyNetwork)
}

// destroyNetwork serves the deprecated synchronous Network.DestroyNetwork.
func (s *Service) destroyNetwork(ctx *soap.Context, _ *types.DestroyNetwork) (any, error) {
	if err := s.Destroy(ctx, ctx.UserName(), ctx.This, 0); err != nil {
		return nil, err
	}
	return &types.DestroyNetworkResponse{}, nil
}

// CreateNetwork creates a standard network (a port group name shared by
// hosts, like "VM Network") called name in the network folder of
// datacenter. Hosts join it through AddHost. Faults: InvalidName,
// DuplicateName (a network of the datacenter has the name),
// ManagedObjectNotFound.
func (s *Service) CreateNetwork(ctx context.Context, user string, datacenter types.ManagedObjectReference, name string) (types.ManagedObjectReference, error) {
	name, err := entityName(name, "network")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	var ref types.ManagedObjectReference
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		dc, err := lookupAs[mo.Datacenter](tx, datacenter, "Datacenter")
		if err != nil {
			return err
		}
		if err := checkUnique(tx, dc.Network, name, ref); err != nil {
			return err
		}
		ref = newNetworkTxn(tx, dc, name)
		return nil
	})
	return ref, err
}

// newNetworkTxn creates a standard network called name in dc's network
// folder.
func newNetworkTxn(tx *inventory.Txn, dc *mo.Datacenter, name string) types.ManagedObjectReference {
	ref := tx.NewRef("Network")
	n := &mo.Network{Name: name}
	initEntity(&n.ManagedEntity, ref, name, &dc.NetworkFolder)
	n.Summary = &types.NetworkSummary{Network: refp(ref), Name: name, Accessible: true}
	tx.Create(n, true)
	addChildTxn(tx, dc.NetworkFolder, ref)
	return ref
}

// networkNamedTxn returns the standard network called name of datacenter
// dc, creating it when missing.
func networkNamedTxn(tx *inventory.Txn, dcRef types.ManagedObjectReference, name string) types.ManagedObjectReference {
	dc := tx.Get(dcRef).(*mo.Datacenter)
	for _, r := range dc.Network {
		if n, ok := tx.Get(r).(*mo.Network); ok && n.Name == name {
			return r
		}
	}
	return newNetworkTxn(tx, dc, name)
}

// setNetworkName keeps the two name fields of a network and its summary's
// name equal.
func setNetworkName(n *mo.Network, name string) {
	n.Name, n.ManagedEntity.Name = name, name
	if sum, ok := n.Summary.(*types.NetworkSummary); ok {
		sum.Name = name
	}
}
