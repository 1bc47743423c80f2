package api_test

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestCreateClusterDefaults(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	cc, err := f.folder(dc.HostFolder).CreateCluster(f.ctx, "C1", types.ClusterConfigSpecEx{
		DrsConfig: &types.ClusterDrsConfigInfo{Enabled: types.NewBool(true)},
	})
	mustOK(t, err)
	if !strings.HasPrefix(cc.Reference().Value, "domain-c") {
		t.Errorf("cluster MoRef %s, want domain-cN", cc.Reference().Value)
	}
	var c mo.ClusterComputeResource
	f.props(cc.Reference(), &c)
	cfg, ok := c.ConfigurationEx.(*types.ClusterConfigInfoEx)
	if !ok {
		t.Fatalf("configurationEx is %T", c.ConfigurationEx)
	}
	if !*cfg.DrsConfig.Enabled || cfg.DrsConfig.DefaultVmBehavior != types.DrsBehaviorFullyAutomated || cfg.DrsConfig.VmotionRate != 3 {
		t.Errorf("drsConfig %+v: want enabled, fullyAutomated, rate 3", cfg.DrsConfig)
	}
	if *cfg.DasConfig.Enabled || cfg.DasConfig.HostMonitoring != "enabled" || cfg.DasConfig.DefaultVmSettings == nil ||
		cfg.DasConfig.DefaultVmSettings.RestartPriority != "medium" || cfg.VmSwapPlacement != "vmDirectory" {
		t.Errorf("dasConfig defaults missing: %+v", cfg.DasConfig)
	}
	if c.Configuration.DrsConfig.Enabled == nil || !*c.Configuration.DrsConfig.Enabled {
		t.Errorf("legacy configuration.drsConfig not kept in step: %+v", c.Configuration.DrsConfig)
	}
	sum, ok := c.Summary.(*types.ClusterComputeResourceSummary)
	if !ok || sum.NumHosts != 0 || sum.OverallStatus != types.ManagedEntityStatusGreen {
		t.Errorf("summary %#v", c.Summary)
	}
	var pool mo.ResourcePool
	f.props(*c.ResourcePool, &pool)
	if pool.Name != "Resources" || pool.Owner.Value != c.Self.Value || pool.Parent.Value != c.Self.Value ||
		!strings.HasPrefix(pool.Self.Value, "resgroup-") {
		t.Errorf("root pool %s %q owner %s parent %v", pool.Self.Value, pool.Name, pool.Owner.Value, pool.Parent)
	}
	_, err = f.folder(dc.HostFolder).CreateCluster(f.ctx, "C2", types.ClusterConfigSpecEx{
		DrsConfig: &types.ClusterDrsConfigInfo{VmotionRate: 9},
	})
	wantFault(t, err, &types.InvalidArgument{})
}

