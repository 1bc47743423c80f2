package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// Distributed virtual switches (VmwareDistributedVirtualSwitch, "dvs-N") and
// their port groups (DistributedVirtualPortgroup, "dvportgroup-N") live in a
// datacenter's network folder. A switch owns an uplink port group
// "<name>-DVUplinks-<N>" from its creation; hosts join and leave it with
// ReconfigureDvs_Task, and every host member sees every port group of the
// switch in its network list (and in its compute resource's). Port keys are
// numbered across the whole switch, as vCenter numbers them.
//
// As vcsim does, port groups whose name starts with "NSX-" or whose backing
// type is "nsx" may share a name (NSX-T creates such port groups) and get a
// logical switch UUID and segment id when none is given.

// dvsDefaultUplinks is the number of uplinks of a switch created without an
// uplink port policy, with vCenter's names dvUplink1...
const dvsDefaultUplinks = 4

func (s *Service) registerDVS(t *soap.Table) {
	soap.Register(t, "Folder", "CreateDVS_Task", s.createDVSTask)
	soap.Register(t, "DistributedVirtualSwitch", "AddDVPortgroup_Task", s.addDVPortgroupTask)
	soap.Register(t, "DistributedVirtualSwitch", "ReconfigureDvs_Task", s.reconfigureDVSTask)
	soap.Register(t, "DistributedVirtualSwitch", "FetchDVPorts", s.fetchDVPorts)
	soap.Register(t, "DistributedVirtualSwitch", "FetchDVPortKeys", s.fetchDVPortKeys)
	soap.Register(t, "DistributedVirtualSwitch", "Rename_Task", s.renameDVSTask)
	soap.Register(t, "DistributedVirtualSwitch", "Destroy_Task", s.destroyDVSTask)
	soap.Register(t, "DistributedVirtualPortgroup", "ReconfigureDVPortgroup_Task", s.reconfigureDVPortgroupTask)
	soap.Register(t, "DistributedVirtualPortgroup", "Rename_Task", s.renameDVPortgroupTask)
	soap.Register(t, "DistributedVirtualPortgroup", "Destroy_Task", s.destroyDVPortgroupTask)
}

// dvsOp carries who runs a switch operation and the event chain its events
// join (0: each event its own chain).
type dvsOp struct {
	user  string
	chain int32
	// events are posted, in order, once the operation's transaction commits.
	events []func()
}

func (op *dvsOp) post(fn func()) { op.events = append(op.events, fn) }

// update runs fn in one transaction and posts op's events once it commits.
func (s *Service) dvsUpdate(ctx context.Context, op *dvsOp, fn func(tx *inventory.Txn) error) error {
	op.events = nil
	if err := s.reg.Update(ctx, fn); err != nil {
		return err
	}
	for _, post := range op.events {
		post()
	}
	return nil
}

// CreateDVS creates a VMware distributed switch in the network folder folder,
// with its uplink port group, as user, and returns its reference.
// spec.ConfigSpec names it; a VMwareDVSConfigSpec also sets the MTU, link
// discovery and the other VMware settings. Hosts listed in the spec join it.
func (s *Service) CreateDVS(ctx context.Context, user string, folder types.ManagedObjectReference, spec types.DVSCreateSpec) (types.ManagedObjectReference, error) {
	return s.createDVS(ctx, &dvsOp{user: user}, folder, spec)
}

// AddDVPortgroups adds port groups to the switch dvs as user and returns
// their references, in the order of specs.
func (s *Service) AddDVPortgroups(ctx context.Context, user string, dvs types.ManagedObjectReference, specs []types.DVPortgroupConfigSpec) ([]types.ManagedObjectReference, error) {
	return s.addDVPortgroups(ctx, &dvsOp{user: user}, dvs, specs)
}

// ReconfigureDVS applies spec to the switch dvs as user: host members join
// (operation "add"), change backing ("edit") or leave ("remove"), and the
// settings the spec carries replace the switch's.
func (s *Service) ReconfigureDVS(ctx context.Context, user string, dvs types.ManagedObjectReference, spec types.BaseDVSConfigSpec) error {
	return s.reconfigureDVS(ctx, &dvsOp{user: user}, dvs, spec)
}

// ReconfigureDVPortgroup applies spec to the port group pg as user.
func (s *Service) ReconfigureDVPortgroup(ctx context.Context, user string, pg types.ManagedObjectReference, spec types.DVPortgroupConfigSpec) error {
	return s.reconfigureDVPortgroup(ctx, &dvsOp{user: user}, pg, spec)
}

// ---- SOAP handlers

func (s *Service) dvsTask(ctx *soap.Context, descID string, fn func(ctx context.Context, op *dvsOp) (types.AnyType, error)) (types.ManagedObjectReference, error) {
	return s.tasks.Start(ctx, task.Spec{Entity: ctx.This, DescriptionID: descID, User: ctx.UserName()},
		func(c context.Context, t *task.Task) (types.AnyType, error) {
			return fn(c, &dvsOp{user: t.User, chain: t.ChainID})
		})
}

func (s *Service) createDVSTask(ctx *soap.Context, req *types.CreateDVS_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "Folder.createDistributedVirtualSwitch", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		return s.createDVS(c, op, ctx.This, req.Spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.CreateDVS_TaskResponse{Returnval: ref}, nil
}

func (s *Service) addDVPortgroupTask(ctx *soap.Context, req *types.AddDVPortgroup_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "DistributedVirtualSwitch.addPortgroups", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		_, err := s.addDVPortgroups(c, op, ctx.This, req.Spec)
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return &types.AddDVPortgroup_TaskResponse{Returnval: ref}, nil
}

func (s *Service) reconfigureDVSTask(ctx *soap.Context, req *types.ReconfigureDvs_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "DistributedVirtualSwitch.reconfigure", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		return nil, s.reconfigureDVS(c, op, ctx.This, req.Spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.ReconfigureDvs_TaskResponse{Returnval: ref}, nil
}

func (s *Service) renameDVSTask(ctx *soap.Context, req *types.Rename_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "DistributedVirtualSwitch.rename", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		return nil, s.reconfigureDVS(c, op, ctx.This, &types.DVSConfigSpec{Name: req.NewName})
	})
	if err != nil {
		return nil, err
	}
	return &types.Rename_TaskResponse{Returnval: ref}, nil
}

func (s *Service) destroyDVSTask(ctx *soap.Context, _ *types.Destroy_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "DistributedVirtualSwitch.destroy", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		return nil, s.destroyDVS(c, op, ctx.This)
	})
	if err != nil {
		return nil, err
	}
	return &types.Destroy_TaskResponse{Returnval: ref}, nil
}

