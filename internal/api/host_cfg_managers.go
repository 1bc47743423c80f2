package api

import (
	"context"
	"reflect"
	"slices"
	"strings"

	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// Every host has configuration managers (host.configManager): a
// HostNetworkSystem, a HostStorageSystem, an OptionManager of advanced
// settings, a HostVirtualNicManager and a HostDatastoreSystem. They live in
// memory only: what they serve is derived from the host (whose
// config.network they edit), so they are (re)created when a host is added
// and, for every stored host, at Bootstrap. Their MoRefs are the manager's
// name and the host's MoRef ("networkSystem-host-12").

// hostManagerRef returns the MoRef of host's manager of type typ, named kind.
func hostManagerRef(typ, kind string, host types.ManagedObjectReference) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: typ, Value: kind + "-" + host.Value}
}

// hostConfigManager returns the configManager refs of host.
func hostConfigManager(host types.ManagedObjectReference) types.HostConfigManager {
	p := func(typ, kind string) *types.ManagedObjectReference { return refp(hostManagerRef(typ, kind, host)) }
	return types.HostConfigManager{
		NetworkSystem:     p("HostNetworkSystem", "networkSystem"),
		StorageSystem:     p("HostStorageSystem", "storageSystem"),
		AdvancedOption:    p("OptionManager", "advancedOption"),
		VirtualNicManager: p("HostVirtualNicManager", "virtualNicManager"),
		DatastoreSystem:   p("HostDatastoreSystem", "datastoreSystem"),
	}
}

// hostOptionManager is a host's OptionManager of advanced settings. Its
// values live in memory (a restart restores the defaults).
type hostOptionManager struct {
	mo.OptionManager
}

// attachHostManagersTxn sets host's configManager (when it differs) and
// creates its managers that are missing. It is idempotent.
func attachHostManagersTxn(tx *inventory.Txn, host types.ManagedObjectReference) {
	h, ok := tx.Get(host).(*mo.HostSystem)
	if !ok {
		return
	}
	cm := hostConfigManager(host)
	if h.ConfigManager.NetworkSystem == nil || *h.ConfigManager.NetworkSystem != *cm.NetworkSystem ||
		h.ConfigManager.DatastoreSystem == nil {
		e := inventory.Edit[mo.HostSystem](tx, host)
		e.ConfigManager.NetworkSystem, e.ConfigManager.StorageSystem = cm.NetworkSystem, cm.StorageSystem
		e.ConfigManager.AdvancedOption, e.ConfigManager.VirtualNicManager = cm.AdvancedOption, cm.VirtualNicManager
		e.ConfigManager.DatastoreSystem = cm.DatastoreSystem
		h = e
	}
	for _, o := range newHostManagers(h, cm) {
		if tx.Get(o.Reference()) == nil {
			tx.Create(o, false)
		}
	}
}

// newHostManagers builds the managers of h.
func newHostManagers(h *mo.HostSystem, cm types.HostConfigManager) []mo.Reference {
	ns := &mo.HostNetworkSystem{}
	ns.Self = *cm.NetworkSystem
	syncNetworkSystem(ns, h)

	ss := &mo.HostStorageSystem{}
	ss.Self = *cm.StorageSystem
	ss.StorageDeviceInfo = vim.DeepCopy(&esx.HostStorageDeviceInfo)
	if h.Config != nil && h.Config.FileSystemVolume != nil {
		ss.FileSystemVolumeInfo = types.HostFileSystemVolumeInfo{
			VolumeTypeList: vim.DeepCopy(esx.HostFileSystemVolumeInfo.VolumeTypeList),
			MountInfo:      vim.DeepCopy(h.Config.FileSystemVolume.MountInfo),
		}
	}
	ss.MultipathStateInfo = &types.HostMultipathStateInfo{}

	om := &hostOptionManager{}
	om.Self = *cm.AdvancedOption
	om.SupportedOption = hostOptionDefs()
	om.Setting = vim.DeepCopy(esx.AdvancedOptions)

	vn := &mo.HostVirtualNicManager{}
	vn.Self = *cm.VirtualNicManager
	vn.Info = types.HostVirtualNicManagerInfo{NetConfig: hostNetConfig(h)}

	ds := &mo.HostDatastoreSystem{}
	ds.Self = *cm.DatastoreSystem
	ds.Datastore = append([]types.ManagedObjectReference(nil), h.Datastore...)
	ds.Capabilities = types.HostDatastoreSystemCapabilities{
		NfsMountCreationRequired: true, NfsMountCreationSupported: true,
		LocalDatastoreSupported: true, VmfsExtentExpansionSupported: types.NewBool(true),
	}
	return []mo.Reference{ns, ss, om, vn, ds}
}

