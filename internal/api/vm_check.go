package api

import (
	"context"
	"slices"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// The VirtualMachineCompatibilityChecker and VirtualMachineProvisioningChecker
// answer, without changing anything, whether a VM (or a configuration spec)
// fits a host and resource pool and whether a provisioning operation would
// succeed. Each method is a task whose result is an ArrayOfCheckResult with
// one CheckResult per host tested: the problems vCenter's test groups
// (CheckTestType) find are its errors (the operation or a power-on would
// fail) and warnings. Bad arguments (unknown objects, a host outside the
// pool's compute resource, entities of different datacenters) fail the task.
// vm_check_target.go resolves what is tested, vm_check_rules.go runs the
// tests. A host agent (vcsim's -esx) has neither checker.

// MoRefs of the checkers, with vCenter's values.
var (
	CompatCheckerRef = ref("VirtualMachineCompatibilityChecker", "CompatChecker")
	ProvCheckerRef   = ref("VirtualMachineProvisioningChecker", "ProvChecker")
)

// provisioningContent adds the checkers and the StorageResourceManager to a
// ServiceContent: vCenter has all three, a host agent only its own storage
// resource manager.
func provisioningContent(c types.ServiceContent, esx bool) types.ServiceContent {
	if esx {
		c.VmCompatibilityChecker, c.VmProvisioningChecker = nil, nil
		c.StorageResourceManager = refp(ESXStorageResourceManagerRef)
		return c
	}
	c.VmCompatibilityChecker = refp(CompatCheckerRef)
	c.VmProvisioningChecker = refp(ProvCheckerRef)
	c.StorageResourceManager = refp(StorageResourceManagerRef)
	return c
}

// provisioningSingletons returns the in-memory objects the content of
// provisioningContent names.
func (s *Service) provisioningSingletons() []mo.Reference {
	var out []mo.Reference
	if r := s.content.VmCompatibilityChecker; r != nil {
		out = append(out, &mo.VirtualMachineCompatibilityChecker{Self: *r})
	}
	if r := s.content.VmProvisioningChecker; r != nil {
		out = append(out, &mo.VirtualMachineProvisioningChecker{Self: *r})
	}
	if r := s.content.StorageResourceManager; r != nil {
		out = append(out, newStorageResourceManager(*r))
	}
	return out
}

func (s *Service) registerVMCheckers(t *soap.Table) {
	const compat, prov = "VirtualMachineCompatibilityChecker", "VirtualMachineProvisioningChecker"
	soap.Register(t, compat, "CheckCompatibility_Task", s.checkCompatibility)
	soap.Register(t, compat, "CheckVmConfig_Task", s.checkVMConfig)
	soap.Register(t, compat, "CheckPowerOn_Task", s.checkPowerOn)
	soap.Register(t, prov, "CheckMigrate_Task", s.checkMigrate)
	soap.Register(t, prov, "CheckRelocate_Task", s.checkRelocate)
	soap.Register(t, prov, "CheckClone_Task", s.checkClone)
	soap.Register(t, prov, "CheckInstantClone_Task", s.checkInstantClone)
}

// Task description IDs of the checks, as vCenter names them.
const (
	compatCheckID = "vm.check.CompatibilityChecker."
	provCheckID   = "vm.check.ProvisioningChecker."
)

// checkFunc builds the check a task runs, with the task's context; it reads
// the inventory as it is when the task runs.
type checkFunc func(ctx context.Context) (*vmCheck, error)

// startCheck starts a check task about entity; the task's result is the
// check's results.
func (s *Service) startCheck(ctx *soap.Context, descID string, entity types.ManagedObjectReference, testType []string, build checkFunc) (types.ManagedObjectReference, error) {
	tests, err := parseCheckTests(testType)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	spec := task.Spec{Entity: entity, DescriptionID: descID, User: ctx.UserName()}
	return s.tasks.Start(ctx, spec, func(tctx context.Context, _ *task.Task) (types.AnyType, error) {
		c, err := build(tctx)
		if err != nil {
			return nil, err
		}
		c.tests = tests
		return types.ArrayOfCheckResult{CheckResult: c.run()}, nil
	})
}

// checkTests is the set of test groups a check runs.
type checkTests map[types.CheckTestType]bool

// parseCheckTests reads a testType argument: none means every group.
func parseCheckTests(list []string) (checkTests, error) {
	all := types.CheckTestType("").Values()
	t := checkTests{}
	for _, s := range list {
		if !slices.Contains(all, types.CheckTestType(s)) {
			return nil, vim.InvalidArgument("testType", "%q is not a check test type; use %s.", s,
				strings.Join(types.CheckTestType("").Strings(), ", "))
		}
		t[types.CheckTestType(s)] = true
	}
	if len(t) == 0 {
		for _, v := range all {
			t[v] = true
		}
	}
	return t, nil
}

// checkCompatibility serves CheckCompatibility_Task: can the VM be placed
// on host (every usable host of the pool's compute resource when unset) in
// pool (the VM's own when unset)? Resource tests apply as if it ran.
func (s *Service) checkCompatibility(ctx *soap.Context, req *types.CheckCompatibility_Task) (any, error) {
	ref, err := s.startCheck(ctx, compatCheckID+"checkCompatibility", req.Vm, req.TestType, func(context.Context) (*vmCheck, error) {
		return s.placementCheck(req.Vm, req.Host, req.Pool, true, true)
	})
	if err != nil {
		return nil, err
	}
	return &types.CheckCompatibility_TaskResponse{Returnval: ref}, nil
}

// checkPowerOn serves CheckPowerOn_Task: could the VM power on on host in
// pool (the host's root pool when unset)? Either one must be given.
func (s *Service) checkPowerOn(ctx *soap.Context, req *types.CheckPowerOn_Task) (any, error) {
	ref, err := s.startCheck(ctx, compatCheckID+"checkPowerOn", req.Vm, req.TestType, func(context.Context) (*vmCheck, error) {
		pool := req.Pool
		switch {
		case req.Host == nil && pool == nil:
			return nil, vim.InvalidArgument("host", "CheckPowerOn needs the host or the resource pool to power the virtual machine on in.")
		case pool == nil:
			pool = s.rootPoolOf(*req.Host)
		}
		c, err := s.placementCheck(req.Vm, req.Host, pool, true, true)
		if err != nil {
			return nil, err
		}
		c.sourceErrs = append(c.sourceErrs, powerOnProblems(c.source)...)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return &types.CheckPowerOn_TaskResponse{Returnval: ref}, nil
}

// checkVMConfig serves CheckVmConfig_Task: could spec be applied, on host
// in pool? With vm the spec is a change to that VM (as ReconfigVM_Task
// applies it), without one the configuration of a new VM (as CreateVM_Task
// creates it). An unset pool is the host's root pool (the VM's when no host
// is given either).
func (s *Service) checkVMConfig(ctx *soap.Context, req *types.CheckVmConfig_Task) (any, error) {
	entity := firstSetRef(req.Vm, req.Host, req.Pool)
	ref, err := s.startCheck(ctx, compatCheckID+"checkVmConfig", entity, req.TestType, func(context.Context) (*vmCheck, error) {
		return s.configCheck(req.Spec, req.Vm, req.Host, req.Pool)
	})
	if err != nil {
		return nil, err
	}
	return &types.CheckVmConfig_TaskResponse{Returnval: ref}, nil
}

// checkMigrate serves CheckMigrate_Task: could MigrateVM_Task move the VM
// to host and pool (planned as RelocateVM_Task plans it), with the VM in
// state (its current one when unset)?
func (s *Service) checkMigrate(ctx *soap.Context, req *types.CheckMigrate_Task) (any, error) {
	ref, err := s.startCheck(ctx, provCheckID+"checkMigrate", req.Vm, req.TestType, func(tctx context.Context) (*vmCheck, error) {
		c, err := s.placementCheck(req.Vm, req.Host, req.Pool, req.Pool == nil, false)
		if err != nil {
			return nil, err
		}
		c.shape = s.relocationShape(tctx, c.source, types.VirtualMachineRelocateSpec{}, c.pool)
		if req.State != "" {
			c.poweredOn = req.State == types.VirtualMachinePowerStatePoweredOn
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return &types.CheckMigrate_TaskResponse{Returnval: ref}, nil
}

// checkRelocate serves CheckRelocate_Task: could RelocateVM_Task apply
// spec to the VM?
func (s *Service) checkRelocate(ctx *soap.Context, req *types.CheckRelocate_Task) (any, error) {
	ref, err := s.startCheck(ctx, provCheckID+"checkRelocate", req.Vm, req.TestType, func(tctx context.Context) (*vmCheck, error) {
		return s.relocationCheck(tctx, req.Vm, req.Spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.CheckRelocate_TaskResponse{Returnval: ref}, nil
}

// checkClone serves CheckClone_Task: could CloneVM_Task clone the VM into
// folder as name with spec?
func (s *Service) checkClone(ctx *soap.Context, req *types.CheckClone_Task) (any, error) {
	ref, err := s.startCheck(ctx, provCheckID+"checkClone", req.Vm, req.TestType, func(context.Context) (*vmCheck, error) {
		return s.cloneCheck(req.Vm, req.Folder, req.Name, req.Spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.CheckClone_TaskResponse{Returnval: ref}, nil
}

// checkInstantClone serves CheckInstantClone_Task: could InstantClone_Task
// clone the (running) VM with spec?
func (s *Service) checkInstantClone(ctx *soap.Context, req *types.CheckInstantClone_Task) (any, error) {
	ref, err := s.startCheck(ctx, provCheckID+"checkInstantClone", req.Vm, req.TestType, func(context.Context) (*vmCheck, error) {
		return s.instantCloneCheck(req.Vm, req.Spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.CheckInstantClone_TaskResponse{Returnval: ref}, nil
}

// firstSetRef returns the first set reference.
func firstSetRef(refs ...*types.ManagedObjectReference) types.ManagedObjectReference {
	for _, r := range refs {
		if r != nil {
			return *r
		}
	}
	return types.ManagedObjectReference{}
}