func (s *Service) reconfigureDVPortgroupTask(ctx *soap.Context, req *types.ReconfigureDVPortgroup_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "dvs.DistributedVirtualPortgroup.reconfigure", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		return nil, s.reconfigureDVPortgroup(c, op, ctx.This, req.Spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.ReconfigureDVPortgroup_TaskResponse{Returnval: ref}, nil
}

func (s *Service) renameDVPortgroupTask(ctx *soap.Context, req *types.Rename_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "dvs.DistributedVirtualPortgroup.rename", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		return nil, s.reconfigureDVPortgroup(c, op, ctx.This, types.DVPortgroupConfigSpec{Name: req.NewName})
	})
	if err != nil {
		return nil, err
	}
	return &types.Rename_TaskResponse{Returnval: ref}, nil
}

func (s *Service) destroyDVPortgroupTask(ctx *soap.Context, _ *types.Destroy_Task) (any, error) {
	ref, err := s.dvsTask(ctx, "dvs.DistributedVirtualPortgroup.destroy", func(c context.Context, op *dvsOp) (types.AnyType, error) {
		return nil, s.destroyDVPortgroup(c, op, ctx.This)
	})
	if err != nil {
		return nil, err
	}
	return &types.Destroy_TaskResponse{Returnval: ref}, nil
}

func (s *Service) fetchDVPorts(ctx *soap.Context, req *types.FetchDVPorts) (any, error) {
	sw := dvsOf(ctx.Object)
	if sw == nil {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	return &types.FetchDVPortsResponse{Returnval: s.dvPorts(sw, req.Criteria)}, nil
}

func (s *Service) fetchDVPortKeys(ctx *soap.Context, req *types.FetchDVPortKeys) (any, error) {
	sw := dvsOf(ctx.Object)
	if sw == nil {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	var keys []string
	for _, p := range s.dvPorts(sw, req.Criteria) {
		keys = append(keys, p.Key)
	}
	return &types.FetchDVPortKeysResponse{Returnval: keys}, nil
}

// ---- operations

func (s *Service) createDVS(ctx context.Context, op *dvsOp, folderRef types.ManagedObjectReference, spec types.DVSCreateSpec) (types.ManagedObjectReference, error) {
	if spec.ConfigSpec == nil {
		return types.ManagedObjectReference{}, vim.InvalidArgument("spec.configSpec", "A switch configuration is required.")
	}
	cs := spec.ConfigSpec.GetDVSConfigSpec()
	name, err := entityName(strings.TrimSpace(cs.Name), "distributed virtual switch")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	var ref types.ManagedObjectReference
	err = s.dvsUpdate(ctx, op, func(tx *inventory.Txn) error {
		folder, err := folderFor(tx, folderRef, "VmwareDistributedVirtualSwitch")
		if err != nil {
			return err
		}
		if err := checkUnique(tx, folder.ChildEntity, name, ref); err != nil {
			return err
		}
		ref = tx.NewRef("VmwareDistributedVirtualSwitch")
		sw := s.newDVS(ref, folderRef, name, spec, cs)
		tx.Create(sw, true)
		addChildTxn(tx, folderRef, ref)
		dc := datacenterOf(tx, folderRef)
		op.post(func() {
			s.postDVSEvent(op, &types.DvsCreatedEvent{Parent: folderArg(folder.Name, folderRef)}, sw, dc,
				"A vSphere Distributed Switch %s was created in %s.", sw.Name, dcNameOf(dc))
		})

		uplink := types.DVPortgroupConfigSpec{
			Name: name + "-DVUplinks-" + strings.TrimPrefix(ref.Value, inventory.Prefix(ref.Type)),
			Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding),
			DefaultPortConfig: &types.VMwareDVSPortSetting{
				Vlan:                &types.VmwareDistributedVirtualSwitchTrunkVlanSpec{VlanId: []types.NumericRange{{Start: 0, End: 4094}}},
				UplinkTeamingPolicy: dvsDefaultTeaming(),
			},
		}
		pgs, err := s.addDVPortgroupsTx(tx, op, ref, []types.DVPortgroupConfigSpec{uplink}, true)
		if err != nil {
			return err
		}
		inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, ref).Config.GetDVSConfigInfo().UplinkPortgroup = pgs
		return s.dvsHostsTx(tx, op, ref, cs.Host)
	})
	return ref, err
}

// newDVS returns a new switch's object for spec.
func (s *Service) newDVS(ref, parent types.ManagedObjectReference, name string, spec types.DVSCreateSpec, cs *types.DVSConfigSpec) *mo.VmwareDistributedVirtualSwitch {
	sw := &mo.VmwareDistributedVirtualSwitch{}
	initEntity(&sw.ManagedEntity, ref, name, &parent)
	sw.Uuid = dvsUUID()
	product := spec.ProductInfo
	if product == nil {
		product = &types.DistributedVirtualSwitchProductSpec{
			Name: "DVS", Vendor: "VMware, Inc.", Version: ProductVersion, Build: ProductBuild, ForwardingClass: "etherswitch",
		}
	}
	sw.Capability = types.DVSCapability{
		DvsOperationSupported:         types.NewBool(true),
		DvPortGroupOperationSupported: types.NewBool(true),
		DvPortOperationSupported:      types.NewBool(true),
	}
	uplinks := cs.UplinkPortPolicy
	if uplinks == nil {
		p := &types.DVSNameArrayUplinkPortPolicy{}
		for i := 1; i <= dvsDefaultUplinks; i++ {
			p.UplinkPortName = append(p.UplinkPortName, "dvUplink"+strconv.Itoa(i))
		}
		uplinks = p
	}
	defaultPort := cs.DefaultPortConfig
	if defaultPort == nil {
		defaultPort = &types.VMwareDVSPortSetting{
			Vlan:                new(types.VmwareDistributedVirtualSwitchVlanIdSpec),
			UplinkTeamingPolicy: dvsDefaultTeaming(),
		}
	}
	info := &types.VMwareDVSConfigInfo{
		DVSConfigInfo: types.DVSConfigInfo{
			Uuid:                          sw.Uuid,
			Name:                          sw.Name,
			NumStandalonePorts:            cs.NumStandalonePorts,
			MaxPorts:                      cs.MaxPorts,
			UplinkPortPolicy:              uplinks,
			DefaultPortConfig:             defaultPort,
			ProductInfo:                   *product,
			ExtensionKey:                  cs.ExtensionKey,
			Policy:                        cs.Policy,
			Description:                   cs.Description,
			VendorSpecificConfig:          cs.VendorSpecificConfig,
			ConfigVersion:                 "1",
			SwitchIpAddress:               cs.SwitchIpAddress,
			CreateTime:                    s.now(),
			DefaultProxySwitchMaxNumPorts: cs.DefaultProxySwitchMaxNumPorts,
			NetworkResourceControlVersion: cs.NetworkResourceControlVersion,
		},
		MaxMtu: 1500,
	}
	if cs.Contact != nil {
		info.Contact = *cs.Contact
	}
	if v, ok := spec.ConfigSpec.(*types.VMwareDVSConfigSpec); ok {
		dvsApplyVMwareSpec(info, v)
	}
	sw.Config = info
	sw.Summary = types.DVSSummary{
		Name: sw.Name, Uuid: sw.Uuid, ProductInfo: product, Description: cs.Description, Contact: cs.Contact,
	}
	return sw
}