// hostNetConfig returns the host's config.virtualNicManagerInfo netConfig
// (the captured one when it has none), with the specs of its VMkernel NICs.
func hostNetConfig(h *mo.HostSystem) []types.VirtualNicManagerNetConfig {
	nc := vim.DeepCopy(esx.VirtualNicManagerNetConfig)
	if h.Config != nil && h.Config.VirtualNicManagerInfo != nil {
		nc = vim.DeepCopy(h.Config.VirtualNicManagerInfo.NetConfig)
	}
	if h.Config == nil || h.Config.Network == nil {
		return nc
	}
	for i := range nc {
		for j := range nc[i].CandidateVnic {
			for _, v := range h.Config.Network.Vnic {
				if v.Device == nc[i].CandidateVnic[j].Device {
					nc[i].CandidateVnic[j].Spec = vim.DeepCopy(v.Spec)
				}
			}
		}
	}
	return nc
}

// attachEnvBrowserTxn sets compute resource cr's environmentBrowser and
// creates the browser when missing. It is idempotent.
func attachEnvBrowserTxn(tx *inventory.Txn, cr types.ManagedObjectReference) {
	c := computeResource(tx.Get(cr))
	if c == nil {
		return
	}
	eb := envBrowserRef(cr)
	if c.EnvironmentBrowser == nil || *c.EnvironmentBrowser != eb {
		computeResource(tx.Edit(cr)).EnvironmentBrowser = &eb
	}
	if tx.Get(eb) == nil {
		b := &mo.EnvironmentBrowser{}
		b.Self = eb
		tx.Create(b, false)
	}
}

// bootstrapHostManagers gives every stored host its managers and every
// compute resource (and VM lacking one) its environment browser.
func (s *Service) bootstrapHostManagers(ctx context.Context) error {
	var hosts, crs, vms []types.ManagedObjectReference
	collect := func(list *[]types.ManagedObjectReference) func(mo.Reference) bool {
		return func(o mo.Reference) bool { *list = append(*list, o.Reference()); return true }
	}
	s.reg.Each("HostSystem", collect(&hosts))
	s.reg.Each("ComputeResource", collect(&crs))
	s.reg.Each("ClusterComputeResource", collect(&crs))
	s.reg.Each("VirtualMachine", collect(&vms))
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		for _, h := range hosts {
			attachHostManagersTxn(tx, h)
		}
		for _, c := range crs {
			attachEnvBrowserTxn(tx, c)
		}
		for _, v := range vms {
			vm, ok := tx.Get(v).(*mo.VirtualMachine)
			if !ok || vm.EnvironmentBrowser.Value != "" || vm.ResourcePool == nil {
				continue
			}
			if cr := ownerComputeResource(tx, *vm.ResourcePool); cr != nil && cr.EnvironmentBrowser != nil {
				inventory.Edit[mo.VirtualMachine](tx, v).EnvironmentBrowser = *cr.EnvironmentBrowser
			}
		}
		return nil
	})
}

// ownerComputeResource returns the compute resource that owns pool, or nil.
func ownerComputeResource(tx *inventory.Txn, pool types.ManagedObjectReference) *mo.ComputeResource {
	for i := 0; i < 64; i++ {
		switch o := tx.Get(pool).(type) {
		case *mo.ResourcePool:
			pool = o.Owner
		case *mo.VirtualApp:
			pool = o.Owner
		default:
			return computeResource(o)
		}
		if pool.Value == "" {
			return nil
		}
	}
	return nil
}

