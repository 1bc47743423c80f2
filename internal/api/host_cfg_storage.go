package api

import (
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// A host's HostStorageSystem serves the captured ESXi storage devices and
// the host's mounted file systems; rescans and refreshes find nothing new
// and succeed. Its HostDatastoreSystem lists the host's datastores, and its
// HostVirtualNicManager the VMkernel NIC selection of each NIC type.

func (s *Service) registerHostStorageSystem(t *soap.Table) {
	soap.Register(t, "HostStorageSystem", "RescanAllHba", s.rescanAllHba)
	soap.Register(t, "HostStorageSystem", "RescanHba", s.rescanHba)
	soap.Register(t, "HostStorageSystem", "RescanVmfs", s.rescanVmfs)
	soap.Register(t, "HostStorageSystem", "RefreshStorageSystem", s.refreshStorageSystem)
	soap.Register(t, "HostDatastoreSystem", "QueryAvailableDisksForVmfs", s.queryAvailableDisksForVmfs)
	s.registerHostDatastoreSystem(t)
	soap.Register(t, "HostVirtualNicManager", "QueryNetConfig", s.queryNetConfig)
	soap.Register(t, "HostVirtualNicManager", "SelectVnicForNicType", s.selectVnicForNicType)
	soap.Register(t, "HostVirtualNicManager", "DeselectVnicForNicType", s.deselectVnicForNicType)
}

// storageNoop checks the host is reachable and refreshes the file systems
// the storage system reports from the host's.
func (s *Service) storageNoop(ctx *soap.Context) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		h, err := hostOfManager(ctx, tx)
		if err != nil {
			return err
		}
		if ss, ok := tx.Get(ctx.This).(*mo.HostStorageSystem); ok && h.Config != nil {
			ss = tx.Edit(ctx.This).(*mo.HostStorageSystem)
			ss.FileSystemVolumeInfo.MountInfo = h.Config.FileSystemVolume.MountInfo
		}
		return nil
	})
}

func (s *Service) rescanAllHba(ctx *soap.Context, _ *types.RescanAllHba) (any, error) {
	return &types.RescanAllHbaResponse{}, s.storageNoop(ctx)
}

func (s *Service) rescanHba(ctx *soap.Context, _ *types.RescanHba) (any, error) {
	return &types.RescanHbaResponse{}, s.storageNoop(ctx)
}

func (s *Service) rescanVmfs(ctx *soap.Context, _ *types.RescanVmfs) (any, error) {
	return &types.RescanVmfsResponse{}, s.storageNoop(ctx)
}

func (s *Service) refreshStorageSystem(ctx *soap.Context, _ *types.RefreshStorageSystem) (any, error) {
	return &types.RefreshStorageSystemResponse{}, s.storageNoop(ctx)
}

// queryAvailableDisksForVmfs returns no disks: every simulated disk is
// already in use.
func (s *Service) queryAvailableDisksForVmfs(ctx *soap.Context, _ *types.QueryAvailableDisksForVmfs) (any, error) {
	if _, err := hostOfManager(ctx, s.reg); err != nil {
		return nil, err
	}
	return &types.QueryAvailableDisksForVmfsResponse{}, nil
}

func (s *Service) queryNetConfig(ctx *soap.Context, req *types.QueryNetConfig) (any, error) {
	if _, err := hostOfManager(ctx, s.reg); err != nil {
		return nil, err
	}
	m, _ := s.reg.Get(ctx.This).(*mo.HostVirtualNicManager)
	res := &types.QueryNetConfigResponse{}
	if m == nil {
		return res, nil
	}
	for _, nc := range m.Info.NetConfig {
		if nc.NicType == req.NicType {
			res.Returnval = &nc
			return res, nil
		}
	}
	return nil, invalidNicType(req.NicType)
}

func invalidNicType(t string) error {
	return vim.InvalidArgument("nicType", "There is no NIC type %q; use one of the types in info.netConfig.", t)
}

func (s *Service) selectVnicForNicType(ctx *soap.Context, req *types.SelectVnicForNicType) (any, error) {
	return &types.SelectVnicForNicTypeResponse{}, s.selectVnic(ctx, req.NicType, req.Device, true)
}

func (s *Service) deselectVnicForNicType(ctx *soap.Context, req *types.DeselectVnicForNicType) (any, error) {
	return &types.DeselectVnicForNicTypeResponse{}, s.selectVnic(ctx, req.NicType, req.Device, false)
}

// selectVnic adds the VMkernel NIC device to (or removes it from) the
// selection of nicType. The device must be a candidate of the type.
func (s *Service) selectVnic(ctx *soap.Context, nicType, device string, sel bool) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		h, err := hostOfManager(ctx, tx)
		if err != nil {
			return err
		}
		m, ok := tx.Edit(ctx.This).(*mo.HostVirtualNicManager)
		if !ok {
			return vim.InvalidArgument("this", "%s is not a VMkernel NIC manager.", ctx.This.Value)
		}
		for i := range m.Info.NetConfig {
			nc := &m.Info.NetConfig[i]
			if nc.NicType != nicType {
				continue
			}
			var key string
			for _, c := range nc.CandidateVnic {
				if c.Device == device {
					key = c.Key
				}
			}
			if key == "" {
				return vim.InvalidArgument("device", "%s is not a candidate VMkernel NIC for %s.", device, nicType)
			}
			nc.SelectedVnic = removeString(nc.SelectedVnic, key)
			if sel {
				nc.SelectedVnic = append(nc.SelectedVnic, key)
			}
			if h.Config != nil && h.Config.VirtualNicManagerInfo != nil {
				e := inventory.Edit[mo.HostSystem](tx, h.Self)
				e.Config.VirtualNicManagerInfo.NetConfig = vim.DeepCopy(m.Info.NetConfig)
			}
			return nil
		}
		return invalidNicType(nicType)
	})
}

func removeString(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