func TestReconfigureCluster(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	c := object.NewClusterComputeResource(f.c, f.cluster(dc, "C1"))
	config := func() *types.ClusterConfigInfoEx {
		cfg, err := c.Configuration(f.ctx)
		mustOK(t, err)
		return cfg
	}
	on, off := types.NewBool(true), types.NewBool(false)

	// govc cluster.change -drs-enabled -ha-enabled -ha-admission-control-enabled=false
	mustOK(t, f.wait(c.Reconfigure(f.ctx, &types.ClusterConfigSpecEx{
		DrsConfig: &types.ClusterDrsConfigInfo{Enabled: on},
		DasConfig: &types.ClusterDasConfigInfo{Enabled: on, AdmissionControlEnabled: off},
	}, true)))
	cfg := config()
	if !*cfg.DrsConfig.Enabled || !*cfg.DasConfig.Enabled || *cfg.DasConfig.AdmissionControlEnabled || cfg.DasConfig.HostMonitoring != "enabled" {
		t.Fatalf("after modify: drs %+v das %+v", cfg.DrsConfig, cfg.DasConfig)
	}

	// modify=true changes only what is set.
	mustOK(t, f.wait(c.Reconfigure(f.ctx, &types.ClusterConfigSpecEx{
		DrsConfig: &types.ClusterDrsConfigInfo{DefaultVmBehavior: types.DrsBehaviorManual},
	}, true)))
	if cfg = config(); !*cfg.DrsConfig.Enabled || cfg.DrsConfig.DefaultVmBehavior != types.DrsBehaviorManual {
		t.Fatalf("incremental change lost settings: %+v", cfg.DrsConfig)
	}

	// Rules and groups.
	mustOK(t, f.wait(c.Reconfigure(f.ctx, &types.ClusterConfigSpecEx{
		GroupSpec: []types.ClusterGroupSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info:            &types.ClusterHostGroup{ClusterGroupInfo: types.ClusterGroupInfo{Name: "hosts"}},
		}, {
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info:            &types.ClusterVmGroup{ClusterGroupInfo: types.ClusterGroupInfo{Name: "vms"}},
		}},
		RulesSpec: []types.ClusterRuleSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info: &types.ClusterVmHostRuleInfo{ClusterRuleInfo: types.ClusterRuleInfo{Name: "pin", Enabled: on},
				VmGroupName: "vms", AffineHostGroupName: "hosts"},
		}},
	}, true)))
	cfg = config()
	if len(cfg.Group) != 2 || len(cfg.Rule) != 1 {
		t.Fatalf("groups %d rules %d, want 2 and 1", len(cfg.Group), len(cfg.Rule))
	}
	rule := cfg.Rule[0].GetClusterRuleInfo()
	if rule.Key == 0 || rule.RuleUuid == "" || rule.Name != "pin" {
		t.Errorf("added rule %+v: want a key and a UUID", rule)
	}

	tests := []struct {
		name string
		spec types.ClusterConfigSpecEx
	}{
		{"duplicate rule", types.ClusterConfigSpecEx{RulesSpec: []types.ClusterRuleSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info:            &types.ClusterAntiAffinityRuleSpec{ClusterRuleInfo: types.ClusterRuleInfo{Name: "pin"}},
		}}}},
		{"rule with unknown group", types.ClusterConfigSpecEx{RulesSpec: []types.ClusterRuleSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info: &types.ClusterVmHostRuleInfo{ClusterRuleInfo: types.ClusterRuleInfo{Name: "other"},
				VmGroupName: "nope", AffineHostGroupName: "hosts"},
		}}}},
		{"remove missing rule", types.ClusterConfigSpecEx{RulesSpec: []types.ClusterRuleSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationRemove, RemoveKey: int32(999)},
		}}}},
		{"bad DRS behavior", types.ClusterConfigSpecEx{DrsConfig: &types.ClusterDrsConfigInfo{DefaultVmBehavior: "sometimes"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantFault(t, f.wait(c.Reconfigure(f.ctx, &tc.spec, true)), &types.InvalidArgument{})
		})
	}

	mustOK(t, f.wait(c.Reconfigure(f.ctx, &types.ClusterConfigSpecEx{RulesSpec: []types.ClusterRuleSpec{{
		ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationRemove, RemoveKey: rule.Key},
	}}}, true)))
	if cfg = config(); len(cfg.Rule) != 0 {
		t.Errorf("rule not removed: %d left", len(cfg.Rule))
	}

	// modify=false replaces the configuration: unset settings take defaults.
	mustOK(t, f.wait(c.Reconfigure(f.ctx, &types.ClusterConfigSpecEx{
		DasConfig: &types.ClusterDasConfigInfo{Enabled: on},
	}, false)))
	if cfg = config(); *cfg.DrsConfig.Enabled || !*cfg.DasConfig.Enabled || len(cfg.Group) != 0 {
		t.Errorf("replace kept old settings: drs %+v das.enabled %v groups %d", cfg.DrsConfig, *cfg.DasConfig.Enabled, len(cfg.Group))
	}
}

func TestMoveHostsIntoCluster(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	c0, c1 := f.cluster(dc, "C0"), f.cluster(dc, "C1")
	h0 := f.host(c0, "esx-00")
	standalone := f.host(dc.HostFolder, "esx-09")
	var sh mo.HostSystem
	f.props(standalone, &sh, "parent")
	var c mo.ClusterComputeResource
	f.props(c0, &c)
	vm := f.addVM("vm1", dc, h0, *c.ResourcePool, c.Datastore[0], c.Network[0], types.VirtualMachinePowerStatePoweredOff)
	target := object.NewClusterComputeResource(f.c, c1)
	move := func(h types.ManagedObjectReference) error {
		return f.wait(target.MoveInto(f.ctx, object.NewHostSystem(f.c, h)))
	}

	wantFault(t, move(h0), &types.InvalidState{})
	mustOK(t, f.wait(object.NewHostSystem(f.c, h0).EnterMaintenanceMode(f.ctx, 0, false, nil)))
	mustOK(t, move(h0))
	mustOK(t, move(standalone))
	wantFault(t, move(h0), &types.DuplicateName{})

	var to, from mo.ClusterComputeResource
	f.props(c1, &to)
	f.props(c0, &from)
	if !sameRefs(to.Host, []types.ManagedObjectReference{h0, standalone}) || len(from.Host) != 0 ||
		to.Summary.GetComputeResourceSummary().NumHosts != 2 || from.Summary.GetComputeResourceSummary().NumHosts != 0 {
		t.Errorf("C1 hosts %v, C0 hosts %v", refValues(to.Host), refValues(from.Host))
	}
	if f.exists(*sh.Parent) {
		t.Errorf("the standalone host's compute resource %s survived", sh.Parent.Value)
	}
	var v mo.VirtualMachine
	f.props(vm, &v, "resourcePool")
	if v.ResourcePool.Value != to.ResourcePool.Value {
		t.Errorf("VM pool %s, want C1's root pool %s", v.ResourcePool.Value, to.ResourcePool.Value)
	}
}