// hostOfManager returns the host (as r sees it) whose manager is being
// called, checking it is connected: vCenter cannot reach a disconnected
// host's managers (HostNotConnected).
func hostOfManager(ctx *soap.Context, r objReader) (*mo.HostSystem, error) {
	_, hostID, _ := strings.Cut(ctx.This.Value, "-")
	h, ok := r.Get(types.ManagedObjectReference{Type: "HostSystem", Value: hostID}).(*mo.HostSystem)
	if !ok {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	if h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
		return nil, vim.NewFault(&types.HostNotConnected{},
			"The host %s is %s; reconnect it first.", h.Name, h.Runtime.ConnectionState)
	}
	return h, nil
}

// hostManagersHook keeps the managers in step with the inventory in every
// transaction: a new host gets its managers and a new compute resource its
// environment browser; a deleted one loses them; a host whose network,
// file systems or datastores changed has its managers refreshed.
func hostManagersHook(tx *inventory.Txn) error {
	for _, c := range tx.Changes() {
		isHost := inventory.IsA(c.Ref.Type, "HostSystem")
		isCR := inventory.IsA(c.Ref.Type, "ComputeResource")
		switch {
		case isHost && c.Kind == inventory.Enter:
			attachHostManagersTxn(tx, c.Ref)
		case isCR && c.Kind == inventory.Enter:
			attachEnvBrowserTxn(tx, c.Ref)
		case isHost && c.Kind == inventory.Leave:
			cm := hostConfigManager(c.Ref)
			for _, r := range []*types.ManagedObjectReference{cm.NetworkSystem, cm.StorageSystem, cm.AdvancedOption, cm.VirtualNicManager, cm.DatastoreSystem} {
				deleteIfPresent(tx, *r)
			}
		case isCR && c.Kind == inventory.Leave:
			deleteIfPresent(tx, envBrowserRef(c.Ref))
		case isHost && c.Kind == inventory.Modify:
			refreshHostManagersTxn(tx, c.Old.(*mo.HostSystem), c.New.(*mo.HostSystem))
		}
	}
	return nil
}

func deleteIfPresent(tx *inventory.Txn, r types.ManagedObjectReference) {
	if tx.Get(r) != nil {
		tx.Delete(r)
	}
}

// refreshHostManagersTxn refreshes what a host's managers derive from it
// when that changed between old and h.
func refreshHostManagersTxn(tx *inventory.Txn, old, h *mo.HostSystem) {
	if old.Config == nil || h.Config == nil {
		return
	}
	cm := hostConfigManager(h.Self)
	if !reflect.DeepEqual(old.Config.Network, h.Config.Network) {
		if ns, ok := tx.Get(*cm.NetworkSystem).(*mo.HostNetworkSystem); ok && !reflect.DeepEqual(ns.NetworkInfo, h.Config.Network) {
			syncNetworkSystem(tx.Edit(*cm.NetworkSystem).(*mo.HostNetworkSystem), h)
		}
	}
	if !reflect.DeepEqual(old.Config.FileSystemVolume, h.Config.FileSystemVolume) && h.Config.FileSystemVolume != nil {
		if _, ok := tx.Get(*cm.StorageSystem).(*mo.HostStorageSystem); ok {
			ss := tx.Edit(*cm.StorageSystem).(*mo.HostStorageSystem)
			ss.FileSystemVolumeInfo.MountInfo = vim.DeepCopy(h.Config.FileSystemVolume.MountInfo)
		}
	}
	if !slices.Equal(old.Datastore, h.Datastore) {
		if _, ok := tx.Get(*cm.DatastoreSystem).(*mo.HostDatastoreSystem); ok {
			tx.Edit(*cm.DatastoreSystem).(*mo.HostDatastoreSystem).Datastore = slices.Clone(h.Datastore)
		}
	}
}