// dvsApplyVMwareSpec copies the VMware-specific settings v carries into info.
// Private VLANs and port mirroring (pvlanConfigSpec, vspanConfigSpec) are not
// modelled yet and are ignored.
func dvsApplyVMwareSpec(info *types.VMwareDVSConfigInfo, v *types.VMwareDVSConfigSpec) {
	if v.MaxMtu != 0 {
		info.MaxMtu = v.MaxMtu
	}
	if v.LinkDiscoveryProtocolConfig != nil {
		info.LinkDiscoveryProtocolConfig = v.LinkDiscoveryProtocolConfig
	}
	if v.IpfixConfig != nil {
		info.IpfixConfig = v.IpfixConfig
	}
	if v.LacpApiVersion != "" {
		info.LacpApiVersion = v.LacpApiVersion
	}
	if v.MulticastFilteringMode != "" {
		info.MulticastFilteringMode = v.MulticastFilteringMode
	}
}

func (s *Service) addDVPortgroups(ctx context.Context, op *dvsOp, dvs types.ManagedObjectReference, specs []types.DVPortgroupConfigSpec) ([]types.ManagedObjectReference, error) {
	var refs []types.ManagedObjectReference
	err := s.dvsUpdate(ctx, op, func(tx *inventory.Txn) error {
		var err error
		refs, err = s.addDVPortgroupsTx(tx, op, dvs, specs, false)
		return err
	})
	return refs, err
}

// addDVPortgroupsTx adds port groups to the switch dvs in tx; uplink marks
// the switch's uplink port group.
func (s *Service) addDVPortgroupsTx(tx *inventory.Txn, op *dvsOp, dvs types.ManagedObjectReference, specs []types.DVPortgroupConfigSpec, uplink bool) ([]types.ManagedObjectReference, error) {
	sw := dvsOf(tx.Get(dvs))
	if sw == nil {
		return nil, vim.ManagedObjectNotFound(dvs)
	}
	if sw.Parent == nil {
		return nil, vim.InvalidState("The switch %q is not in a folder.", sw.Name)
	}
	folderRef := *sw.Parent
	if _, ok := tx.Get(folderRef).(*mo.Folder); !ok {
		return nil, vim.ManagedObjectNotFound(folderRef)
	}
	dc := datacenterOf(tx, folderRef)
	var refs []types.ManagedObjectReference
	for i, spec := range specs {
		name, err := entityName(strings.TrimSpace(spec.Name), "distributed virtual port group")
		if err != nil {
			return nil, err
		}
		spec.Name = name
		nsx := dvsNSXName(name) || spec.BackingType == string(types.DistributedVirtualPortgroupBackingTypeNsx)
		if !nsx {
			if err := checkUnique(tx, tx.Get(folderRef).(*mo.Folder).ChildEntity, name, types.ManagedObjectReference{}); err != nil {
				return nil, err
			}
		}
		switch spec.Type {
		case "":
			spec.Type = string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding)
		case string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding),
			string(types.DistributedVirtualPortgroupPortgroupTypeEphemeral),
			string(types.DistributedVirtualPortgroupPortgroupTypeLateBinding):
		default:
			return nil, vim.InvalidArgument(fmt.Sprintf("spec[%d].type", i), "Port group type %q is not one of earlyBinding, ephemeral.", spec.Type)
		}
		if spec.NumPorts < 0 {
			return nil, vim.InvalidArgument(fmt.Sprintf("spec[%d].numPorts", i), "The number of ports cannot be negative.")
		}
		if nsx {
			if spec.LogicalSwitchUuid == "" {
				spec.LogicalSwitchUuid = uuid.NewString()
			}
			if spec.SegmentId == "" {
				spec.SegmentId = "/infra/segments/vnet_" + uuid.NewString()
			}
			if spec.BackingType == "" {
				spec.BackingType = string(types.DistributedVirtualPortgroupBackingTypeNsx)
			}
		}
		ref := tx.NewRef("DistributedVirtualPortgroup")
		pg := newDVPortgroup(ref, folderRef, sw.Self, spec, uplink)
		tx.Create(pg, true)
		addChildTxn(tx, folderRef, ref)
		s.dvsGrowPorts(tx, dvs, ref, spec.NumPorts)
		sw = inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
		sw.Portgroup = append(sw.Portgroup, ref)
		sw.Summary.PortgroupName = append(sw.Summary.PortgroupName, pg.Name)
		for _, m := range sw.Config.GetDVSConfigInfo().Host {
			if m.Config.Host != nil {
				s.dvsAttach(tx, *m.Config.Host, []types.ManagedObjectReference{ref})
			}
		}
		refs = append(refs, ref)
		swName, pgName := sw.Name, pg.Name
		op.post(func() {
			s.postDVPortgroupEvent(op, &types.DVPortgroupCreatedEvent{}, ref, pgName, dvs, swName, dc,
				"dvPort group %s in %s was added to switch %s.", pgName, dcNameOf(dc), swName)
		})
	}
	return refs, nil
}

