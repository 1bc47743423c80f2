package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// maxVMFSFileSize is VMFS 6's largest file (and virtual disk), 62 TB.
const maxVMFSFileSize = 68169720922112

func (s *Service) registerDatastore(t *soap.Table) {
	soap.Register(t, "Datastore", "RefreshDatastore", s.refreshDatastore)
	soap.Register(t, "Datastore", "RefreshDatastoreStorageInfo", s.refreshDatastoreStorageInfo)
}

func (s *Service) refreshDatastore(ctx *soap.Context, _ *types.RefreshDatastore) (any, error) {
	s.RefreshDatastore(ctx, ctx.This)
	return &types.RefreshDatastoreResponse{}, nil
}

func (s *Service) refreshDatastoreStorageInfo(ctx *soap.Context, _ *types.RefreshDatastoreStorageInfo) (any, error) {
	s.RefreshDatastore(ctx, ctx.This)
	return &types.RefreshDatastoreStorageInfoResponse{}, nil
}

// RefreshDatastore measures the capacity and free space of ds again through
// the first of its hosts that answers.
func (s *Service) RefreshDatastore(ctx context.Context, ds types.ManagedObjectReference) {
	d, ok := s.reg.Get(ds).(*mo.Datastore)
	if !ok {
		return
	}
	for _, m := range d.Host {
		if s.RefreshHostDatastores(ctx, m.Key) {
			return
		}
	}
}

// dsVolumeUUID returns a new VMFS-style volume id
// ("xxxxxxxx-xxxxxxxx-xxxx-xxxxxxxxxxxx") or, for NFS, "xxxxxxxx-xxxxxxxx".
func dsVolumeUUID(nfs bool) string {
	h := strings.ReplaceAll(uuid.NewString(), "-", "")
	if nfs {
		return h[:8] + "-" + h[8:16]
	}
	return h[:8] + "-" + h[8:16] + "-" + h[16:20] + "-" + h[20:32]
}

// dsVolumeID returns the volume id in a datastore's URL.
func dsVolumeID(ds *mo.Datastore) string {
	return strings.TrimSuffix(strings.TrimPrefix(ds.Summary.Url, "ds:///vmfs/volumes/"), "/")
}

// newDatastoreTxn creates a datastore called name in the datastore folder of
// dc: a local VMFS volume, or an NFS share when shared. It has no hosts yet
// (mountDatastoreTxn) and no capacity until a host measures it.
func newDatastoreTxn(tx *inventory.Txn, dc *mo.Datacenter, name string, shared bool, now time.Time) types.ManagedObjectReference {
	ref := tx.NewRef("Datastore")
	id := dsVolumeUUID(shared)
	url := "ds:///vmfs/volumes/" + id + "/"
	ds := &mo.Datastore{}
	initEntity(&ds.ManagedEntity, ref, name, &dc.DatastoreFolder)
	info := types.DatastoreInfo{
		Name: name, Url: url, MaxFileSize: maxVMFSFileSize, MaxVirtualDiskCapacity: maxVMFSFileSize,
		MaxMemoryFileSize: maxVMFSFileSize, Timestamp: types.NewTime(now), ContainerId: id,
	}
	typ := "VMFS"
	if shared {
		typ = "NFS"
		info.ContainerId = ""
		ds.Info = &types.NasDatastoreInfo{DatastoreInfo: info, Nas: &types.HostNasVolume{
			HostFileSystemVolume: types.HostFileSystemVolume{Type: typ, Name: name},
			RemoteHost:           "nfs.vireo.local", RemotePath: "/exports/" + name, SecurityType: "AUTH_SYS",
		}}
	} else {
		ds.Info = &types.VmfsDatastoreInfo{DatastoreInfo: info, MaxPhysicalRDMFileSize: maxVMFSFileSize, MaxVirtualRDMFileSize: maxVMFSFileSize,
			Vmfs: &types.HostVmfsVolume{
				HostFileSystemVolume: types.HostFileSystemVolume{Type: typ, Name: name},
				BlockSizeMb:          1, BlockSize: 1024, UnmapGranularity: 1024, UnmapPriority: "low",
				MaxBlocks: 63963136, MajorVersion: 6, Version: "6.82", Uuid: id,
				Extent: []types.HostScsiDiskPartition{{DiskName: "mpx.vmhba0:C0:T" + strings.TrimPrefix(ref.Value, "datastore-") + ":L0", Partition: 1}},
				Ssd:    types.NewBool(true), Local: types.NewBool(true),
			}}
	}
	ds.Summary = types.DatastoreSummary{
		Datastore: refp(ref), Name: name, Url: url, Accessible: true,
		MultipleHostAccess: types.NewBool(false), Type: typ, MaintenanceMode: string(types.DatastoreSummaryMaintenanceModeStateNormal),
	}
	ds.Capability = types.DatastoreCapability{
		DirectoryHierarchySupported: true, RawDiskMappingsSupported: !shared, PerFileThinProvisioningSupported: true,
		StorageIORMSupported: types.NewBool(true), NativeSnapshotSupported: types.NewBool(false),
		TopLevelDirectoryCreateSupported: types.NewBool(true), SeSparseSupported: types.NewBool(true),
		VmfsSparseSupported: types.NewBool(!shared), VsanSparseSupported: types.NewBool(false),
		UpitSupported: types.NewBool(false), VmdkExpandSupported: types.NewBool(true), ClusteredVmdkSupported: types.NewBool(false),
	}
	ds.IormConfiguration = &types.StorageIORMInfo{
		CongestionThresholdMode: "automatic", CongestionThreshold: 30, PercentOfPeakThroughput: 90,
		StatsCollectionEnabled: types.NewBool(false), ReservationEnabled: types.NewBool(true), StatsAggregationDisabled: types.NewBool(false),
	}
	addBrowserTxn(tx, ds)
	tx.Create(ds, true)
	addChildTxn(tx, dc.DatastoreFolder, ref)
	return ref
}

