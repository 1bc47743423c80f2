package api

import (
	"context"
	"path"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/vim"
)

// This file resolves what a check tests: the VM (existing, or as a spec
// would make it), the resource pool and the hosts, following the rules of
// the checkers' parameters: an unset pool is the VM's own (or the host's
// root pool), an unset host is the VM's own when it keeps its pool, else
// the standalone host of the pool's compute resource or every connected
// host of its cluster that is not in maintenance mode.

// placementCheck prepares the test of the existing VM vmRef on host in
// pool. sameDC requires the VM and the pool in one datacenter; running says
// whether the VM would run there (resource tests apply).
func (s *Service) placementCheck(vmRef types.ManagedObjectReference, host, pool *types.ManagedObjectReference, sameDC, running bool) (*vmCheck, error) {
	vm, err := s.checkedVM(vmRef)
	if err != nil {
		return nil, err
	}
	p, hosts, err := s.resolveTarget(target{vm: vm, host: host, pool: pool, sameDC: sameDC, strict: true})
	if err != nil {
		return nil, err
	}
	return &vmCheck{s: s, vmRef: &vm.Self, source: vm, pool: p, hosts: hosts,
		poweredOn: running || vmPoweredOn(vm), sourceErrs: vmSourceProblems(vm)}, nil
}

// configCheck prepares the test of spec: a change to vmRef, or a new VM.
func (s *Service) configCheck(spec types.VirtualMachineConfigSpec, vmRef, host, pool *types.ManagedObjectReference) (*vmCheck, error) {
	var vm *mo.VirtualMachine
	if vmRef != nil {
		var err error
		if vm, err = s.checkedVM(*vmRef); err != nil {
			return nil, err
		}
	}
	if vm == nil && host == nil && pool == nil {
		return nil, vim.InvalidArgument("pool", "CheckVmConfig needs a virtual machine, a host or a resource pool to test the spec against.")
	}
	if pool == nil && host != nil {
		pool = s.rootPoolOf(*host)
	}
	p, hosts, err := s.resolveTarget(target{vm: vm, host: host, pool: pool, sameDC: true, strict: true})
	if err != nil {
		return nil, err
	}
	c := &vmCheck{s: s, vmRef: vmRef, source: vm, pool: p, hosts: hosts, poweredOn: true}
	if vm != nil {
		c.fallback = hardwareOf(vm)
		c.sourceErrs = vmSourceProblems(vm)
	}
	c.fallback = c.fallback.with(&spec)
	c.shape = func(h *mo.HostSystem) (*mo.VirtualMachine, error) { return s.trialConfig(spec, vm, p, h) }
	return c, nil
}

// relocationCheck prepares the test of relocating vmRef with spec: on each
// host tested, RelocateVM_Task's own planning must succeed, and the VM as
// planned is tested.
func (s *Service) relocationCheck(ctx context.Context, vmRef types.ManagedObjectReference, spec types.VirtualMachineRelocateSpec) (*vmCheck, error) {
	vm, err := s.checkedVM(vmRef)
	if err != nil {
		return nil, err
	}
	host := spec.Host
	if host == nil && spec.Pool == nil {
		host = vm.Runtime.Host // it stays where it is
	}
	c, err := s.locationCheck(vm, spec, host, "spec")
	if err != nil {
		return nil, err
	}
	c.poweredOn = vmPoweredOn(vm)
	c.datastores = nil // the planned VM's
	c.shape = s.relocationShape(ctx, vm, spec, c.pool)
	return c, nil
}

// relocationShape returns the shape of vm relocated with spec to pool and
// the host tested, as RelocateVM_Task plans it; the plan's faults, and
// those of a move the hosts cannot make live, are the shape's error.
func (s *Service) relocationShape(ctx context.Context, vm *mo.VirtualMachine, spec types.VirtualMachineRelocateSpec, pool *mo.ResourcePool) func(*mo.HostSystem) (*mo.VirtualMachine, error) {
	return func(h *mo.HostSystem) (*mo.VirtualMachine, error) {
		sp := vim.DeepCopy(spec)
		sp.Host, sp.Pool = refp(h.Self), refp(pool.Self)
		r, err := s.planRelocation(ctx, vm, &sp)
		if err != nil {
			return nil, err
		}
		return r.next, checkLiveMove(r)
	}
}