// newDVPortgroup returns a new port group's object for spec, without ports.
func newDVPortgroup(ref, parent, dvs types.ManagedObjectReference, spec types.DVPortgroupConfigSpec, uplink bool) *mo.DistributedVirtualPortgroup {
	pg := &mo.DistributedVirtualPortgroup{}
	initEntity(&pg.ManagedEntity, ref, spec.Name, &parent)
	pg.Summary = &types.NetworkSummary{Network: refp(ref), Accessible: true}
	setNetworkName(&pg.Network, spec.Name)
	pg.Host, pg.Vm = []types.ManagedObjectReference{}, []types.ManagedObjectReference{}
	pg.Key = ref.Value
	pg.Config = types.DVPortgroupConfigInfo{
		Key:                          pg.Key,
		Name:                         pg.Name,
		DistributedVirtualSwitch:     &dvs,
		DefaultPortConfig:            spec.DefaultPortConfig,
		Description:                  spec.Description,
		Type:                         spec.Type,
		BackingType:                  spec.BackingType,
		Policy:                       spec.Policy,
		PortNameFormat:               spec.PortNameFormat,
		Scope:                        spec.Scope,
		VendorSpecificConfig:         spec.VendorSpecificConfig,
		ConfigVersion:                "1",
		AutoExpand:                   spec.AutoExpand,
		VmVnicNetworkResourcePoolKey: spec.VmVnicNetworkResourcePoolKey,
		Uplink:                       types.NewBool(uplink),
		TransportZoneUuid:            spec.TransportZoneUuid,
		TransportZoneName:            spec.TransportZoneName,
		LogicalSwitchUuid:            spec.LogicalSwitchUuid,
		SegmentId:                    spec.SegmentId,
	}
	if pg.Config.BackingType == "" {
		pg.Config.BackingType = string(types.DistributedVirtualPortgroupBackingTypeStandard)
	}
	if pg.Config.DefaultPortConfig == nil {
		pg.Config.DefaultPortConfig = &types.VMwareDVSPortSetting{
			Vlan:                new(types.VmwareDistributedVirtualSwitchVlanIdSpec),
			UplinkTeamingPolicy: dvsDefaultTeaming(),
		}
	}
	if pg.Config.Policy == nil {
		pg.Config.Policy = &types.VMwareDVSPortgroupPolicy{
			DVPortgroupPolicy: types.DVPortgroupPolicy{
				BlockOverrideAllowed:               true,
				PortConfigResetAtDisconnect:        true,
				NetworkResourcePoolOverrideAllowed: types.NewBool(false),
				TrafficFilterOverrideAllowed:       types.NewBool(false),
			},
			IpfixOverrideAllowed: types.NewBool(false),
		}
	}
	return pg
}

func dvsDefaultTeaming() *types.VmwareUplinkPortTeamingPolicy {
	return &types.VmwareUplinkPortTeamingPolicy{
		Policy:         &types.StringPolicy{Value: "loadbalance_srcid"},
		ReversePolicy:  &types.BoolPolicy{Value: types.NewBool(true)},
		NotifySwitches: &types.BoolPolicy{Value: types.NewBool(true)},
		RollingOrder:   &types.BoolPolicy{Value: types.NewBool(false)},
	}
}

// dvsGrowPorts adds n ports to the port group pg of switch dvs, keyed after
// the switch's highest port key, and returns their keys.
func (s *Service) dvsGrowPorts(tx *inventory.Txn, dvs, pgRef types.ManagedObjectReference, n int32) []string {
	if n <= 0 {
		return nil
	}
	sw := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
	next := 0
	for _, ref := range sw.Portgroup {
		if p, ok := tx.Get(ref).(*mo.DistributedVirtualPortgroup); ok {
			next = max(next, dvsMaxKey(p.PortKeys)+1)
		}
	}
	pg := inventory.Edit[mo.DistributedVirtualPortgroup](tx, pgRef)
	next = max(next, dvsMaxKey(pg.PortKeys)+1)
	var keys []string
	for i := range int(n) {
		keys = append(keys, strconv.Itoa(next+i))
	}
	pg.PortKeys = append(pg.PortKeys, keys...)
	pg.Config.NumPorts = int32(len(pg.PortKeys))
	info := sw.Config.GetDVSConfigInfo()
	info.NumPorts += n
	sw.Summary.NumPorts = info.NumPorts
	return keys
}

func dvsMaxKey(keys []string) int {
	m := -1
	for _, k := range keys {
		if n, err := strconv.Atoi(k); err == nil && n > m {
			m = n
		}
	}
	return m
}

// dvsShrinkPorts removes the last n ports of the port group pg.
func dvsShrinkPorts(tx *inventory.Txn, dvs, pgRef types.ManagedObjectReference, n int) {
	pg := inventory.Edit[mo.DistributedVirtualPortgroup](tx, pgRef)
	n = min(n, len(pg.PortKeys))
	pg.PortKeys = pg.PortKeys[:len(pg.PortKeys)-n]
	pg.Config.NumPorts = int32(len(pg.PortKeys))
	sw := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
	info := sw.Config.GetDVSConfigInfo()
	info.NumPorts -= int32(n)
	sw.Summary.NumPorts = info.NumPorts
}

func (s *Service) reconfigureDVS(ctx context.Context, op *dvsOp, dvs types.ManagedObjectReference, spec types.BaseDVSConfigSpec) error {
	if spec == nil {
		return vim.InvalidArgument("spec", "A configuration spec is required.")
	}
	cs := spec.GetDVSConfigSpec()
	return s.dvsUpdate(ctx, op, func(tx *inventory.Txn) error {
		sw := dvsOf(tx.Get(dvs))
		if sw == nil {
			return vim.ManagedObjectNotFound(dvs)
		}
		info := sw.Config.GetDVSConfigInfo()
		if cs.ConfigVersion != "" && cs.ConfigVersion != info.ConfigVersion {
			return vim.NewFault(&types.ConcurrentAccess{}, "The switch %q was changed since configVersion %s was read (now %s); read its config again.",
				sw.Name, cs.ConfigVersion, info.ConfigVersion)
		}
		if name := strings.TrimSpace(cs.Name); name != "" && name != sw.Name {
			if _, err := entityName(name, "distributed virtual switch"); err != nil {
				return err
			}
			if err := s.dvsRename(tx, sw, name); err != nil {
				return err
			}
		}
		sw = inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
		info = sw.Config.GetDVSConfigInfo()
		dvsApplyConfig(info, cs)
		if v, ok := spec.(*types.VMwareDVSConfigSpec); ok {
			dvsApplyVMwareSpec(sw.Config.(*types.VMwareDVSConfigInfo), v)
		}
		sw.Summary.Description = info.Description
		if cs.Contact != nil {
			sw.Summary.Contact = cs.Contact
		}
		info.ConfigVersion = dvsNextVersion(info.ConfigVersion)
		if err := s.dvsHostsTx(tx, op, dvs, cs.Host); err != nil {
			return err
		}
		dc := datacenterOf(tx, dvs)
		name := sw.Name
		op.post(func() {
			s.postDVSEvent(op, &types.DvsReconfiguredEvent{ConfigSpec: spec}, sw, dc,
				"The vSphere Distributed Switch %s in %s was reconfigured.", name, dcNameOf(dc))
		})
		return nil
	})
}