// mountDatastoreTxn mounts ds on host: the datastore lists the host among
// its mounts and the host lists the datastore. The host's file system
// volumes are the caller's (hostFileSystems).
func mountDatastoreTxn(tx *inventory.Txn, ds, host types.ManagedObjectReference) {
	d := inventory.Edit[mo.Datastore](tx, ds)
	if !containsMount(d.Host, host) {
		d.Host = append(d.Host, types.DatastoreHostMount{Key: host, MountInfo: types.HostMountInfo{
			Path: "/vmfs/volumes/" + dsVolumeID(d), AccessMode: string(types.HostMountModeReadWrite),
			Mounted: types.NewBool(true), Accessible: types.NewBool(true),
		}})
	}
	d.Summary.MultipleHostAccess = types.NewBool(len(d.Host) > 1)
}

func containsMount(ms []types.DatastoreHostMount, host types.ManagedObjectReference) bool {
	for _, m := range ms {
		if m.Key.Value == host.Value {
			return true
		}
	}
	return false
}

// removeMounts drops host's mount from ms.
func removeMounts(ms []types.DatastoreHostMount, host types.ManagedObjectReference) []types.DatastoreHostMount {
	var out []types.DatastoreHostMount
	for _, m := range ms {
		if m.Key.Value != host.Value {
			out = append(out, m)
		}
	}
	return out
}

// fsVolume returns the file system volume a host reports for ds.
func fsVolume(ds *mo.Datastore) types.BaseHostFileSystemVolume {
	switch i := ds.Info.(type) {
	case *types.VmfsDatastoreInfo:
		if i.Vmfs != nil {
			return vim.DeepCopy(i.Vmfs)
		}
	case *types.NasDatastoreInfo:
		if i.Nas != nil {
			return vim.DeepCopy(i.Nas)
		}
	}
	return &types.HostFileSystemVolume{Type: ds.Summary.Type, Name: ds.Name, Capacity: ds.Summary.Capacity}
}

