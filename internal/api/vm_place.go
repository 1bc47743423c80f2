package api

import (
	"strconv"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// placeVm is ClusterComputeResource.PlaceVm: it recommends a host,
// datastore and pool of the cluster for a VM to create (or relocate): the
// usable host running the fewest VMs, with its datastore that has the most
// free space. Without any it returns no recommendation and a DRS fault.
func (s *Service) placeVm(ctx *soap.Context, req *types.PlaceVm) (any, error) {
	cl, ok := ctx.Object.(*mo.ClusterComputeResource)
	if !ok {
		return nil, vim.NotSupported("PlaceVm is a method of clusters.")
	}
	spec := req.PlacementSpec
	hosts := cl.Host
	if len(spec.Hosts) > 0 {
		hosts = spec.Hosts
	}
	var best *mo.HostSystem
	var bestDS *mo.Datastore
	for _, r := range hosts {
		h := inventory.Get[mo.HostSystem](s.reg, r)
		if h == nil || !containsRef(cl.Host, r) || hostUsable(h) != nil {
			continue
		}
		ds := s.roomiestDatastore(h, spec.Datastores)
		if ds == nil {
			continue
		}
		if best == nil || len(h.Vm) < len(best.Vm) {
			best, bestDS = h, ds
		}
	}
	res := types.PlacementResult{}
	if best == nil {
		res.DrsFault = &types.ClusterDrsFaults{Reason: "no usable host with a datastore in " + cl.Name}
		return &types.PlaceVmResponse{Returnval: res}, nil
	}
	host, ds, target := best.Self, bestDS.Self, cl.Self
	relocate := &types.VirtualMachineRelocateSpec{Host: &host, Datastore: &ds, Pool: cl.ResourcePool}
	res.Recommendations = []types.ClusterRecommendation{{
		Key:        strconv.FormatInt(s.now().UnixNano(), 10),
		Type:       "V1",
		Time:       s.now(),
		Rating:     1,
		Reason:     string(types.RecommendationReasonCodeXvmotionPlacement),
		ReasonText: "Placement",
		Target:     &target,
		Action:     []types.BaseClusterAction{&types.PlacementAction{Vm: spec.Vm, TargetHost: &host, RelocateSpec: relocate}},
	}}
	return &types.PlaceVmResponse{Returnval: res}, nil
}

// roomiestDatastore returns h's datastore (among allowed, when given) with
// the most free space, or nil.
func (s *Service) roomiestDatastore(h *mo.HostSystem, allowed []types.ManagedObjectReference) *mo.Datastore {
	var best *mo.Datastore
	for _, r := range h.Datastore {
		if len(allowed) > 0 && !containsRef(allowed, r) {
			continue
		}
		ds := inventory.Get[mo.Datastore](s.reg, r)
		if ds == nil {
			continue
		}
		if best == nil || ds.Summary.FreeSpace > best.Summary.FreeSpace {
			best = ds
		}
	}
	return best
}
