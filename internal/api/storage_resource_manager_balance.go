package api

import (
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
)

// Storage DRS space load balancing. A datastore of a pod is overloaded when
// its space utilization exceeds the pod's spaceUtilizationThreshold (or, in
// freeSpace mode, its free space falls below freeSpaceThresholdGB). For each
// overloaded datastore Storage DRS recommends moving one VM whose files all
// live on it to the pod's roomiest other datastore that the VM's host
// reaches, when that datastore stays under the threshold and the move
// narrows the utilization gap by at least minSpaceUtilizationDifference. It
// picks the largest such VM. I/O load balancing needs latency statistics,
// which simulated hosts have none of.

// spaceBalanceRecommendations returns pod's space load-balancing
// recommendations, keyed by newKey.
func (s *Service) spaceBalanceRecommendations(pod *mo.StoragePod, newKey func() string) []types.ClusterRecommendation {
	cfg := pod.PodStorageDrsEntry.StorageDrsConfig
	lb := types.StorageDrsSpaceLoadBalanceConfig{SpaceThresholdMode: string(types.StorageDrsSpaceLoadBalanceConfigSpaceThresholdModeUtilization),
		SpaceUtilizationThreshold: 80, FreeSpaceThresholdGB: 50, MinSpaceUtilizationDifference: 5}
	mergeSet(&lb, cfg.PodConfig.SpaceLoadBalanceConfig)
	var members []*mo.Datastore
	for _, r := range pod.ChildEntity {
		if ds := inventory.Get[mo.Datastore](s.reg, r); ds != nil && dsInService(ds) {
			members = append(members, ds)
		}
	}
	var out []types.ClusterRecommendation
	for _, src := range members {
		if !overloaded(src, lb, 0) {
			continue
		}
		if m := s.bestMove(pod, src, members, lb); m != nil {
			out = append(out, types.ClusterRecommendation{
				Key: newKey(), Type: "V1", Time: s.now(), Rating: 3,
				Reason:     string(types.RecommendationReasonCodeBalanceDatastoreSpaceUsage),
				ReasonText: "Balance datastore space usage",
				Target:     refp(pod.Self),
				Action:     []types.BaseClusterAction{m},
			})
		}
	}
	return out
}

// overloaded reports whether ds, with extra more bytes used, is over lb's
// threshold.
func overloaded(ds *mo.Datastore, lb types.StorageDrsSpaceLoadBalanceConfig, extra int64) bool {
	if lb.SpaceThresholdMode == string(types.StorageDrsSpaceLoadBalanceConfigSpaceThresholdModeFreeSpace) {
		return ds.Summary.FreeSpace-extra < int64(lb.FreeSpaceThresholdGB)<<30
	}
	return dsSpaceUtil(ds, extra) > float32(lb.SpaceUtilizationThreshold)
}

// bestMove returns the migration of the largest VM off src that lb allows,
// or nil.
func (s *Service) bestMove(pod *mo.StoragePod, src *mo.Datastore, members []*mo.Datastore, lb types.StorageDrsSpaceLoadBalanceConfig) *types.StorageMigrationAction {
	var best *types.StorageMigrationAction
	for _, r := range src.Vm {
		vm := inventory.Get[mo.VirtualMachine](s.reg, r)
		if vm == nil || vm.Config == nil || len(vm.Datastore) != 1 || vmSDRSDisabled(pod, &vm.Self) {
			continue
		}
		size := vmStorageBytes(vm)
		if best != nil && size <= best.SizeTransferred {
			continue
		}
		host := inventory.Get[mo.HostSystem](s.reg, refOrZero(vm.Runtime.Host))
		if dst := roomiestTarget(src, members, host, size, lb); dst != nil {
			best = migrationAction(vm, src, dst, size)
		}
	}
	return best
}

// roomiestTarget returns the member other than src with the most free
// space that host reaches and that takes size bytes within lb, or nil.
func roomiestTarget(src *mo.Datastore, members []*mo.Datastore, host *mo.HostSystem, size int64, lb types.StorageDrsSpaceLoadBalanceConfig) *mo.Datastore {
	var best *mo.Datastore
	for _, ds := range members {
		if ds.Self.Value == src.Self.Value || host == nil || !datastoreUsableFrom(ds, host) {
			continue
		}
		if ds.Summary.FreeSpace < size || overloaded(ds, lb, size) {
			continue
		}
		if dsSpaceUtil(src, 0)-dsSpaceUtil(ds, 0) < float32(lb.MinSpaceUtilizationDifference) {
			continue
		}
		if best == nil || ds.Summary.FreeSpace > best.Summary.FreeSpace {
			best = ds
		}
	}
	return best
}

// migrationAction is the action moving vm's size bytes from src to dst.
func migrationAction(vm *mo.VirtualMachine, src, dst *mo.Datastore, size int64) *types.StorageMigrationAction {
	return &types.StorageMigrationAction{
		ClusterAction:      types.ClusterAction{Type: "StorageMigrationV1", Target: refp(vm.Self)},
		Vm:                 vm.Self,
		RelocateSpec:       types.VirtualMachineRelocateSpec{Datastore: refp(dst.Self)},
		Source:             src.Self,
		Destination:        dst.Self,
		SizeTransferred:    size,
		SpaceUtilSrcBefore: dsSpaceUtil(src, 0),
		SpaceUtilDstBefore: dsSpaceUtil(dst, 0),
		SpaceUtilSrcAfter:  dsSpaceUtil(src, -size),
		SpaceUtilDstAfter:  dsSpaceUtil(dst, size),
	}
}

// vmStorageBytes is the space vm's files take: its committed storage, else
// its disks' capacity.
func vmStorageBytes(vm *mo.VirtualMachine) int64 {
	if vm.Summary.Storage != nil && vm.Summary.Storage.Committed > 0 {
		return vm.Summary.Storage.Committed
	}
	var n int64
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			n += diskCapacityBytes(disk)
		}
	}
	return n
}
