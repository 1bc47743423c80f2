package api

import (
	"context"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
)

// A StoragePod (datastore cluster) is a folder of datastores in a
// datacenter's datastore folder. Storage DRS itself belongs to the storage
// issue; here it is created and holds datastores moved into it.

func (s *Service) createStoragePod(ctx *soap.Context, req *types.CreateStoragePod) (any, error) {
	ref, err := s.CreateStoragePod(ctx, ctx.UserName(), ctx.This, req.Name)
	if err != nil {
		return nil, err
	}
	return &types.CreateStoragePodResponse{Returnval: ref}, nil
}

// CreateStoragePod creates a datastore cluster called name in folder (a
// datastore folder), with storage DRS off, as Folder.CreateStoragePod does.
// Datastores join it through MoveIntoFolder_Task. Faults: InvalidName,
// DuplicateName, NotSupported (folder cannot hold storage pods),
// ManagedObjectNotFound.
func (s *Service) CreateStoragePod(ctx context.Context, user string, folder types.ManagedObjectReference, name string) (types.ManagedObjectReference, error) {
	name, err := entityName(name, "datastore cluster")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	var ref types.ManagedObjectReference
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		f, err := folderFor(tx, folder, "StoragePod")
		if err != nil {
			return err
		}
		if err := checkUnique(tx, f.ChildEntity, name, ref); err != nil {
			return err
		}
		ref = tx.NewRef("StoragePod")
		p := &mo.StoragePod{}
		initEntity(&p.ManagedEntity, ref, name, &f.Self)
		p.ChildType = []string{"Datastore"}
		p.Summary = &types.StoragePodSummary{Name: name}
		p.PodStorageDrsEntry = &types.PodStorageDrsEntry{StorageDrsConfig: types.StorageDrsConfigInfo{PodConfig: defaultPodConfig()}}
		tx.Create(p, true)
		addChildTxn(tx, f.Self, ref)
		return nil
	})
	return ref, err
}

// defaultPodConfig is the storage DRS configuration of a new datastore
// cluster, with vCenter's thresholds.
func defaultPodConfig() types.StorageDrsPodConfigInfo {
	return types.StorageDrsPodConfigInfo{
		DefaultVmBehavior:      string(types.StorageDrsPodConfigInfoBehaviorManual),
		LoadBalanceInterval:    480,
		DefaultIntraVmAffinity: types.NewBool(true),
		SpaceLoadBalanceConfig: &types.StorageDrsSpaceLoadBalanceConfig{
			SpaceThresholdMode: "utilization", SpaceUtilizationThreshold: 80, FreeSpaceThresholdGB: 50, MinSpaceUtilizationDifference: 5,
		},
		IoLoadBalanceConfig: &types.StorageDrsIoLoadBalanceConfig{
			ReservablePercentThreshold: 60, ReservableThresholdMode: "automatic", IoLatencyThreshold: 15, IoLoadImbalanceThreshold: 5,
		},
	}
}

// refreshPodTxn recomputes a storage pod's capacity and free space from its
// datastores; ref may be any folder (then nothing happens).
func refreshPodTxn(tx *inventory.Txn, ref types.ManagedObjectReference) {
	p, ok := tx.Get(ref).(*mo.StoragePod)
	if !ok {
		return
	}
	sum := types.StoragePodSummary{Name: p.Name}
	for _, d := range p.ChildEntity {
		if ds, ok := tx.Get(d).(*mo.Datastore); ok {
			sum.Capacity += ds.Summary.Capacity
			sum.FreeSpace += ds.Summary.FreeSpace
		}
	}
	if p.Summary == nil || *p.Summary != sum {
		inventory.Edit[mo.StoragePod](tx, ref).Summary = &sum
	}
}

// destroyPod removes a datastore cluster, as Destroy_Task does: its
// datastores move to the folder that holds it.
func (s *Service) destroyPod(ctx context.Context, ref types.ManagedObjectReference) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		p, err := lookupAs[mo.StoragePod](tx, ref, "StoragePod")
		if err != nil {
			return err
		}
		for _, d := range p.ChildEntity {
			addChildTxn(tx, *p.Parent, d)
		}
		removeChildTxn(tx, *p.Parent, ref)
		tx.Delete(ref)
		return nil
	})
}