// dvsApplyConfig copies the generic settings cs carries into info.
func dvsApplyConfig(info *types.DVSConfigInfo, cs *types.DVSConfigSpec) {
	if cs.Description != "" {
		info.Description = cs.Description
	}
	if cs.MaxPorts != 0 {
		info.MaxPorts = cs.MaxPorts
	}
	if cs.NumStandalonePorts != 0 {
		info.NumStandalonePorts = cs.NumStandalonePorts
	}
	if cs.UplinkPortPolicy != nil {
		info.UplinkPortPolicy = cs.UplinkPortPolicy
	}
	if cs.DefaultPortConfig != nil {
		info.DefaultPortConfig = dvsMergeSetting(info.DefaultPortConfig, cs.DefaultPortConfig)
	}
	if cs.Policy != nil {
		info.Policy = cs.Policy
	}
	if cs.Contact != nil {
		info.Contact = *cs.Contact
	}
	if cs.SwitchIpAddress != "" {
		info.SwitchIpAddress = cs.SwitchIpAddress
	}
	if cs.VendorSpecificConfig != nil {
		info.VendorSpecificConfig = cs.VendorSpecificConfig
	}
	if cs.DefaultProxySwitchMaxNumPorts != 0 {
		info.DefaultProxySwitchMaxNumPorts = cs.DefaultProxySwitchMaxNumPorts
	}
}

// dvsRename renames the switch, its summary and config, in tx.
func (s *Service) dvsRename(tx *inventory.Txn, sw *mo.VmwareDistributedVirtualSwitch, name string) error {
	if sw.Parent != nil {
		if folder, ok := tx.Get(*sw.Parent).(*mo.Folder); ok {
			if err := checkUnique(tx, folder.ChildEntity, name, sw.Self); err != nil {
				return err
			}
		}
	}
	e := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, sw.Self)
	e.Name = name
	e.Summary.Name = name
	e.Config.GetDVSConfigInfo().Name = name
	return nil
}

// dvsHostsTx applies host member changes to the switch dvs in tx.
func (s *Service) dvsHostsTx(tx *inventory.Txn, op *dvsOp, dvs types.ManagedObjectReference, specs []types.DistributedVirtualSwitchHostMemberConfigSpec) error {
	for i, m := range specs {
		host, ok := tx.Get(m.Host).(*mo.HostSystem)
		if !ok {
			return vim.ManagedObjectNotFound(m.Host)
		}
		sw := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
		info := sw.Config.GetDVSConfigInfo()
		idx := slices.IndexFunc(info.Host, func(h types.DistributedVirtualSwitchHostMember) bool {
			return h.Config.Host != nil && h.Config.Host.Value == m.Host.Value
		})
		switch types.ConfigSpecOperation(m.Operation) {
		case types.ConfigSpecOperationAdd:
			if idx >= 0 {
				return vim.NewFault(&types.AlreadyExists{Name: host.Name}, "The host %s is already a member of the switch %s.", host.Name, sw.Name)
			}
			if sdc, hdc := datacenterOf(tx, dvs), datacenterOf(tx, m.Host); sdc == nil || hdc == nil || sdc.Self.Value != hdc.Self.Value {
				return vim.InvalidArgument(fmt.Sprintf("spec.host[%d].host", i), "The host %s is not in the switch's datacenter.", host.Name)
			}
			s.dvsJoin(tx, dvs, m)
			dc := datacenterOf(tx, dvs)
			hostArg := types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: host.Name}, Host: host.Self}
			swName := sw.Name
			op.post(func() {
				s.postDVSEvent(op, &types.DvsHostJoinedEvent{HostJoined: hostArg}, sw, dc,
					"The host %s joined the vSphere Distributed Switch %s in %s.", host.Name, swName, dcNameOf(dc))
			})
		case types.ConfigSpecOperationEdit:
			if idx < 0 {
				return vim.NotFound("The host %s is not a member of the switch %s.", host.Name, sw.Name)
			}
			if m.Backing != nil {
				info.Host[idx].Config.Backing = m.Backing
			}
			if m.MaxProxySwitchPorts != 0 {
				info.Host[idx].Config.MaxProxySwitchPorts = m.MaxProxySwitchPorts
			}
		case types.ConfigSpecOperationRemove:
			if idx < 0 {
				return vim.NotFound("The host %s is not a member of the switch %s.", host.Name, sw.Name)
			}
			if err := s.dvsLeave(tx, dvs, host, idx); err != nil {
				return err
			}
			dc := datacenterOf(tx, dvs)
			hostArg := types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: host.Name}, Host: host.Self}
			swName := sw.Name
			op.post(func() {
				s.postDVSEvent(op, &types.DvsHostLeftEvent{HostLeft: hostArg}, sw, dc,
					"The host %s left the vSphere Distributed Switch %s in %s.", host.Name, swName, dcNameOf(dc))
			})
		default:
			return vim.InvalidArgument(fmt.Sprintf("spec.host[%d].operation", i), "Operation %q is not one of add, edit, remove.", m.Operation)
		}
	}
	return nil
}

// dvsJoin makes the host of m a member of the switch dvs: it gets uplink
// ports and sees every port group of the switch.
func (s *Service) dvsJoin(tx *inventory.Txn, dvs types.ManagedObjectReference, m types.DistributedVirtualSwitchHostMemberConfigSpec) {
	sw := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
	info := sw.Config.GetDVSConfigInfo()
	var uplinkKeys []string
	if len(info.UplinkPortgroup) > 0 {
		uplinkKeys = s.dvsGrowPorts(tx, dvs, info.UplinkPortgroup[0], int32(dvsUplinkCount(info)))
	}
	sw = inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
	info = sw.Config.GetDVSConfigInfo()
	maxPorts := m.MaxProxySwitchPorts
	if maxPorts == 0 {
		maxPorts = 512
	}
	backing := m.Backing
	if backing == nil {
		backing = &types.DistributedVirtualSwitchHostMemberPnicBacking{}
	}
	host := m.Host
	product := info.ProductInfo
	info.Host = append(info.Host, types.DistributedVirtualSwitchHostMember{
		Config:        types.DistributedVirtualSwitchHostMemberConfigInfo{Host: &host, MaxProxySwitchPorts: maxPorts, Backing: backing},
		ProductInfo:   &product,
		UplinkPortKey: uplinkKeys,
		Status:        "up",
		RuntimeState:  &types.DistributedVirtualSwitchHostMemberRuntimeState{CurrentMaxProxySwitchPorts: maxPorts},
	})
	sw.Summary.HostMember = append(sw.Summary.HostMember, host)
	sw.Summary.NumHosts = int32(len(sw.Summary.HostMember))
	s.dvsAttach(tx, host, sw.Portgroup)
}

