package api

import (
	"slices"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// A host's HostNetworkSystem serves the host's config.network as
// networkInfo and edits it: standard switches and their port groups. A port
// group is backed by the datacenter's Network of the same name, which the
// host joins when the group is added and leaves when it is removed.

func (s *Service) registerHostNetworkSystem(t *soap.Table) {
	soap.Register(t, "HostNetworkSystem", "AddVirtualSwitch", s.addVirtualSwitch)
	soap.Register(t, "HostNetworkSystem", "RemoveVirtualSwitch", s.removeVirtualSwitch)
	soap.Register(t, "HostNetworkSystem", "UpdateVirtualSwitch", s.updateVirtualSwitch)
	soap.Register(t, "HostNetworkSystem", "AddPortGroup", s.addPortGroup)
	soap.Register(t, "HostNetworkSystem", "RemovePortGroup", s.removePortGroup)
	soap.Register(t, "HostNetworkSystem", "UpdatePortGroup", s.updatePortGroup)
	soap.Register(t, "HostNetworkSystem", "QueryNetworkHint", s.queryNetworkHint)
	soap.Register(t, "HostNetworkSystem", "RefreshNetworkSystem", s.refreshNetworkSystem)
}

const (
	vswitchKeyPrefix   = "key-vim.host.VirtualSwitch-"
	portgroupKeyPrefix = "key-vim.host.PortGroup-"
	defaultSwitchPorts = 128
)

// syncNetworkSystem copies h's config.network into ns.
func syncNetworkSystem(ns *mo.HostNetworkSystem, h *mo.HostSystem) {
	if h.Config == nil || h.Config.Network == nil {
		return
	}
	n := vim.DeepCopy(h.Config.Network)
	ns.NetworkInfo = n
	ns.DnsConfig = n.DnsConfig
	ns.IpRouteConfig = n.IpRouteConfig
	cfg := &types.HostNetworkConfig{DnsConfig: n.DnsConfig, IpRouteConfig: n.IpRouteConfig}
	for _, v := range n.Vswitch {
		cfg.Vswitch = append(cfg.Vswitch, types.HostVirtualSwitchConfig{Name: v.Name, Spec: vim.DeepCopy(&v.Spec)})
	}
	for _, pg := range n.Portgroup {
		cfg.Portgroup = append(cfg.Portgroup, types.HostPortGroupConfig{Spec: vim.DeepCopy(&pg.Spec)})
	}
	ns.NetworkConfig = cfg
	ns.Capabilities = &types.HostNetCapabilities{
		CanSetPhysicalNicLinkSpeed: true, SupportsNicTeaming: true, SupportsVlan: true,
		UsesServiceConsoleNic: false, SupportsNetworkHints: true, MaxPortGroupsPerVswitch: 512,
		VswitchConfigSupported: true, VnicConfigSupported: true, IpRouteConfigSupported: true,
		DnsConfigSupported: true, DhcpOnVnicSupported: true,
	}
}

// editHostNetwork runs fn on the calling network system's host's
// config.network in a transaction, then refreshes the network system.
func (s *Service) editHostNetwork(ctx *soap.Context, fn func(tx *inventory.Txn, h *mo.HostSystem, n *types.HostNetworkInfo) error) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		cur, err := hostOfManager(ctx, tx)
		if err != nil {
			return err
		}
		if cur.Config == nil || cur.Config.Network == nil {
			return vim.NotSupported("The host %s has no network configuration.", cur.Name)
		}
		h := inventory.Edit[mo.HostSystem](tx, cur.Self)
		if err := fn(tx, h, h.Config.Network); err != nil {
			return err
		}
		if ns, ok := tx.Edit(ctx.This).(*mo.HostNetworkSystem); ok {
			syncNetworkSystem(ns, h)
		}
		return nil
	})
}

func vswitchIndex(n *types.HostNetworkInfo, name string) int {
	return slices.IndexFunc(n.Vswitch, func(v types.HostVirtualSwitch) bool { return v.Name == name })
}

func portgroupIndex(n *types.HostNetworkInfo, name string) int {
	return slices.IndexFunc(n.Portgroup, func(pg types.HostPortGroup) bool { return pg.Spec.Name == name })
}

func alreadyExists(what, name string) error {
	return vim.NewFault(&types.AlreadyExists{Name: name}, "The %s %s already exists on this host; choose another name.", what, name)
}

func notFoundOnHost(what, name string) error {
	return vim.NewFault(&types.NotFound{}, "The %s %s does not exist on this host.", what, name)
}

