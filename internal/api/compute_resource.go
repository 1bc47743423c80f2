package api

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

func (s *Service) registerComputeResource(t *soap.Table) {
	soap.Register(t, "ComputeResource", "ReconfigureComputeResource_Task", s.reconfigureComputeResource)
	soap.Register(t, "ClusterComputeResource", "ReconfigureCluster_Task", s.reconfigureCluster)
	s.registerClusterMove(t)
}

// CreateCluster creates a cluster called name in folder (a datacenter's
// host folder or one of its subfolders), with its root resource pool
// "Resources" and the configuration vCenter fills in, updated by spec; it
// posts a ClusterCreatedEvent. Faults: InvalidName, DuplicateName,
// InvalidArgument (a bad spec), NotSupported (folder cannot hold compute
// resources), ManagedObjectNotFound.
func (s *Service) CreateCluster(ctx context.Context, user string, folder types.ManagedObjectReference, name string, spec types.ClusterConfigSpecEx) (types.ManagedObjectReference, error) {
	name, err := entityName(name, "cluster")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	cfg := defaultClusterConfig()
	if err := applyClusterSpec(cfg, &spec); err != nil {
		return types.ManagedObjectReference{}, err
	}
	var (
		ref        types.ManagedObjectReference
		parentName string
	)
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		f, err := folderFor(tx, folder, "ClusterComputeResource")
		if err != nil {
			return err
		}
		if err := checkUnique(tx, f.ChildEntity, name, ref); err != nil {
			return err
		}
		parentName = f.Name
		ref = tx.NewRef("ClusterComputeResource")
		c := &mo.ClusterComputeResource{}
		initEntity(&c.ManagedEntity, ref, name, &f.Self)
		c.ConfigurationEx = cfg
		c.Configuration = legacyClusterConfig(cfg)
		c.Summary = &types.ClusterComputeResourceSummary{}
		pool := newRootPoolTxn(tx, ref)
		c.ResourcePool = &pool
		tx.Create(c, true)
		addChildTxn(tx, f.Self, ref)
		refreshComputeTxn(tx, ref)
		return nil
	})
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	dc := datacenterOf(s.reg, ref)
	s.postEvent(&types.ClusterCreatedEvent{Parent: folderArg(parentName, folder)}, user, 0, ref,
		fmt.Sprintf("Created cluster %s in %s", name, dcNameOf(dc)))
	return ref, nil
}

// newComputeResourceTxn creates the ComputeResource of a standalone host
// called name in folder, with its root pool, and links it into the folder.
func newComputeResourceTxn(tx *inventory.Txn, folder types.ManagedObjectReference, name string) types.ManagedObjectReference {
	ref := tx.NewRef("ComputeResource")
	cr := &mo.ComputeResource{}
	initEntity(&cr.ManagedEntity, ref, name, &folder)
	cr.ConfigurationEx = &types.ComputeResourceConfigInfo{VmSwapPlacement: string(types.VirtualMachineConfigInfoSwapPlacementTypeVmDirectory), SpbmEnabled: types.NewBool(true)}
	cr.Summary = &types.ComputeResourceSummary{}
	pool := newRootPoolTxn(tx, ref)
	cr.ResourcePool = &pool
	tx.Create(cr, true)
	addChildTxn(tx, folder, ref)
	return ref
}

// dcNameOf returns dc's name, or "" for nil.
func dcNameOf(dc *mo.Datacenter) string {
	if dc == nil {
		return ""
	}
	return dc.Name
}

// computeResource returns the ComputeResource part of a cluster or a
// standalone compute resource, or nil.
func computeResource(o mo.Reference) *mo.ComputeResource {
	switch c := o.(type) {
	case *mo.ComputeResource:
		return c
	case *mo.ClusterComputeResource:
		return &c.ComputeResource
	}
	return nil
}

// hostCapacity returns a host's CPU capacity in MHz and memory in bytes.
func hostCapacity(h *mo.HostSystem) (mhz int32, mem int64, cores, threads int16) {
	if h.Hardware == nil {
		return 0, 0, 0, 0
	}
	ci := h.Hardware.CpuInfo
	return int32(ci.Hz/1e6) * int32(ci.NumCpuCores), h.Hardware.MemorySize, ci.NumCpuCores, ci.NumCpuThreads
}