// dvsLeave removes the idx-th host member, refusing while a VM on the host
// uses a port group of the switch.
func (s *Service) dvsLeave(tx *inventory.Txn, dvs types.ManagedObjectReference, host *mo.HostSystem, idx int) error {
	sw := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
	for _, vmRef := range host.Vm {
		vm, ok := tx.Get(vmRef).(*mo.VirtualMachine)
		if !ok {
			continue
		}
		for _, n := range vm.Network {
			if containsRef(sw.Portgroup, n) {
				return vim.NewFault(&types.ResourceInUse{Type: "VirtualMachine", Name: vm.Name},
					"The host %s cannot leave the switch %s: the VM %s uses its port group %s.", host.Name, sw.Name, vm.Name, n.Value)
			}
		}
	}
	info := sw.Config.GetDVSConfigInfo()
	member := info.Host[idx]
	info.Host = slices.Delete(info.Host, idx, idx+1)
	sw.Summary.HostMember = removeRef(sw.Summary.HostMember, host.Self)
	sw.Summary.NumHosts = int32(len(sw.Summary.HostMember))
	if len(info.UplinkPortgroup) > 0 && len(member.UplinkPortKey) > 0 {
		up := inventory.Edit[mo.DistributedVirtualPortgroup](tx, info.UplinkPortgroup[0])
		up.PortKeys = slices.DeleteFunc(up.PortKeys, func(k string) bool { return slices.Contains(member.UplinkPortKey, k) })
		up.Config.NumPorts = int32(len(up.PortKeys))
		info.NumPorts -= int32(len(member.UplinkPortKey))
		sw.Summary.NumPorts = info.NumPorts
	}
	s.dvsDetach(tx, host.Self, sw.Portgroup)
	return nil
}

func dvsUplinkCount(info *types.DVSConfigInfo) int {
	if p, ok := info.UplinkPortPolicy.(*types.DVSNameArrayUplinkPortPolicy); ok && len(p.UplinkPortName) > 0 {
		return len(p.UplinkPortName)
	}
	return dvsDefaultUplinks
}

// dvsAttach lists the port groups pgs in the host's network, its compute
// resource's network, and the port groups' host lists.
func (s *Service) dvsAttach(tx *inventory.Txn, hostRef types.ManagedObjectReference, pgs []types.ManagedObjectReference) {
	host := inventory.Edit[mo.HostSystem](tx, hostRef)
	if host == nil {
		return
	}
	for _, pg := range pgs {
		appendRef(&host.Network, pg)
		if p := inventory.Edit[mo.DistributedVirtualPortgroup](tx, pg); p != nil {
			appendRef(&p.Host, hostRef)
		}
	}
	if host.Parent != nil {
		if cr := dvsComputeResource(tx, *host.Parent); cr != nil {
			for _, pg := range pgs {
				appendRef(&cr.Network, pg)
			}
		}
	}
}

// dvsDetach undoes dvsAttach; the compute resource keeps a port group while
// another of its hosts sees it.
func (s *Service) dvsDetach(tx *inventory.Txn, hostRef types.ManagedObjectReference, pgs []types.ManagedObjectReference) {
	host := inventory.Edit[mo.HostSystem](tx, hostRef)
	if host == nil {
		return
	}
	for _, pg := range pgs {
		host.Network = removeRef(host.Network, pg)
		if p := inventory.Edit[mo.DistributedVirtualPortgroup](tx, pg); p != nil {
			p.Host = removeRef(p.Host, hostRef)
		}
	}
	if host.Parent == nil {
		return
	}
	cr := dvsComputeResource(tx, *host.Parent)
	if cr == nil {
		return
	}
	for _, pg := range pgs {
		used := false
		for _, h := range cr.Host {
			if hs, ok := tx.Get(h).(*mo.HostSystem); ok && containsRef(hs.Network, pg) {
				used = true
				break
			}
		}
		if !used {
			cr.Network = removeRef(cr.Network, pg)
		}
	}
}

// dvsComputeResource returns a mutable copy of the ComputeResource part of the
// compute resource or cluster ref, or nil.
func dvsComputeResource(tx *inventory.Txn, ref types.ManagedObjectReference) *mo.ComputeResource {
	switch o := tx.Edit(ref).(type) {
	case *mo.ComputeResource:
		return o
	case *mo.ClusterComputeResource:
		return &o.ComputeResource
	}
	return nil
}

func (s *Service) reconfigureDVPortgroup(ctx context.Context, op *dvsOp, pgRef types.ManagedObjectReference, spec types.DVPortgroupConfigSpec) error {
	return s.dvsUpdate(ctx, op, func(tx *inventory.Txn) error {
		pg, ok := tx.Get(pgRef).(*mo.DistributedVirtualPortgroup)
		if !ok {
			return vim.ManagedObjectNotFound(pgRef)
		}
		if spec.ConfigVersion != "" && spec.ConfigVersion != pg.Config.ConfigVersion {
			return vim.NewFault(&types.ConcurrentAccess{}, "The port group %q was changed since configVersion %s was read (now %s); read its config again.",
				pg.Name, spec.ConfigVersion, pg.Config.ConfigVersion)
		}
		if pg.Config.DistributedVirtualSwitch == nil {
			return vim.InvalidState("The port group %q belongs to no switch.", pg.Name)
		}
		dvs := *pg.Config.DistributedVirtualSwitch
		nsx := pg.Config.BackingType == string(types.DistributedVirtualPortgroupBackingTypeNsx)
		if name := strings.TrimSpace(spec.Name); name != "" && name != pg.Name {
			if _, err := entityName(name, "distributed virtual port group"); err != nil {
				return err
			}
			if folder, ok := tx.Get(*pg.Parent).(*mo.Folder); ok && !nsx && !dvsNSXName(name) {
				if err := checkUnique(tx, folder.ChildEntity, name, pgRef); err != nil {
					return err
				}
			}
			sw := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs)
			if i := slices.Index(sw.Summary.PortgroupName, pg.Name); i >= 0 {
				sw.Summary.PortgroupName[i] = name
			}
			e := inventory.Edit[mo.DistributedVirtualPortgroup](tx, pgRef)
			setNetworkName(&e.Network, name)
			e.Config.Name = name
		}
		if spec.NumPorts != 0 || spec.Type != "" {
			want := int(spec.NumPorts)
			if have := len(pg.PortKeys); want > have {
				s.dvsGrowPorts(tx, dvs, pgRef, int32(want-have))
			} else if want < have && spec.NumPorts != 0 {
				dvsShrinkPorts(tx, dvs, pgRef, have-want)
			}
		}
		e := inventory.Edit[mo.DistributedVirtualPortgroup](tx, pgRef)
		c := &e.Config
		if spec.Type != "" {
			c.Type = spec.Type
		}
		if spec.Description != "" {
			c.Description = spec.Description
		}
		if spec.DefaultPortConfig != nil {
			c.DefaultPortConfig = dvsMergeSetting(c.DefaultPortConfig, spec.DefaultPortConfig)
		}
		if spec.Policy != nil {
			c.Policy = spec.Policy
		}
		if spec.PortNameFormat != "" {
			c.PortNameFormat = spec.PortNameFormat
		}
		if spec.AutoExpand != nil {
			c.AutoExpand = spec.AutoExpand
		}
		if spec.Scope != nil {
			c.Scope = spec.Scope
		}
		if spec.BackingType != "" {
			c.BackingType = spec.BackingType
		}
		if spec.LogicalSwitchUuid != "" {
			c.LogicalSwitchUuid = spec.LogicalSwitchUuid
		}
		if spec.SegmentId != "" {
			c.SegmentId = spec.SegmentId
		}
		if spec.VmVnicNetworkResourcePoolKey != "" {
			c.VmVnicNetworkResourcePoolKey = spec.VmVnicNetworkResourcePoolKey
		}
		c.ConfigVersion = dvsNextVersion(c.ConfigVersion)
		dc := datacenterOf(tx, pgRef)
		swName := ""
		if sw := dvsOf(tx.Get(dvs)); sw != nil {
			swName = sw.Name
		}
		name := e.Name
		op.post(func() {
			s.postDVPortgroupEvent(op, &types.DVPortgroupReconfiguredEvent{ConfigSpec: spec}, pgRef, name, dvs, swName, dc,
				"dvPort group %s in %s was reconfigured.", name, dcNameOf(dc))
		})
		return nil
	})
}