// cloneCheck prepares the test of cloning vmRef into folder as name: on
// each host tested, CloneVM_Task's own checks of the target must pass, and
// the clone as it would be is tested.
func (s *Service) cloneCheck(vmRef, folder types.ManagedObjectReference, name string, spec types.VirtualMachineCloneSpec) (*vmCheck, error) {
	vm, err := s.checkedVM(vmRef)
	if err != nil {
		return nil, err
	}
	if _, err := folderFor(s.reg, folder, "VirtualMachine"); err != nil {
		return nil, err
	}
	if spec.Snapshot != nil && !vmHasSnapshot(vm, *spec.Snapshot) {
		return nil, vim.ManagedObjectNotFound(*spec.Snapshot)
	}
	loc := spec.Location
	if loc.Pool == nil && loc.Host == nil && vm.Config.Template {
		return nil, vim.InvalidArgument("spec.location.pool", "Cloning the template %s needs a resource pool (or host) for the new virtual machine in spec.location.", vm.Name)
	}
	c, err := s.locationCheck(vm, loc, loc.Host, "spec.location")
	if err != nil {
		return nil, err
	}
	c.poweredOn = spec.PowerOn && !spec.Template
	// The clone starts as a powered-off virtual machine with the source's
	// configuration, to which spec.config applies.
	clone := vim.DeepCopy(vm)
	clone.Config.Template = false
	clone.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
	c.shape = func(h *mo.HostSystem) (*mo.VirtualMachine, error) {
		sp := vim.DeepCopy(spec)
		sp.Location.Host = refp(h.Self)
		if sp.Location.Pool == nil {
			sp.Location.Pool = refp(c.pool.Self)
		}
		if err := checkCloneSpec(vm, &sp); err != nil {
			return nil, err
		}
		if _, err := s.cloneTargetOf(vm, folder, name, &sp); err != nil { // CloneVM_Task's checks
			return nil, err
		}
		if spec.Config == nil {
			return clone, nil
		}
		return s.trialConfig(*spec.Config, clone, c.pool, h)
	}
	return c, nil
}

// instantCloneCheck prepares the test of instant cloning vmRef: the source
// must run, and the clone runs where spec.location puts it (by default next
// to the source).
func (s *Service) instantCloneCheck(vmRef types.ManagedObjectReference, spec types.VirtualMachineInstantCloneSpec) (*vmCheck, error) {
	vm, err := s.checkedVM(vmRef)
	if err != nil {
		return nil, err
	}
	loc := spec.Location
	host := loc.Host
	if host == nil && loc.Pool == nil {
		host = vm.Runtime.Host
	}
	c, err := s.locationCheck(vm, loc, host, "spec.location")
	if err != nil {
		return nil, err
	}
	if !vmPoweredOn(vm) {
		c.sourceErrs = append(c.sourceErrs, vim.NewFault(&types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: vm.Runtime.PowerState},
			"Only a powered-on virtual machine can be instant cloned; %s is %s. Power it on first.", vm.Name, vm.Runtime.PowerState))
	}
	folder := firstSetRef(loc.Folder, vm.Parent)
	c.sourceErrs = append(c.sourceErrs, s.newNameProblems(folder, spec.Name)...)
	c.poweredOn = true
	return c, nil
}

// locationCheck resolves a relocate spec's pool, hosts (host, possibly
// defaulted by the caller) and datastores for the existing vm.
func (s *Service) locationCheck(vm *mo.VirtualMachine, loc types.VirtualMachineRelocateSpec, host *types.ManagedObjectReference, prop string) (*vmCheck, error) {
	p, hosts, err := s.resolveTarget(target{vm: vm, host: host, pool: loc.Pool, strict: true, prefix: prop + "."})
	if err != nil {
		return nil, err
	}
	dss, err := s.locationDatastores(vm, loc, prop)
	if err != nil {
		return nil, err
	}
	return &vmCheck{s: s, vmRef: &vm.Self, source: vm, pool: p, hosts: hosts, datastores: dss,
		sourceErrs: vmSourceProblems(vm)}, nil
}

