package api

import (
	"errors"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// placeVmsXCluster serves Folder.PlaceVmsXCluster (root folder only): each
// VM is placed, through its cluster's PlaceVm, in the first cluster of the
// spec's pools that recommends a place for it; the others' faults are
// reported when none does.
func (s *Service) placeVmsXCluster(ctx *soap.Context, req *types.PlaceVmsXCluster) (any, error) {
	if ctx.This.Value != s.content.RootFolder.Value {
		return nil, vim.NotSupported("PlaceVmsXCluster is served by the root folder only.")
	}
	spec := req.PlacementSpec
	var res types.PlaceVmsXClusterResult
	for _, vs := range spec.VmPlacementSpecs {
		name := vs.ConfigSpec.Name
		if vs.Vm != nil {
			if e := entityOf(s.reg, *vs.Vm); e != nil {
				name = e.Name
			}
		}
		info, faults := s.placeAcross(ctx, spec, vs)
		if info != nil {
			info.VmName = name
			res.PlacementInfos = append(res.PlacementInfos, *info)
			continue
		}
		for i := range faults {
			faults[i].VmName = name
		}
		res.Faults = append(res.Faults, faults...)
	}
	return &types.PlaceVmsXClusterResponse{Returnval: res}, nil
}

// placeAcross asks the clusters of spec's pools in turn to place one VM.
func (s *Service) placeAcross(ctx *soap.Context, spec types.PlaceVmsXClusterSpec, vs types.PlaceVmsXClusterSpecVmPlacementSpec) (*types.PlaceVmsXClusterResultPlacementInfo, []types.PlaceVmsXClusterResultPlacementFaults) {
	ptype := types.PlacementSpecPlacementTypeCreate
	if spec.PlacementType == string(types.PlaceVmsXClusterSpecPlacementTypeRelocate) {
		ptype = types.PlacementSpecPlacementTypeRelocate
	}
	var faults []types.PlaceVmsXClusterResultPlacementFaults
	for _, pr := range spec.ResourcePools {
		rec, err := s.placeInPool(ctx, pr, types.PlacementSpec{PlacementType: string(ptype), Vm: vs.Vm, ConfigSpec: &vs.ConfigSpec, RelocateSpec: vs.RelocateSpec})
		if err != nil {
			faults = append(faults, types.PlaceVmsXClusterResultPlacementFaults{ResourcePool: pr, Vm: vs.Vm,
				Faults: []types.LocalizedMethodFault{*localizedFault(err)}})
			continue
		}
		return &types.PlaceVmsXClusterResultPlacementInfo{Recommendation: rec, Vm: vs.Vm}, nil
	}
	return nil, faults
}

// placeInPool asks the cluster owning pool for a recommendation and points
// it at pool.
func (s *Service) placeInPool(ctx *soap.Context, pool types.ManagedObjectReference, spec types.PlacementSpec) (types.ClusterRecommendation, error) {
	var none types.ClusterRecommendation
	p, err := lookupAs[mo.ResourcePool](s.reg, pool, "ResourcePool")
	if err != nil {
		return none, err
	}
	c, ok := s.reg.Get(p.Owner).(*mo.ClusterComputeResource)
	if !ok {
		return none, vim.InvalidArgument("placementSpec.resourcePools", "The pool %s is not in a cluster.", p.Name)
	}
	cctx := *ctx
	cctx.This, cctx.Object = c.Self, c
	out, err := s.placeVm(&cctx, &types.PlaceVm{This: c.Self, PlacementSpec: spec})
	if err != nil {
		return none, err
	}
	res := out.(*types.PlaceVmResponse).Returnval
	if len(res.Recommendations) == 0 {
		return none, vim.NewFault(&types.InsufficientResourcesFault{}, "The cluster %s has no host that can take the virtual machine.", c.Name)
	}
	rec := res.Recommendations[0]
	for _, a := range rec.Action {
		if pa, ok := a.(*types.PlacementAction); ok && pa.RelocateSpec != nil {
			pa.RelocateSpec.Pool = &pool
		}
	}
	return rec, nil
}

// localizedFault turns err into the LocalizedMethodFault of a result.
func localizedFault(err error) *types.LocalizedMethodFault {
	var f *vim.Fault
	if errors.As(err, &f) {
		return f.Localized()
	}
	return vim.SystemError(err.Error()).Localized()
}