func (s *Service) addVirtualSwitch(ctx *soap.Context, req *types.AddVirtualSwitch) (any, error) {
	err := s.editHostNetwork(ctx, func(_ *inventory.Txn, _ *mo.HostSystem, n *types.HostNetworkInfo) error {
		if req.VswitchName == "" {
			return vim.InvalidArgument("vswitchName", "A virtual switch needs a name.")
		}
		if vswitchIndex(n, req.VswitchName) >= 0 {
			return alreadyExists("virtual switch", req.VswitchName)
		}
		spec := types.HostVirtualSwitchSpec{NumPorts: defaultSwitchPorts}
		if req.Spec != nil {
			spec = *req.Spec
		}
		if spec.NumPorts <= 0 {
			spec.NumPorts = defaultSwitchPorts
		}
		mtu := spec.Mtu
		if mtu == 0 {
			mtu = 1500
		}
		n.Vswitch = append(n.Vswitch, types.HostVirtualSwitch{
			Name: req.VswitchName, Key: vswitchKeyPrefix + req.VswitchName,
			NumPorts: spec.NumPorts, NumPortsAvailable: spec.NumPorts, Mtu: mtu, Spec: spec,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.AddVirtualSwitchResponse{}, nil
}

func (s *Service) updateVirtualSwitch(ctx *soap.Context, req *types.UpdateVirtualSwitch) (any, error) {
	err := s.editHostNetwork(ctx, func(_ *inventory.Txn, _ *mo.HostSystem, n *types.HostNetworkInfo) error {
		i := vswitchIndex(n, req.VswitchName)
		if i < 0 {
			return notFoundOnHost("virtual switch", req.VswitchName)
		}
		v := &n.Vswitch[i]
		v.Spec = req.Spec
		if req.Spec.NumPorts > 0 {
			v.NumPorts, v.NumPortsAvailable = req.Spec.NumPorts, req.Spec.NumPorts
		}
		if req.Spec.Mtu > 0 {
			v.Mtu = req.Spec.Mtu
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.UpdateVirtualSwitchResponse{}, nil
}

func (s *Service) removeVirtualSwitch(ctx *soap.Context, req *types.RemoveVirtualSwitch) (any, error) {
	err := s.editHostNetwork(ctx, func(tx *inventory.Txn, h *mo.HostSystem, n *types.HostNetworkInfo) error {
		i := vswitchIndex(n, req.VswitchName)
		if i < 0 {
			return notFoundOnHost("virtual switch", req.VswitchName)
		}
		var groups []string
		for _, pg := range n.Portgroup {
			if pg.Spec.VswitchName == req.VswitchName {
				groups = append(groups, pg.Spec.Name)
			}
		}
		for _, g := range groups {
			if err := removePortGroupTxn(tx, h, n, g); err != nil {
				return err
			}
		}
		n.Vswitch = slices.Delete(n.Vswitch, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.RemoveVirtualSwitchResponse{}, nil
}

func (s *Service) addPortGroup(ctx *soap.Context, req *types.AddPortGroup) (any, error) {
	err := s.editHostNetwork(ctx, func(tx *inventory.Txn, h *mo.HostSystem, n *types.HostNetworkInfo) error {
		spec := req.Portgrp
		if spec.Name == "" {
			return vim.InvalidArgument("portgrp.name", "A port group needs a name.")
		}
		if portgroupIndex(n, spec.Name) >= 0 {
			return alreadyExists("port group", spec.Name)
		}
		vi := vswitchIndex(n, spec.VswitchName)
		if vi < 0 {
			return notFoundOnHost("virtual switch", spec.VswitchName)
		}
		pg := types.HostPortGroup{
			Key: portgroupKeyPrefix + spec.Name, Vswitch: n.Vswitch[vi].Key, Spec: spec,
			ComputedPolicy: vim.DeepCopy(spec.Policy),
		}
		n.Portgroup = append(n.Portgroup, pg)
		n.Vswitch[vi].Portgroup = append(n.Vswitch[vi].Portgroup, pg.Key)
		linkPortGroupNetworkTxn(tx, h, spec.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.AddPortGroupResponse{}, nil
}

func (s *Service) updatePortGroup(ctx *soap.Context, req *types.UpdatePortGroup) (any, error) {
	err := s.editHostNetwork(ctx, func(tx *inventory.Txn, h *mo.HostSystem, n *types.HostNetworkInfo) error {
		i := portgroupIndex(n, req.PgName)
		if i < 0 {
			return notFoundOnHost("port group", req.PgName)
		}
		spec := req.Portgrp
		if spec.Name == "" {
			spec.Name = req.PgName
		}
		if spec.VswitchName == "" {
			spec.VswitchName = n.Portgroup[i].Spec.VswitchName
		}
		if spec.Name != req.PgName && portgroupIndex(n, spec.Name) >= 0 {
			return alreadyExists("port group", spec.Name)
		}
		vi := vswitchIndex(n, spec.VswitchName)
		if vi < 0 {
			return notFoundOnHost("virtual switch", spec.VswitchName)
		}
		if spec.Name != req.PgName || spec.VswitchName != n.Portgroup[i].Spec.VswitchName {
			if err := removePortGroupTxn(tx, h, n, req.PgName); err != nil {
				return err
			}
			n.Portgroup = append(n.Portgroup, types.HostPortGroup{})
			i = len(n.Portgroup) - 1
			n.Vswitch[vi].Portgroup = append(n.Vswitch[vi].Portgroup, portgroupKeyPrefix+spec.Name)
			linkPortGroupNetworkTxn(tx, h, spec.Name)
		}
		n.Portgroup[i] = types.HostPortGroup{
			Key: portgroupKeyPrefix + spec.Name, Vswitch: n.Vswitch[vi].Key, Spec: spec,
			ComputedPolicy: vim.DeepCopy(spec.Policy), Port: n.Portgroup[i].Port,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.UpdatePortGroupResponse{}, nil
}

func (s *Service) removePortGroup(ctx *soap.Context, req *types.RemovePortGroup) (any, error) {
	err := s.editHostNetwork(ctx, func(tx *inventory.Txn, h *mo.HostSystem, n *types.HostNetworkInfo) error {
		return removePortGroupTxn(tx, h, n, req.PgName)
	})
	if err != nil {
		return nil, err
	}
	return &types.RemovePortGroupResponse{}, nil
}

// removePortGroupTxn removes port group name from n (h's network) and its
// switch, and h from the group's network. A group a VMkernel NIC or one of
// h's VMs uses is a ResourceInUse fault.
func removePortGroupTxn(tx *inventory.Txn, h *mo.HostSystem, n *types.HostNetworkInfo, name string) error {
	i := portgroupIndex(n, name)
	if i < 0 {
		return notFoundOnHost("port group", name)
	}
	for _, v := range n.Vnic {
		if v.Portgroup == name {
			return vim.NewFault(&types.ResourceInUse{Type: "HostPortGroup", Name: name},
				"The port group %s is used by VMkernel NIC %s; remove the NIC first.", name, v.Device)
		}
	}
	if netRef, net := hostPortGroupNetwork(tx, h, name); net != nil {
		for _, vm := range net.Vm {
			if slices.Contains(h.Vm, vm) {
				return vim.NewFault(&types.ResourceInUse{Type: "HostPortGroup", Name: name},
					"The port group %s is used by virtual machine %s; reconfigure it first.", name, vm.Value)
			}
		}
		e := inventory.Edit[mo.Network](tx, netRef)
		e.Host = removeRef(e.Host, h.Self)
		h.Network = removeRef(h.Network, netRef)
		if h.Parent != nil {
			refreshComputeTxn(tx, *h.Parent)
		}
	}
	key := n.Portgroup[i].Key
	n.Portgroup = slices.Delete(n.Portgroup, i, i+1)
	for j := range n.Vswitch {
		n.Vswitch[j].Portgroup = slices.DeleteFunc(n.Vswitch[j].Portgroup, func(k string) bool { return k == key })
	}
	return nil
}

// hostPortGroupNetwork returns h's standard network named name, or nil.
func hostPortGroupNetwork(tx *inventory.Txn, h *mo.HostSystem, name string) (types.ManagedObjectReference, *mo.Network) {
	for _, r := range h.Network {
		if n, ok := tx.Get(r).(*mo.Network); ok && r.Type == "Network" && n.Name == name {
			return r, n
		}
	}
	return types.ManagedObjectReference{}, nil
}

// linkPortGroupNetworkTxn joins h to its datacenter's network named name,
// creating the network when missing.
func linkPortGroupNetworkTxn(tx *inventory.Txn, h *mo.HostSystem, name string) {
	dc := datacenterOf(tx, h.Self)
	if dc == nil {
		return
	}
	nr := networkNamedTxn(tx, dc.Self, name)
	net := inventory.Edit[mo.Network](tx, nr)
	appendRef(&net.Host, h.Self)
	appendRef(&h.Network, nr)
	if h.Parent != nil {
		refreshComputeTxn(tx, *h.Parent)
	}
}

// queryNetworkHint returns a hint per physical NIC of the host (those in
// req.Device when given).
func (s *Service) queryNetworkHint(ctx *soap.Context, req *types.QueryNetworkHint) (any, error) {
	h, err := hostOfManager(ctx, s.reg)
	if err != nil {
		return nil, err
	}
	res := &types.QueryNetworkHintResponse{}
	if h.Config == nil || h.Config.Network == nil {
		return res, nil
	}
	for _, p := range h.Config.Network.Pnic {
		if len(req.Device) == 0 || slices.Contains(req.Device, p.Device) {
			res.Returnval = append(res.Returnval, types.PhysicalNicHintInfo{Device: p.Device})
		}
	}
	return res, nil
}

func (s *Service) refreshNetworkSystem(ctx *soap.Context, _ *types.RefreshNetworkSystem) (any, error) {
	if _, err := hostOfManager(ctx, s.reg); err != nil {
		return nil, err
	}
	return &types.RefreshNetworkSystemResponse{}, nil
}