// hostCountsToCapacity reports whether a host contributes to its cluster's
// effective resources: connected and not in maintenance mode.
func hostCountsToCapacity(h *mo.HostSystem) bool {
	return h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected && !h.Runtime.InMaintenanceMode
}

// refreshComputeTxn recomputes what a compute resource derives from its
// hosts: its summary, its datastore and network lists (the union of its
// hosts') and its resource pools' capacity. Call it after any change to the
// hosts, their state or their mounts.
func refreshComputeTxn(tx *inventory.Txn, ref types.ManagedObjectReference) {
	obj := tx.Edit(ref)
	cr := computeResource(obj)
	if cr == nil {
		return
	}
	sum := types.ComputeResourceSummary{OverallStatus: types.ManagedEntityStatusGreen}
	var ds, nets []types.ManagedObjectReference
	vms, offVMs := int32(0), int32(0)
	for _, hr := range cr.Host {
		h, ok := tx.Get(hr).(*mo.HostSystem)
		if !ok {
			continue
		}
		mhz, mem, cores, threads := hostCapacity(h)
		sum.NumHosts++
		sum.TotalCpu += mhz
		sum.TotalMemory += mem
		sum.NumCpuCores += cores
		sum.NumCpuThreads += threads
		if hostCountsToCapacity(h) {
			sum.NumEffectiveHosts++
			sum.EffectiveCpu += mhz
			sum.EffectiveMemory += mem >> 20
		}
		for _, d := range h.Datastore {
			appendRef(&ds, d)
		}
		for _, n := range h.Network {
			appendRef(&nets, n)
		}
		for _, v := range h.Vm {
			vms++
			if vm, ok := tx.Get(v).(*mo.VirtualMachine); ok && vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				offVMs++
			}
		}
	}
	cr.Datastore, cr.Network = ds, nets
	if c, ok := obj.(*mo.ClusterComputeResource); ok {
		cs, _ := c.Summary.(*types.ClusterComputeResourceSummary)
		if cs == nil {
			cs = &types.ClusterComputeResourceSummary{}
		}
		cs.ComputeResourceSummary = sum
		cs.UsageSummary = &types.ClusterUsageSummary{
			TotalCpuCapacityMhz: sum.EffectiveCpu,
			TotalMemCapacityMB:  int32(sum.EffectiveMemory),
			TotalVmCount:        vms,
			PoweredOffVmCount:   offVMs,
		}
		c.Summary = cs
	} else {
		cr.Summary = &sum
	}
	refreshPoolsTxn(tx, cr)
}

// refreshHostsComputeTxn refreshes the compute resources of hosts.
func refreshHostsComputeTxn(tx *inventory.Txn, hosts []types.ManagedObjectReference) {
	seen := map[string]bool{}
	for _, h := range hosts {
		e := entityOf(tx, h)
		if e == nil || e.Parent == nil || seen[e.Parent.Value] {
			continue
		}
		seen[e.Parent.Value] = true
		refreshComputeTxn(tx, *e.Parent)
	}
}

func (s *Service) reconfigureComputeResource(ctx *soap.Context, req *types.ReconfigureComputeResource_Task) (any, error) {
	ref, err := s.startReconfigure(ctx, req.Spec, req.Modify)
	if err != nil {
		return nil, err
	}
	return &types.ReconfigureComputeResource_TaskResponse{Returnval: ref}, nil
}

// reconfigureCluster serves the deprecated ReconfigureCluster_Task.
func (s *Service) reconfigureCluster(ctx *soap.Context, req *types.ReconfigureCluster_Task) (any, error) {
	ref, err := s.startReconfigure(ctx, specEx(req.Spec), req.Modify)
	if err != nil {
		return nil, err
	}
	return &types.ReconfigureCluster_TaskResponse{Returnval: ref}, nil
}

func (s *Service) startReconfigure(ctx *soap.Context, spec types.BaseComputeResourceConfigSpec, modify bool) (types.ManagedObjectReference, error) {
	this, user := ctx.This, ctx.UserName()
	return s.tasks.Start(ctx, task.Spec{Entity: this, DescriptionID: this.Type + ".reconfigureEx", User: user},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			return nil, s.ReconfigureComputeResource(tctx, user, this, spec, modify, t.ChainID)
		})
}