func (s *Service) destroyDVPortgroup(ctx context.Context, op *dvsOp, pgRef types.ManagedObjectReference) error {
	return s.dvsUpdate(ctx, op, func(tx *inventory.Txn) error {
		pg, ok := tx.Get(pgRef).(*mo.DistributedVirtualPortgroup)
		if !ok {
			return vim.ManagedObjectNotFound(pgRef)
		}
		if pg.Config.Uplink != nil && *pg.Config.Uplink {
			return vim.NotSupported("The port group %q is its switch's uplink port group; it goes away with the switch.", pg.Name)
		}
		if len(pg.Vm) > 0 {
			return vim.NewFault(&types.ResourceInUse{Type: pg.Self.Type, Name: pg.Name},
				"The port group %q is in use by %d virtual machine(s); move their network adapters first.", pg.Name, len(pg.Vm))
		}
		dc := datacenterOf(tx, pgRef)
		var dvs types.ManagedObjectReference
		swName := ""
		if pg.Config.DistributedVirtualSwitch != nil {
			dvs = *pg.Config.DistributedVirtualSwitch
			if sw := inventory.Edit[mo.VmwareDistributedVirtualSwitch](tx, dvs); sw != nil {
				sw.Portgroup = removeRef(sw.Portgroup, pgRef)
				if i := slices.Index(sw.Summary.PortgroupName, pg.Name); i >= 0 {
					sw.Summary.PortgroupName = slices.Delete(sw.Summary.PortgroupName, i, i+1)
				}
				info := sw.Config.GetDVSConfigInfo()
				info.NumPorts -= int32(len(pg.PortKeys))
				sw.Summary.NumPorts = info.NumPorts
				swName = sw.Name
			}
		}
		s.dvsRemovePortgroupTx(tx, pg)
		name := pg.Name
		op.post(func() {
			s.postDVPortgroupEvent(op, &types.DVPortgroupDestroyedEvent{}, pgRef, name, dvs, swName, dc,
				"dvPort group %s in %s was deleted.", name, dcNameOf(dc))
		})
		return nil
	})
}

// dvsRemovePortgroupTx deletes pg and every reference to it but its switch's.
func (s *Service) dvsRemovePortgroupTx(tx *inventory.Txn, pg *mo.DistributedVirtualPortgroup) {
	for _, h := range pg.Host {
		s.dvsDetach(tx, h, []types.ManagedObjectReference{pg.Self})
	}
	if pg.Parent != nil {
		removeChildTxn(tx, *pg.Parent, pg.Self)
	}
	if dc := datacenterOf(tx, pg.Self); dc != nil {
		d := inventory.Edit[mo.Datacenter](tx, dc.Self)
		d.Network = removeRef(d.Network, pg.Self)
	}
	tx.Delete(pg.Self)
}

func (s *Service) destroyDVS(ctx context.Context, op *dvsOp, dvs types.ManagedObjectReference) error {
	return s.dvsUpdate(ctx, op, func(tx *inventory.Txn) error {
		sw := dvsOf(tx.Get(dvs))
		if sw == nil {
			return vim.ManagedObjectNotFound(dvs)
		}
		for _, ref := range sw.Portgroup {
			if pg, ok := tx.Get(ref).(*mo.DistributedVirtualPortgroup); ok && len(pg.Vm) > 0 {
				return vim.NewFault(&types.ResourceInUse{Type: pg.Self.Type, Name: pg.Name},
					"The switch %q is in use: its port group %q connects %d virtual machine(s).", sw.Name, pg.Name, len(pg.Vm))
			}
		}
		dc := datacenterOf(tx, dvs)
		for _, ref := range sw.Portgroup {
			if pg, ok := tx.Get(ref).(*mo.DistributedVirtualPortgroup); ok {
				s.dvsRemovePortgroupTx(tx, pg)
			}
		}
		if sw.Parent != nil {
			removeChildTxn(tx, *sw.Parent, dvs)
		}
		tx.Delete(dvs)
		op.post(func() {
			s.postDVSEvent(op, &types.DvsDestroyedEvent{}, sw, dc,
				"vSphere Distributed Switch %s in %s was deleted.", sw.Name, dcNameOf(dc))
		})
		return nil
	})
}