// hostFileSystems returns a host's file system volumes: one mount per
// datastore in dss.
func hostFileSystems(dss []*mo.Datastore) *types.HostFileSystemVolumeInfo {
	fs := &types.HostFileSystemVolumeInfo{VolumeTypeList: []string{"VMFS", "NFS", "NFS41", "vsan", "VVOL", "VFFS", "OTHER", "PMEM"}}
	for _, ds := range dss {
		fs.MountInfo = append(fs.MountInfo, types.HostFileSystemMountInfo{
			MountInfo: types.HostMountInfo{
				Path: "/vmfs/volumes/" + dsVolumeID(ds), AccessMode: string(types.HostMountModeReadWrite),
				Mounted: types.NewBool(true), Accessible: types.NewBool(true),
			},
			Volume:          fsVolume(ds),
			VStorageSupport: "vStorageUnsupported",
		})
	}
	return fs
}

// RefreshHostDatastores asks host's driver for the capacity and free space
// of its datastores and stores them in the datastores' summary and info and
// in the hosts' file system volumes. It reports whether the driver answered.
func (s *Service) RefreshHostDatastores(ctx context.Context, host types.ManagedObjectReference) bool {
	if s.hosts == nil {
		return false
	}
	drv, ok := s.hosts.Driver(host)
	if !ok {
		return false
	}
	info, err := drv.Info(ctx)
	if err != nil {
		s.log.Warn("host datastore info", "host", host.Value, "err", err)
		return false
	}
	return s.applyDatastoreFacts(ctx, host, info.Datastores)
}