// ReconfigureComputeResource applies spec to the configuration of a cluster
// or standalone compute resource, as ReconfigureComputeResource_Task does:
// with modify, the set fields of spec change the current configuration and
// its array specs add, edit or remove rules, groups and VM overrides; without
// it, spec replaces the configuration (unset fields take their defaults). A
// cluster's change posts a ClusterReconfiguredEvent. Faults: InvalidArgument.
func (s *Service) ReconfigureComputeResource(ctx context.Context, user string, ref types.ManagedObjectReference, spec types.BaseComputeResourceConfigSpec, modify bool, chain int32) error {
	if spec == nil {
		return vim.InvalidArgument("spec", "A configuration spec is required.")
	}
	isCluster := false
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		switch obj := tx.Get(ref).(type) {
		case *mo.ClusterComputeResource:
			isCluster = true
			cfg := defaultClusterConfig()
			if cur, ok := obj.ConfigurationEx.(*types.ClusterConfigInfoEx); ok && modify {
				cfg = vim.DeepCopy(cur)
			}
			ex, ok := spec.(*types.ClusterConfigSpecEx)
			if !ok {
				ex = &types.ClusterConfigSpecEx{ComputeResourceConfigSpec: *spec.GetComputeResourceConfigSpec()}
			}
			if err := applyClusterSpec(cfg, ex); err != nil {
				return err
			}
			c := inventory.Edit[mo.ClusterComputeResource](tx, ref)
			c.ConfigurationEx = cfg
			c.Configuration = legacyClusterConfig(cfg)
		case *mo.ComputeResource:
			if _, ok := spec.(*types.ClusterConfigSpecEx); ok {
				return vim.InvalidArgument("spec", "'%s' is the compute resource of a standalone host; pass a ComputeResourceConfigSpec, not a ClusterConfigSpecEx.", obj.Name)
			}
			cfg := &types.ComputeResourceConfigInfo{VmSwapPlacement: string(types.VirtualMachineConfigInfoSwapPlacementTypeVmDirectory), SpbmEnabled: types.NewBool(true)}
			if cur := obj.ConfigurationEx; cur != nil && modify {
				cfg = vim.DeepCopy(cur.GetComputeResourceConfigInfo())
			}
			if err := applyComputeSpec(cfg, spec.GetComputeResourceConfigSpec()); err != nil {
				return err
			}
			inventory.Edit[mo.ComputeResource](tx, ref).ConfigurationEx = cfg
		default:
			return vim.ManagedObjectNotFound(ref)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if isCluster {
		dc := datacenterOf(s.reg, ref)
		e := entityOf(s.reg, ref)
		s.postEvent(&types.ClusterReconfiguredEvent{}, user, chain, ref,
			fmt.Sprintf("Reconfigured cluster %s in datacenter %s", e.Name, dcNameOf(dc)))
	}
	return nil
}

// specEx converts the deprecated ClusterConfigSpec.
func specEx(spec types.ClusterConfigSpec) *types.ClusterConfigSpecEx {
	return &types.ClusterConfigSpecEx{
		DasConfig:       spec.DasConfig,
		DasVmConfigSpec: spec.DasVmConfigSpec,
		DrsConfig:       spec.DrsConfig,
		DrsVmConfigSpec: spec.DrsVmConfigSpec,
		RulesSpec:       spec.RulesSpec,
	}
}

// legacyClusterConfig is the deprecated configuration property, a subset of
// configurationEx.
func legacyClusterConfig(cfg *types.ClusterConfigInfoEx) types.ClusterConfigInfo {
	c := vim.DeepCopy(cfg)
	return types.ClusterConfigInfo{
		DasConfig: c.DasConfig, DasVmConfig: c.DasVmConfig,
		DrsConfig: c.DrsConfig, DrsVmConfig: c.DrsVmConfig, Rule: c.Rule,
	}
}

// defaultClusterConfig is the configuration vCenter gives a new cluster:
// DRS and vSphere HA off, with the defaults their settings take when turned on.
func defaultClusterConfig() *types.ClusterConfigInfoEx {
	f := types.NewBool(false)
	return &types.ClusterConfigInfoEx{
		ComputeResourceConfigInfo: types.ComputeResourceConfigInfo{
			VmSwapPlacement: string(types.VirtualMachineConfigInfoSwapPlacementTypeVmDirectory),
			SpbmEnabled:     types.NewBool(true),
		},
		DasConfig: types.ClusterDasConfigInfo{
			Enabled:               f,
			VmMonitoring:          string(types.ClusterDasConfigInfoVmMonitoringStateVmMonitoringDisabled),
			HostMonitoring:        string(types.ClusterDasConfigInfoServiceStateEnabled),
			VmComponentProtecting: string(types.ClusterDasConfigInfoServiceStateDisabled),
			FailoverLevel:         1,
			AdmissionControlPolicy: &types.ClusterFailoverResourcesAdmissionControlPolicy{
				CpuFailoverResourcesPercent: 50, MemoryFailoverResourcesPercent: 50,
				FailoverLevel: 1, AutoComputePercentages: types.NewBool(true),
			},
			AdmissionControlEnabled: types.NewBool(true),
			DefaultVmSettings: &types.ClusterDasVmSettings{
				RestartPriority:        string(types.ClusterDasVmSettingsRestartPriorityMedium),
				RestartPriorityTimeout: 600,
				IsolationResponse:      string(types.ClusterDasVmSettingsIsolationResponseNone),
				VmToolsMonitoringSettings: &types.ClusterVmToolsMonitoringSettings{
					Enabled: f, VmMonitoring: string(types.ClusterDasConfigInfoVmMonitoringStateVmMonitoringDisabled),
					ClusterSettings: types.NewBool(true), FailureInterval: 30, MinUpTime: 120, MaxFailures: 3, MaxFailureWindow: -1,
				},
				VmComponentProtectionSettings: &types.ClusterVmComponentProtectionSettings{
					VmStorageProtectionForAPD: "disabled", EnableAPDTimeoutForHosts: types.NewBool(true),
					VmTerminateDelayForAPDSec: 180, VmReactionOnAPDCleared: "none", VmStorageProtectionForPDL: "disabled",
				},
			},
			HBDatastoreCandidatePolicy: string(types.ClusterDasConfigInfoHBDatastoreCandidateAllFeasibleDsWithUserPreference),
		},
		DrsConfig: types.ClusterDrsConfigInfo{
			Enabled:                   f,
			EnableVmBehaviorOverrides: types.NewBool(true),
			DefaultVmBehavior:         types.DrsBehaviorFullyAutomated,
			VmotionRate:               3,
			ScaleDescendantsShares:    "disabled",
		},
		DpmConfigInfo: &types.ClusterDpmConfigInfo{
			Enabled: f, DefaultDpmBehavior: types.DpmBehaviorAutomated, HostPowerActionRate: 3,
		},
		InfraUpdateHaConfig: &types.ClusterInfraUpdateHaConfigInfo{
			Enabled: f, Behavior: "Manual", ModerateRemediation: "QuarantineMode", SevereRemediation: "QuarantineMode",
		},
		ProactiveDrsConfig: &types.ClusterProactiveDrsConfigInfo{Enabled: f},
		CryptoConfig:       &types.ClusterCryptoConfigInfo{CryptoMode: "onDemand"},
	}
}

// applyComputeSpec applies the set fields of spec to cfg.
func applyComputeSpec(cfg *types.ComputeResourceConfigInfo, spec *types.ComputeResourceConfigSpec) error {
	if spec == nil {
		return nil
	}
	switch spec.VmSwapPlacement {
	case "", string(types.VirtualMachineConfigInfoSwapPlacementTypeVmDirectory), string(types.VirtualMachineConfigInfoSwapPlacementTypeHostLocal):
	default:
		return vim.InvalidArgument("spec.vmSwapPlacement", "vmSwapPlacement must be vmDirectory or hostLocal, not %q.", spec.VmSwapPlacement)
	}
	mergeSet(cfg, &types.ComputeResourceConfigInfo{
		VmSwapPlacement:           spec.VmSwapPlacement,
		SpbmEnabled:               spec.SpbmEnabled,
		DefaultHardwareVersionKey: spec.DefaultHardwareVersionKey,
		MaximumHardwareVersionKey: spec.MaximumHardwareVersionKey,
	})
	return nil
}

// applyClusterSpec applies spec to cfg as an incremental change.
func applyClusterSpec(cfg *types.ClusterConfigInfoEx, spec *types.ClusterConfigSpecEx) error {
	if err := validateClusterSpec(spec); err != nil {
		return err
	}
	if err := applyComputeSpec(&cfg.ComputeResourceConfigInfo, &spec.ComputeResourceConfigSpec); err != nil {
		return err
	}
	mergeSet(&cfg.DasConfig, spec.DasConfig)
	mergeSet(&cfg.DrsConfig, spec.DrsConfig)
	mergeInto(&cfg.DpmConfigInfo, spec.DpmConfig)
	mergeInto(&cfg.Orchestration, spec.Orchestration)
	mergeInto(&cfg.VsanConfigInfo, spec.VsanConfig)
	mergeInto(&cfg.InfraUpdateHaConfig, spec.InfraUpdateHaConfig)
	mergeInto(&cfg.ProactiveDrsConfig, spec.ProactiveDrsConfig)
	mergeInto(&cfg.CryptoConfig, spec.CryptoConfig)
	var err error
	if cfg.Group, err = updateGroups(cfg.Group, spec.GroupSpec); err != nil {
		return err
	}
	if cfg.Rule, err = updateRules(cfg.Rule, spec.RulesSpec, cfg.Group); err != nil {
		return err
	}
	if cfg.DrsVmConfig, err = updateVMOverrides(cfg.DrsVmConfig, spec.DrsVmConfigSpec, "drsVmConfigSpec",
		func(s types.ClusterDrsVmConfigSpec) (types.ArrayUpdateSpec, *types.ClusterDrsVmConfigInfo) {
			return s.ArrayUpdateSpec, s.Info
		},
		func(i types.ClusterDrsVmConfigInfo) types.ManagedObjectReference { return i.Key }); err != nil {
		return err
	}
	if cfg.DasVmConfig, err = updateVMOverrides(cfg.DasVmConfig, spec.DasVmConfigSpec, "dasVmConfigSpec",
		func(s types.ClusterDasVmConfigSpec) (types.ArrayUpdateSpec, *types.ClusterDasVmConfigInfo) {
			return s.ArrayUpdateSpec, s.Info
		},
		func(i types.ClusterDasVmConfigInfo) types.ManagedObjectReference { return i.Key }); err != nil {
		return err
	}
	if cfg.VmOrchestration, err = updateVMOverrides(cfg.VmOrchestration, spec.VmOrchestrationSpec, "vmOrchestrationSpec",
		func(s types.ClusterVmOrchestrationSpec) (types.ArrayUpdateSpec, *types.ClusterVmOrchestrationInfo) {
			return s.ArrayUpdateSpec, s.Info
		},
		func(i types.ClusterVmOrchestrationInfo) types.ManagedObjectReference { return i.Vm }); err != nil {
		return err
	}
	cfg.DpmHostConfig, err = updateVMOverrides(cfg.DpmHostConfig, spec.DpmHostConfigSpec, "dpmHostConfigSpec",
		func(s types.ClusterDpmHostConfigSpec) (types.ArrayUpdateSpec, *types.ClusterDpmHostConfigInfo) {
			return s.ArrayUpdateSpec, s.Info
		},
		func(i types.ClusterDpmHostConfigInfo) types.ManagedObjectReference { return i.Key })
	return err
}

// mergeInto merges src into *dst, creating *dst when it is nil.
func mergeInto[T any](dst **T, src *T) {
	if src == nil {
		return
	}
	if *dst == nil {
		*dst = vim.DeepCopy(src)
		return
	}
	mergeSet(*dst, src)
}

func validateClusterSpec(spec *types.ClusterConfigSpecEx) error {
	if d := spec.DrsConfig; d != nil {
		switch d.DefaultVmBehavior {
		case "", types.DrsBehaviorManual, types.DrsBehaviorPartiallyAutomated, types.DrsBehaviorFullyAutomated:
		default:
			return vim.InvalidArgument("spec.drsConfig.defaultVmBehavior",
				"defaultVmBehavior must be manual, partiallyAutomated or fullyAutomated, not %q.", d.DefaultVmBehavior)
		}
		if d.VmotionRate < 0 || d.VmotionRate > 5 {
			return vim.InvalidArgument("spec.drsConfig.vmotionRate", "vmotionRate (the migration threshold) must be between 1 and 5, not %d.", d.VmotionRate)
		}
	}
	if d := spec.DasConfig; d != nil && d.FailoverLevel < 0 {
		return vim.InvalidArgument("spec.dasConfig.failoverLevel", "failoverLevel must not be negative.")
	}
	return nil
}

// arrayIndex finds the element an ArrayUpdateSpec names and checks the
// operation against it: add needs no such element, edit and remove need one.
func arrayIndex(op types.ArrayUpdateOperation, idx int, prop, what string) error {
	switch op {
	case types.ArrayUpdateOperationAdd:
		if idx >= 0 {
			return vim.InvalidArgument(prop, "The cluster already has a %s; edit it instead of adding it.", what)
		}
	case types.ArrayUpdateOperationEdit, types.ArrayUpdateOperationRemove:
		if idx < 0 {
			return vim.InvalidArgument(prop, "The cluster has no %s.", what)
		}
	default:
		return vim.InvalidArgument(prop+".operation", "operation must be add, edit or remove, not %q.", op)
	}
	return nil
}

// applyArrayOp applies an add, edit or remove that arrayIndex accepted:
// add appends item, edit puts it at idx, remove deletes the element at idx.
func applyArrayOp[T any](items []T, op types.ArrayUpdateOperation, idx int, item T) []T {
	switch op {
	case types.ArrayUpdateOperationAdd:
		return append(items, item)
	case types.ArrayUpdateOperationEdit:
		items[idx] = item
	case types.ArrayUpdateOperationRemove:
		return slices.Delete(items, idx, idx+1)
	}
	return items
}

// updateRules applies rule specs: add assigns the new rule its key and UUID
// (names are unique), edit replaces the rule with info.key (or name),
// remove deletes the rule whose key is removeKey.
func updateRules(rules []types.BaseClusterRuleInfo, specs []types.ClusterRuleSpec, groups []types.BaseClusterGroupInfo) ([]types.BaseClusterRuleInfo, error) {
	rules = slices.Clone(rules)
	for _, sp := range specs {
		idx, what := -1, "such rule"
		if sp.Operation == types.ArrayUpdateOperationRemove {
			key := removeKeyInt(sp.RemoveKey)
			what = fmt.Sprintf("rule with key %d", key)
			idx = slices.IndexFunc(rules, func(r types.BaseClusterRuleInfo) bool { return int64(r.GetClusterRuleInfo().Key) == key })
		} else {
			if sp.Info == nil {
				return nil, vim.InvalidArgument("spec.rulesSpec.info", "A rule spec to %s needs info.", sp.Operation)
			}
			in := sp.Info.GetClusterRuleInfo()
			what = fmt.Sprintf("rule named '%s'", in.Name)
			idx = slices.IndexFunc(rules, func(r types.BaseClusterRuleInfo) bool {
				ri := r.GetClusterRuleInfo()
				if sp.Operation == types.ArrayUpdateOperationEdit && in.Key != 0 {
					return ri.Key == in.Key
				}
				return ri.Name == in.Name
			})
			if err := checkRuleGroups(sp.Info, groups); err != nil {
				return nil, err
			}
		}
		if err := arrayIndex(sp.Operation, idx, "spec.rulesSpec", what); err != nil {
			return nil, err
		}
		switch sp.Operation {
		case types.ArrayUpdateOperationAdd:
			info := vim.DeepCopy(sp.Info)
			ri := info.GetClusterRuleInfo()
			ri.Key = nextRuleKey(rules)
			ri.RuleUuid = uuid.NewString()
			if ri.UserCreated == nil {
				ri.UserCreated = types.NewBool(true)
			}
			if ri.Status == "" {
				ri.Status = types.ManagedEntityStatusGreen
			}
			rules = append(rules, info)
		case types.ArrayUpdateOperationEdit:
			info := vim.DeepCopy(sp.Info)
			old := rules[idx].GetClusterRuleInfo()
			ri := info.GetClusterRuleInfo()
			ri.Key, ri.RuleUuid = old.Key, old.RuleUuid
			rules[idx] = info
		case types.ArrayUpdateOperationRemove:
			rules = slices.Delete(rules, idx, idx+1)
		}
	}
	return rules, nil
}

// checkRuleGroups checks that a VM-host rule names existing groups.
func checkRuleGroups(info types.BaseClusterRuleInfo, groups []types.BaseClusterGroupInfo) error {
	r, ok := info.(*types.ClusterVmHostRuleInfo)
	if !ok {
		return nil
	}
	for _, g := range []string{r.VmGroupName, r.AffineHostGroupName, r.AntiAffineHostGroupName} {
		if g == "" {
			continue
		}
		if !slices.ContainsFunc(groups, func(x types.BaseClusterGroupInfo) bool { return x.GetClusterGroupInfo().Name == g }) {
			return vim.InvalidArgument("spec.rulesSpec.info", "The rule '%s' names the group '%s', which the cluster does not have; create the group first.", r.Name, g)
		}
	}
	return nil
}

func nextRuleKey(rules []types.BaseClusterRuleInfo) int32 {
	var m int32
	for _, r := range rules {
		m = max(m, r.GetClusterRuleInfo().Key)
	}
	return m + 1
}

// removeKeyInt converts an xsd integer removeKey (0 for anything else).
func removeKeyInt(v any) int64 {
	switch k := v.(type) {
	case int32:
		return int64(k)
	case int64:
		return k
	case int:
		return int64(k)
	case int16:
		return int64(k)
	case int8:
		return int64(k)
	}
	return 0
}

// updateGroups applies group specs; groups are keyed by name.
func updateGroups(groups []types.BaseClusterGroupInfo, specs []types.ClusterGroupSpec) ([]types.BaseClusterGroupInfo, error) {
	groups = slices.Clone(groups)
	for _, sp := range specs {
		var name string
		if sp.Operation == types.ArrayUpdateOperationRemove {
			name, _ = sp.RemoveKey.(string)
		} else if sp.Info != nil {
			name = sp.Info.GetClusterGroupInfo().Name
		} else {
			return nil, vim.InvalidArgument("spec.groupSpec.info", "A group spec to %s needs info.", sp.Operation)
		}
		idx := slices.IndexFunc(groups, func(g types.BaseClusterGroupInfo) bool { return g.GetClusterGroupInfo().Name == name })
		if err := arrayIndex(sp.Operation, idx, "spec.groupSpec", fmt.Sprintf("group named '%s'", name)); err != nil {
			return nil, err
		}
		groups = applyArrayOp(groups, sp.Operation, idx, vim.DeepCopy(sp.Info))
	}
	return groups, nil
}

// updateVMOverrides applies array specs keyed by a VM (or host) reference:
// add appends info, edit merges info's set fields, remove deletes the entry
// whose key is removeKey.
func updateVMOverrides[S, I any](list []I, specs []S, prop string,
	parts func(S) (types.ArrayUpdateSpec, *I), key func(I) types.ManagedObjectReference) ([]I, error) {
	list = slices.Clone(list)
	for _, sp := range specs {
		op, info := parts(sp)
		var k types.ManagedObjectReference
		switch {
		case op.Operation == types.ArrayUpdateOperationRemove:
			k = removeKeyRef(op.RemoveKey)
		case info != nil:
			k = key(*info)
		default:
			return nil, vim.InvalidArgument("spec."+prop+".info", "A spec to %s needs info.", op.Operation)
		}
		idx := slices.IndexFunc(list, func(i I) bool { return key(i).Value == k.Value })
		if err := arrayIndex(op.Operation, idx, "spec."+prop, "setting for "+k.Value); err != nil {
			return nil, err
		}
		switch op.Operation {
		case types.ArrayUpdateOperationAdd:
			list = append(list, *vim.DeepCopy(info))
		case types.ArrayUpdateOperationEdit:
			mergeSet(&list[idx], info)
		case types.ArrayUpdateOperationRemove:
			list = slices.Delete(list, idx, idx+1)
		}
	}
	return list, nil
}

// removeKeyRef converts a MoRef removeKey (zero for anything else).
func removeKeyRef(v any) types.ManagedObjectReference {
	switch k := v.(type) {
	case types.ManagedObjectReference:
		return k
	case *types.ManagedObjectReference:
		if k != nil {
			return *k
		}
	}
	return types.ManagedObjectReference{}
}