// dvPorts lists the switch's ports that match criteria (nil: all).
func (s *Service) dvPorts(sw *mo.VmwareDistributedVirtualSwitch, c *types.DistributedVirtualSwitchPortCriteria) []types.DistributedVirtualPort {
	connectees := s.dvsConnectees(sw)
	var ports []types.DistributedVirtualPort
	for _, ref := range sw.Portgroup {
		pg := inventory.Get[mo.DistributedVirtualPortgroup](s.reg, ref)
		if pg == nil {
			continue
		}
		uplink := pg.Config.Uplink != nil && *pg.Config.Uplink
		if c != nil && c.UplinkPort != nil && *c.UplinkPort != uplink {
			continue
		}
		if c != nil && len(c.PortgroupKey) > 0 {
			inside := c.Inside == nil || *c.Inside
			if slices.Contains(c.PortgroupKey, pg.Key) != inside {
				continue
			}
		}
		for _, key := range pg.PortKeys {
			if c != nil && len(c.PortKey) > 0 && !slices.Contains(c.PortKey, key) {
				continue
			}
			conn := connectees[key]
			if c != nil && c.Connected != nil && *c.Connected != (conn != nil) {
				continue
			}
			if c != nil && c.Active != nil && *c.Active && conn == nil {
				continue
			}
			ports = append(ports, types.DistributedVirtualPort{
				Key:          key,
				DvsUuid:      sw.Uuid,
				PortgroupKey: pg.Key,
				Config:       types.DVPortConfigInfo{Setting: pg.Config.DefaultPortConfig, ConfigVersion: pg.Config.ConfigVersion},
				Connectee:    conn,
			})
		}
	}
	return ports
}

// dvsConnectees maps the port keys of the switch that VM network adapters
// are connected to, to what is connected.
func (s *Service) dvsConnectees(sw *mo.VmwareDistributedVirtualSwitch) map[string]*types.DistributedVirtualSwitchPortConnectee {
	out := map[string]*types.DistributedVirtualSwitchPortConnectee{}
	seen := map[string]bool{}
	for _, ref := range sw.Portgroup {
		pg := inventory.Get[mo.DistributedVirtualPortgroup](s.reg, ref)
		if pg == nil {
			continue
		}
		for _, vmRef := range pg.Vm {
			if seen[vmRef.Value] {
				continue
			}
			seen[vmRef.Value] = true
			vm := inventory.Get[mo.VirtualMachine](s.reg, vmRef)
			if vm == nil || vm.Config == nil {
				continue
			}
			for _, d := range vm.Config.Hardware.Device {
				b, ok := d.GetVirtualDevice().Backing.(*types.VirtualEthernetCardDistributedVirtualPortBackingInfo)
				if !ok || b.Port.SwitchUuid != sw.Uuid || b.Port.PortKey == "" {
					continue
				}
				ref := vm.Self
				out[b.Port.PortKey] = &types.DistributedVirtualSwitchPortConnectee{
					ConnectedEntity: &ref,
					NicKey:          strconv.Itoa(int(d.GetVirtualDevice().Key)),
					Type:            string(types.DistributedVirtualSwitchPortConnecteeConnecteeTypeVmVnic),
				}
			}
		}
	}
	return out
}

// ---- events

// postDVSEvent posts ev, a switch event, for the switch sw.
func (s *Service) postDVSEvent(op *dvsOp, ev types.BaseEvent, sw *mo.VmwareDistributedVirtualSwitch, dc *mo.Datacenter, format string, args ...any) {
	e := ev.GetEvent()
	e.Dvs = &types.DvsEventArgument{EntityEventArgument: types.EntityEventArgument{Name: sw.Name}, Dvs: sw.Self}
	s.events.post(ev, eventSpec{user: op.user, chain: op.chain, dc: dvsDCArg(dc), msg: fmt.Sprintf(format, args...)})
}

// postDVPortgroupEvent posts ev, a port group event.
func (s *Service) postDVPortgroupEvent(op *dvsOp, ev types.BaseEvent, pg types.ManagedObjectReference, pgName string,
	dvs types.ManagedObjectReference, swName string, dc *mo.Datacenter, format string, args ...any) {
	e := ev.GetEvent()
	if dvs.Value != "" {
		e.Dvs = &types.DvsEventArgument{EntityEventArgument: types.EntityEventArgument{Name: swName}, Dvs: dvs}
	}
	s.events.post(ev, eventSpec{
		user: op.user, chain: op.chain, dc: dvsDCArg(dc), msg: fmt.Sprintf(format, args...),
		net: &types.NetworkEventArgument{EntityEventArgument: types.EntityEventArgument{Name: pgName}, Network: pg},
	})
}

func dvsDCArg(dc *mo.Datacenter) *types.DatacenterEventArgument {
	if dc == nil {
		return nil
	}
	return &types.DatacenterEventArgument{EntityEventArgument: types.EntityEventArgument{Name: dc.Name}, Datacenter: dc.Self}
}

// ---- helpers

// dvsOf returns o as a switch, or nil.
func dvsOf(o mo.Reference) *mo.VmwareDistributedVirtualSwitch {
	sw, _ := o.(*mo.VmwareDistributedVirtualSwitch)
	return sw
}

// dvsNSXName reports whether a port group name is one NSX-T gives to
// port groups that may share it.
func dvsNSXName(name string) bool { return strings.HasPrefix(name, "NSX-") }

// dvsNextVersion returns the configVersion after v.
func dvsNextVersion(v string) string {
	n, _ := strconv.Atoi(v)
	return strconv.Itoa(n + 1)
}

// dvsUUID returns a switch UUID in vCenter's form,
// "50 2a 1b 3c 4d 5e 6f 70-81 92 a3 b4 c5 d6 e7 f8".
func dvsUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[0] = 0x50
	var sb strings.Builder
	for i, x := range b {
		switch {
		case i == 8:
			sb.WriteByte('-')
		case i > 0:
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", x)
	}
	return sb.String()
}

// dvsMergeSetting returns old with every field that upd sets replaced, as
// vCenter merges a port setting into the current one; when the two are of
// different types, upd replaces old.
func dvsMergeSetting(old, upd types.BaseDVPortSetting) types.BaseDVPortSetting {
	if old == nil || reflect.TypeOf(old) != reflect.TypeOf(upd) {
		return upd
	}
	out := reflect.New(reflect.TypeOf(old).Elem())
	out.Elem().Set(reflect.ValueOf(old).Elem())
	dvsOverlay(out.Elem(), reflect.ValueOf(upd).Elem())
	return out.Interface().(types.BaseDVPortSetting)
}

// dvsOverlay sets every non-nil pointer or interface field of src in dst,
// descending into embedded structs.
func dvsOverlay(dst, src reflect.Value) {
	for i := range src.NumField() {
		f := src.Field(i)
		switch {
		case src.Type().Field(i).Anonymous && f.Kind() == reflect.Struct:
			dvsOverlay(dst.Field(i), f)
		case (f.Kind() == reflect.Pointer || f.Kind() == reflect.Interface || f.Kind() == reflect.Slice) && !f.IsNil():
			dst.Field(i).Set(f)
		}
	}
}