// applyDatastoreFacts stores what a host measured of its datastores: their
// capacity and free space, and whether each is accessible from it (a
// datastore is accessible while any host reaches it). It writes only when
// something changed.
func (s *Service) applyDatastoreFacts(ctx context.Context, host types.ManagedObjectReference, facts []driver.Datastore) bool {
	h := inventory.Get[mo.HostSystem](s.reg, host)
	if h == nil || !datastoreFactsChanged(s.reg, h, facts) {
		return true
	}
	now := s.now()
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		h, ok := tx.Get(host).(*mo.HostSystem)
		if !ok {
			return nil
		}
		for _, di := range facts {
			e := entityNamed(tx, h.Datastore, di.Name)
			if e == nil {
				continue
			}
			setAccessibleTxn(tx, e.Self, host, di.Accessible)
			if di.CapacityBytes != 0 {
				setCapacityTxn(tx, e.Self, di.CapacityBytes, di.FreeBytes, now)
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("store datastore facts", "host", host.Value, "err", err)
	}
	return err == nil
}

// datastoreFactsChanged reports whether facts differ from what the
// inventory holds for host's datastores, enough to be stored.
func datastoreFactsChanged(objs objReader, h *mo.HostSystem, facts []driver.Datastore) bool {
	for _, di := range facts {
		e := entityNamed(objs, h.Datastore, di.Name)
		if e == nil {
			continue
		}
		ds, ok := objs.Get(e.Self).(*mo.Datastore)
		if !ok {
			continue
		}
		if mountAccessible(ds, h.Self) != di.Accessible {
			return true
		}
		if di.CapacityBytes != 0 && (ds.Summary.Capacity != di.CapacityBytes || freeSpaceMoved(ds.Summary.FreeSpace, di.FreeBytes, di.CapacityBytes)) {
			return true
		}
	}
	return false
}

// mountAccessible reports whether ds is accessible from host.
func mountAccessible(ds *mo.Datastore, host types.ManagedObjectReference) bool {
	for _, m := range ds.Host {
		if m.Key.Value == host.Value {
			return m.MountInfo.Accessible == nil || *m.MountInfo.Accessible
		}
	}
	return false
}

// setAccessibleTxn records whether ds is accessible from host; the
// datastore's summary is accessible while any host reaches it.
func setAccessibleTxn(tx *inventory.Txn, ref, host types.ManagedObjectReference, accessible bool) {
	cur, ok := tx.Get(ref).(*mo.Datastore)
	if !ok || mountAccessible(cur, host) == accessible {
		return
	}
	ds := inventory.Edit[mo.Datastore](tx, ref)
	reachable := false
	for i := range ds.Host {
		m := &ds.Host[i]
		if m.Key.Value == host.Value {
			m.MountInfo.Accessible = types.NewBool(accessible)
			if !accessible {
				m.MountInfo.InaccessibleReason = "AllPathsDown_Start"
			} else {
				m.MountInfo.InaccessibleReason = ""
			}
		}
		if m.MountInfo.Accessible == nil || *m.MountInfo.Accessible {
			reachable = true
		}
	}
	ds.Summary.Accessible = reachable
	if !reachable {
		ds.OverallStatus = types.ManagedEntityStatusRed
	} else {
		ds.OverallStatus = types.ManagedEntityStatusGreen
	}
}

// setCapacityTxn stores a datastore's measured capacity and free space, and
// updates the volume every host mounting it reports.
func setCapacityTxn(tx *inventory.Txn, ref types.ManagedObjectReference, capacity, free int64, now time.Time) {
	cur, ok := tx.Get(ref).(*mo.Datastore)
	if !ok || (cur.Summary.Capacity == capacity && !freeSpaceMoved(cur.Summary.FreeSpace, free, capacity)) {
		return
	}
	ds := inventory.Edit[mo.Datastore](tx, ref)
	ds.Summary.Capacity, ds.Summary.FreeSpace = capacity, free
	if ds.Info != nil {
		i := ds.Info.GetDatastoreInfo()
		i.FreeSpace, i.Timestamp = free, types.NewTime(now)
	}
	switch i := ds.Info.(type) {
	case *types.VmfsDatastoreInfo:
		if i.Vmfs != nil {
			i.Vmfs.Capacity = capacity
		}
	case *types.NasDatastoreInfo:
		if i.Nas != nil {
			i.Nas.Capacity = capacity
		}
	}
	syncHostVolumesTxn(tx, ds)
	if ds.Parent != nil {
		refreshPodTxn(tx, *ds.Parent)
	}
}

// freeSpaceMoved reports whether free space changed enough to be worth
// recording: by a thousandth of the capacity, and at least 64 MiB. Smaller
// drifts (a state file written) would otherwise rewrite the datastore and
// every host that mounts it on each measurement, which costs time in
// proportion to the hosts sharing it.
func freeSpaceMoved(old, cur, capacity int64) bool {
	d := old - cur
	if d < 0 {
		d = -d
	}
	return d >= max(capacity/1000, 64<<20)
}

// renameDatastoreTxn updates the names a datastore carries besides its
// entity name (summary, info, volume) and the volumes its hosts report.
func renameDatastoreTxn(tx *inventory.Txn, ref types.ManagedObjectReference, name string) {
	ds := inventory.Edit[mo.Datastore](tx, ref)
	ds.Summary.Name = name
	if ds.Info != nil {
		ds.Info.GetDatastoreInfo().Name = name
	}
	switch i := ds.Info.(type) {
	case *types.VmfsDatastoreInfo:
		if i.Vmfs != nil {
			i.Vmfs.Name = name
		}
	case *types.NasDatastoreInfo:
		if i.Nas != nil {
			i.Nas.Name = name
		}
	}
	syncHostVolumesTxn(tx, ds)
}

// syncHostVolumesTxn updates the volume of ds that each host mounting it
// reports in config.fileSystemVolume.
func syncHostVolumesTxn(tx *inventory.Txn, ds *mo.Datastore) {
	path := "/vmfs/volumes/" + dsVolumeID(ds)
	for _, m := range ds.Host {
		h := inventory.Edit[mo.HostSystem](tx, m.Key)
		if h == nil || h.Config == nil || h.Config.FileSystemVolume == nil {
			continue
		}
		for i := range h.Config.FileSystemVolume.MountInfo {
			if mi := &h.Config.FileSystemVolume.MountInfo[i]; mi.MountInfo.Path == path {
				mi.Volume = fsVolume(ds)
			}
		}
	}
}

func datastoreRenamedEvent(ds *mo.Datastore, newName string) (types.BaseEvent, string) {
	return &types.DatastoreRenamedEvent{
			DatastoreEvent: types.DatastoreEvent{Datastore: dsArg(newName, ds.Self)},
			OldName:        ds.Name, NewName: newName,
		},
		fmt.Sprintf("Renamed datastore from %s to %s", ds.Name, newName)
}