// locationDatastores lists the datastores vm's files would be on after a
// relocation to loc: loc's datastore (else the VM's current ones) and those
// of its disk locators.
func (s *Service) locationDatastores(vm *mo.VirtualMachine, loc types.VirtualMachineRelocateSpec, prop string) ([]types.ManagedObjectReference, error) {
	var out []types.ManagedObjectReference
	if loc.Datastore != nil {
		if _, err := lookupAs[mo.Datastore](s.reg, *loc.Datastore, "Datastore"); err != nil {
			return nil, err
		}
		out = append(out, *loc.Datastore)
	} else {
		out = append(out, vm.Datastore...)
	}
	for i, d := range loc.Disk {
		if _, err := lookupAs[mo.Datastore](s.reg, d.Datastore, "Datastore"); err != nil {
			return nil, err
		}
		if !vmHasDiskKey(vm, d.DiskId) {
			return nil, vim.InvalidArgument(prop+".disk", "The virtual machine %s has no disk with key %d (disk locator %d).", vm.Name, d.DiskId, i)
		}
		appendRef(&out, d.Datastore)
	}
	return out, nil
}

// checkedVM returns the VM vmRef; an unknown VM is an InvalidArgument, as
// the checkers report it.
func (s *Service) checkedVM(vmRef types.ManagedObjectReference) (*mo.VirtualMachine, error) {
	vm, ok := s.reg.Get(vmRef).(*mo.VirtualMachine)
	if !ok {
		return nil, vim.InvalidArgument("vm", "There is no virtual machine %s; it may have been deleted.", vmRef.Value)
	}
	if vm.Config == nil || vm.Runtime.Host == nil {
		return nil, vim.InvalidState("The virtual machine %s has no configuration or host yet; try again once it is created.", vm.Name)
	}
	return vm, nil
}

// target says where a check (or a storage placement) looks.
type target struct {
	vm         *mo.VirtualMachine // the existing VM, or nil
	host, pool *types.ManagedObjectReference
	// sameDC requires the VM in the pool's datacenter.
	sameDC bool
	// strict applies the checkers' rule that an unset host needs a
	// standalone host or a DRS cluster; otherwise every usable host counts.
	strict bool
	// prefix prefixes parameter names in faults ("spec.").
	prefix string
}

// resolveTarget resolves the pool and the hosts t names: its pool (else
// the VM's, else the host's root pool) and its host (else, when the VM
// keeps its pool, its own host; else the standalone host or every usable
// host of the pool's compute resource). The host must belong to the pool's
// compute resource, and host, pool (and, with sameDC, the VM) to one
// datacenter.
func (s *Service) resolveTarget(t target) (*mo.ResourcePool, []*mo.HostSystem, error) {
	var host *mo.HostSystem
	if t.host != nil {
		h, err := lookupAs[mo.HostSystem](s.reg, *t.host, "HostSystem")
		if err != nil {
			return nil, nil, err
		}
		host = h
	}
	pool, err := s.checkPool(t.vm, host, t.pool, t.prefix)
	if err != nil {
		return nil, nil, err
	}
	crObj := s.reg.Get(pool.Owner)
	cr := computeResource(crObj)
	if cr == nil {
		return nil, nil, vim.InvalidArgument(t.prefix+"pool", "The resource pool %s belongs to no cluster or host.", pool.Name)
	}
	var others []types.ManagedObjectReference
	if host != nil {
		others = append(others, host.Self)
	}
	if t.vm != nil && t.sameDC {
		others = append(others, t.vm.Self)
	}
	if err := s.sameDatacenter(pool.Self, others...); err != nil {
		return nil, nil, err
	}
	if host != nil {
		if !containsRef(cr.Host, host.Self) {
			return nil, nil, vim.InvalidArgument(t.prefix+"pool", "The host %s is not part of %s, the compute resource of the resource pool %s; choose a host and a pool of the same cluster.",
				host.Name, cr.Name, pool.Name)
		}
		return pool, []*mo.HostSystem{host}, nil
	}
	if t.pool == nil && t.vm != nil {
		// The VM stays in its pool, on its host.
		if h := inventory.Get[mo.HostSystem](s.reg, *t.vm.Runtime.Host); h != nil && containsRef(cr.Host, h.Self) {
			return pool, []*mo.HostSystem{h}, nil
		}
	}
	if cl, ok := crObj.(*mo.ClusterComputeResource); ok && t.strict && !drsEnabled(cl) {
		return nil, nil, vim.InvalidArgument(t.prefix+"host", "The cluster %s does not have DRS enabled, so the host to test on must be given.", cl.Name)
	}
	var hosts []*mo.HostSystem
	for _, r := range cr.Host {
		if h := inventory.Get[mo.HostSystem](s.reg, r); h != nil && hostUsable(h) == nil {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, nil, vim.InvalidState("No host of %s is connected and out of maintenance mode; pass the host to test against.", cr.Name)
	}
	return pool, hosts, nil
}

// drsEnabled reports whether DRS is on in cluster cl.
func drsEnabled(cl *mo.ClusterComputeResource) bool {
	cfg, ok := cl.ConfigurationEx.(*types.ClusterConfigInfoEx)
	return ok && isTrue(cfg.DrsConfig.Enabled)
}

// rootPoolOf returns the root resource pool of host's compute resource, or
// nil.
func (s *Service) rootPoolOf(host types.ManagedObjectReference) *types.ManagedObjectReference {
	if h := inventory.Get[mo.HostSystem](s.reg, host); h != nil && h.Parent != nil {
		if cr := computeResource(s.reg.Get(*h.Parent)); cr != nil {
			return cr.ResourcePool
		}
	}
	return nil
}

// checkPool returns the pool a check tests: poolRef, else the VM's pool,
// else the root pool of host's compute resource.
func (s *Service) checkPool(vm *mo.VirtualMachine, host *mo.HostSystem, poolRef *types.ManagedObjectReference, prefix string) (*mo.ResourcePool, error) {
	switch {
	case poolRef != nil:
		return poolObject(s.reg, *poolRef)
	case vm != nil && vm.ResourcePool != nil:
		return poolObject(s.reg, *vm.ResourcePool)
	case host != nil && host.Parent != nil:
		if cr := computeResource(s.reg.Get(*host.Parent)); cr != nil && cr.ResourcePool != nil {
			return poolObject(s.reg, *cr.ResourcePool)
		}
	}
	return nil, vim.InvalidArgument(prefix+"pool", "Pass the resource pool (or the host) to test against; a template has no pool of its own.")
}

// poolObject returns the resource pool (or vApp) ref.
func poolObject(r objReader, ref types.ManagedObjectReference) (*mo.ResourcePool, error) {
	switch p := r.Get(ref).(type) {
	case *mo.ResourcePool:
		return p, nil
	case *mo.VirtualApp:
		return &p.ResourcePool, nil
	}
	if ref.Type == "" {
		ref.Type = "ResourcePool"
	}
	return nil, vim.ManagedObjectNotFound(ref)
}

// sameDatacenter returns DatacenterMismatch when an entity of others is
// not in the datacenter of ref.
func (s *Service) sameDatacenter(ref types.ManagedObjectReference, others ...types.ManagedObjectReference) error {
	want := datacenterOf(s.reg, ref)
	if want == nil {
		return nil
	}
	var bad []types.DatacenterMismatchArgument
	var names []string
	for _, o := range others {
		dc := datacenterOf(s.reg, o)
		if dc == nil || dc.Self.Value == want.Self.Value {
			continue
		}
		bad = append(bad, types.DatacenterMismatchArgument{Entity: o, InputDatacenter: refp(dc.Self)})
		if e := entityOf(s.reg, o); e != nil {
			names = append(names, e.Name+" (in "+dc.Name+")")
		}
	}
	if bad == nil {
		return nil
	}
	return vim.NewFault(&types.DatacenterMismatch{ExpectedDatacenter: want.Self, InvalidArgument: bad},
		"The arguments must belong to the datacenter %s, but %s do not; choose entities of one datacenter.", want.Name, strings.Join(names, ", "))
}

// newNameProblems lists why a new VM cannot be called name in folder.
func (s *Service) newNameProblems(folder types.ManagedObjectReference, name string) []error {
	escaped, err := vmName(name)
	if err != nil {
		return []error{err}
	}
	if err := s.checkVMName(s.reg, folder, escaped, types.ManagedObjectReference{}); err != nil {
		return []error{err}
	}
	return nil
}

// trialConfig returns the VM spec would make on host h, changing nothing
// in the inventory or on hosts: spec applied to a copy of base as
// ReconfigVM_Task applies it, or, for a nil base, a new VM in pool built as
// CreateVM_Task builds it.
func (s *Service) trialConfig(spec types.VirtualMachineConfigSpec, base *mo.VirtualMachine, pool *mo.ResourcePool, h *mo.HostSystem) (*mo.VirtualMachine, error) {
	spec = vim.DeepCopy(spec)
	env, err := s.newVMEnv(s.reg, h.Self)
	if err != nil {
		return nil, err
	}
	if base != nil {
		vm := vim.DeepCopy(base)
		if _, err := s.applySpec(vm, &spec, env, false); err != nil {
			return nil, err
		}
		return vm, nil
	}
	p, err := s.trialPlacement(&spec, pool, h, env)
	if err != nil {
		return nil, err
	}
	vm, _, err := s.buildVM(p, &spec)
	return vm, err
}

// trialPlacement places a new VM for trialConfig: in its datacenter's VM
// folder, in the directory its files.vmPathName names (else one named
// after it).
func (s *Service) trialPlacement(spec *types.VirtualMachineConfigSpec, pool *mo.ResourcePool, h *mo.HostSystem, env *vmEnv) (*vmPlacement, error) {
	if spec.Name == "" {
		return nil, vim.NewFault(&types.InvalidVmConfig{Property: "configSpec.name"}, "The virtual machine needs a name (configSpec.name).")
	}
	name, err := vmName(spec.Name)
	if err != nil {
		return nil, err
	}
	if spec.Files == nil || strings.TrimSpace(spec.Files.VmPathName) == "" {
		return nil, vim.NewFault(&types.InvalidVmConfig{Property: "configSpec.files.vmPathName"},
			"The virtual machine needs a datastore path for its files (configSpec.files.vmPathName, such as '[datastore1]').")
	}
	dsName, rel, ok := splitDSPath(spec.Files.VmPathName)
	if !ok {
		return nil, vim.NewFault(&types.InvalidDatastorePath{DatastorePath: spec.Files.VmPathName},
			"Invalid datastore path '%s'; use the form '[datastore]' or '[datastore] dir/name.vmx'.", spec.Files.VmPathName)
	}
	ds, err := env.datastore(dsName, spec.Files.VmPathName)
	if err != nil {
		return nil, err
	}
	dc := datacenterOf(s.reg, pool.Self)
	cr, _ := s.reg.Get(pool.Owner).(mo.Entity)
	if dc == nil || cr == nil {
		return nil, vim.InvalidArgument("pool", "The resource pool %s is in no datacenter.", pool.Name)
	}
	folder, err := lookupAs[mo.Folder](s.reg, dc.VmFolder, "Folder")
	if err != nil {
		return nil, err
	}
	p := &vmPlacement{folder: folder, pool: pool.Self, cr: cr, host: h, env: env, ds: ds, name: name, dir: name, vmxFile: name + ".vmx"}
	rel = strings.Trim(rel, "/")
	switch {
	case strings.HasSuffix(rel, ".vmx"):
		p.dir, p.vmxFile = path.Dir(rel), path.Base(rel)
		if p.dir == "." {
			p.dir = ""
		}
	case rel != "":
		p.dir = rel
	}
	return p, nil
}

// vmHasSnapshot reports whether snapshot is one of vm's.
func vmHasSnapshot(vm *mo.VirtualMachine, snapshot types.ManagedObjectReference) bool {
	if vm.Snapshot == nil {
		return false
	}
	var walk func([]types.VirtualMachineSnapshotTree) bool
	walk = func(trees []types.VirtualMachineSnapshotTree) bool {
		for _, t := range trees {
			if t.Snapshot.Value == snapshot.Value || walk(t.ChildSnapshotList) {
				return true
			}
		}
		return false
	}
	return walk(vm.Snapshot.RootSnapshotList)
}

// vmHasDiskKey reports whether vm has a disk with key.
func vmHasDiskKey(vm *mo.VirtualMachine, key int32) bool {
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok && disk.Key == key {
			return true
		}
	}
	return false
}

// vmPoweredOn reports whether vm runs.
func vmPoweredOn(vm *mo.VirtualMachine) bool {
	return vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
}
