package api

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// createVMTask is Folder.CreateVM_Task.
func (s *Service) createVMTask(ctx *soap.Context, req *types.CreateVM_Task) (any, error) {
	user, folder := ctx.UserName(), ctx.This
	spec := task.Spec{Entity: folder, DescriptionID: "Folder.createVm", User: user, ChainID: s.tasks.NextChainID()}
	ref, err := s.tasks.Start(ctx, spec, func(ctx context.Context, t *task.Task) (types.AnyType, error) {
		vm, err := s.createVM(ctx, user, t.ChainID, folder, req.Pool, req.Host, req.Config)
		if err != nil {
			return nil, err
		}
		return vm, nil
	})
	if err != nil {
		return nil, err
	}
	return &types.CreateVM_TaskResponse{Returnval: ref}, nil
}

// CreateVM creates a virtual machine in folder, in resource pool pool, on
// host (nil: a connected host of the pool's compute resource that mounts
// the VM's datastore), as Folder.CreateVM_Task does, and returns it once it
// is durable. It validates as vCenter does (a folder for VMs, a unique name,
// files.vmPathName on a datastore the host mounts, a pool in the folder's
// datacenter) and creates the VM's files on the host.
func (s *Service) CreateVM(ctx context.Context, user string, folder, pool types.ManagedObjectReference,
	host *types.ManagedObjectReference, spec types.VirtualMachineConfigSpec) (types.ManagedObjectReference, error) {
	return s.createVM(ctx, user, s.tasks.NextChainID(), folder, pool, host, spec)
}

// vmPlacement is where a new VM goes, as checked by placeVM.
type vmPlacement struct {
	folder *mo.Folder
	pool   types.ManagedObjectReference
	cr     mo.Entity // the pool's compute resource
	host   *mo.HostSystem
	env    *vmEnv
	ds     *mo.Datastore
	name   string // the escaped VM name
	// dir is the VM's directory on ds, "" when the vmx is at the root;
	// autoDir says whether it comes from the name (and may get a suffix).
	dir     string
	vmxFile string
	autoDir bool
}

func (s *Service) createVM(ctx context.Context, user string, chain int32, folder, pool types.ManagedObjectReference,
	host *types.ManagedObjectReference, spec types.VirtualMachineConfigSpec) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	spec = vim.DeepCopy(spec)
	ref, vm, err := s.provisionVM(ctx, folder, pool, host, &spec, nil)
	if err != nil {
		return none, err
	}
	ev := s.vmEventSpec(ref, user, chain)
	tmpl := vm.Config.Template
	s.postVMEvents(ev,
		&types.VmBeingCreatedEvent{VmEvent: vmEvent(tmpl), ConfigSpec: &spec},
		&types.VmInstanceUuidAssignedEvent{VmEvent: vmEvent(tmpl), InstanceUuid: vm.Config.InstanceUuid},
		&types.VmUuidAssignedEvent{VmEvent: vmEvent(tmpl), Uuid: vm.Config.Uuid},
		&types.VmCreatedEvent{VmEvent: vmEvent(tmpl)},
	)
	return ref, nil
}

// provisionVM places and builds the VM spec configures (as createVM does;
// adjust, when set, changes the built VM first), defines it on its host,
// adds it to the inventory and writes its configuration file. It returns
// the VM as committed.
func (s *Service) provisionVM(ctx context.Context, folder, pool types.ManagedObjectReference, host *types.ManagedObjectReference,
	spec *types.VirtualMachineConfigSpec, adjust func(vm *mo.VirtualMachine, env *vmEnv) error) (types.ManagedObjectReference, *mo.VirtualMachine, error) {
	var none types.ManagedObjectReference
	p, err := s.placeVM(folder, pool, host, spec)
	if err != nil {
		return none, nil, err
	}
	// Creations that could choose the same directory run one at a time.
	unlock, err := s.vms.lock(ctx, "vmdir:"+p.ds.Name+"/"+p.dir)
	if err != nil {
		return none, nil, err
	}
	defer unlock()
	if p.autoDir {
		p.dir = s.freeVMDir(p.ds.Name, p.dir)
	}
	vm, created, err := s.buildVM(p, spec)
	if err != nil {
		return none, nil, err
	}
	if adjust != nil {
		if err := adjust(vm, p.env); err != nil {
			return none, nil, err
		}
	}
	drv, err := s.hostDriver(p.host.Self)
	if err != nil {
		return none, nil, err
	}
	if err := drv.Create(ctx, vmDriverSpec(vm)); err != nil {
		return none, nil, driverFault(vm, err)
	}
	ref, err := s.commitNewVM(ctx, vm, pool, p.host.Self)
	if err != nil {
		s.undoCreate(drv, vm, created, p.autoDir)
		return none, nil, err
	}
	s.saveVMX(ctx, ref)
	return ref, vm, nil
}

// undoCreate has the host forget a VM whose creation failed to commit, and
// deletes the disk files created for it and, when it was made for the VM,
// its directory. Disks it attached stay.
func (s *Service) undoCreate(drv driver.Driver, vm *mo.VirtualMachine, created []driver.Disk, ownDir bool) {
	ctx := context.Background()
	if err := drv.Destroy(ctx, vmInstanceID(vm), false); err != nil {
		s.log.Warn("forget vm after failed create", "vm", vm.Name, "err", err)
	}
	files := make([]string, 0, len(created)+1)
	for _, d := range created {
		files = append(files, d.Path)
	}
	if ownDir {
		files = append(files, strings.TrimSuffix(vmDirOf(vm.Config.Files.VmPathName), "/"))
	}
	for _, f := range files {
		if err := drv.DeleteFile(ctx, f); err != nil {
			s.log.Warn("delete file after failed create", "vm", vm.Name, "file", f, "err", err)
		}
	}
}

// placeVM checks where a new VM goes, as vCenter does, and resolves its
// host and datastore.
func (s *Service) placeVM(folderRef, poolRef types.ManagedObjectReference, hostRef *types.ManagedObjectReference,
	spec *types.VirtualMachineConfigSpec) (*vmPlacement, error) {
	p := &vmPlacement{pool: poolRef}
	p.folder = inventory.Get[mo.Folder](s.reg, folderRef)
	if p.folder == nil {
		return nil, vim.ManagedObjectNotFound(folderRef)
	}
	if !vmHasString(p.folder.ChildType, "VirtualMachine") {
		return nil, vim.NotSupported("The folder %s cannot hold virtual machines; use a datacenter's VM folder.", p.folder.Name)
	}
	if spec.Name == "" {
		return nil, vim.NewFault(&types.InvalidVmConfig{Property: "configSpec.name"}, "The virtual machine needs a name (configSpec.name).")
	}
	name, err := vmName(spec.Name)
	if err != nil {
		return nil, err
	}
	p.name = name
	if err := s.checkVMName(s.reg, folderRef, name, types.ManagedObjectReference{}); err != nil {
		return nil, err
	}
	if p.cr, err = s.poolComputeResource(poolRef, folderRef); err != nil {
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
	if hostRef == nil && !s.datacenterHasDatastore(folderRef, dsName) {
		return nil, vim.NewFault(&types.InvalidDatastorePath{DatastorePath: spec.Files.VmPathName},
			"Invalid datastore path '%s': datastore '%s' not found.", spec.Files.VmPathName, dsName)
	}
	if p.host, err = s.vmHost(p.cr, hostRef, dsName); err != nil {
		return nil, err
	}
	if p.env, err = s.newVMEnv(s.reg, p.host.Self); err != nil {
		return nil, err
	}
	if p.ds, err = p.env.datastore(dsName, spec.Files.VmPathName); err != nil {
		return nil, err
	}
	rel = strings.Trim(rel, "/")
	switch {
	case strings.HasSuffix(rel, ".vmx"), strings.HasSuffix(rel, ".vmtx"): // .vmtx: a registered template
		p.dir, p.vmxFile = path.Dir(rel), path.Base(rel)
		if p.dir == "." {
			p.dir = ""
		}
		if s.vmxInUse(dsPath(dsName, rel)) {
			return nil, vim.NewFault(&types.FileAlreadyExists{FileFault: types.FileFault{File: dsPath(dsName, rel)}},
				"Cannot complete the operation because the file or folder %s already exists", dsPath(dsName, rel))
		}
	case rel != "":
		p.dir, p.vmxFile = rel, name+".vmx"
	default:
		p.dir, p.vmxFile, p.autoDir = name, name+".vmx", true
	}
	return p, nil
}

// poolComputeResource returns the compute resource a resource pool belongs
// to, checking that the pool is in the datacenter of folder.
func (s *Service) poolComputeResource(poolRef, folder types.ManagedObjectReference) (mo.Entity, error) {
	o := s.reg.Get(poolRef)
	switch o.(type) {
	case *mo.ResourcePool, *mo.VirtualApp:
	case nil:
		return nil, vim.ManagedObjectNotFound(poolRef)
	default:
		return nil, vim.InvalidArgument("pool", "%s:%s is not a resource pool.", poolRef.Type, poolRef.Value)
	}
	pdc, fdc := datacenterOf(s.reg, poolRef), datacenterOf(s.reg, folder)
	if pdc == nil || fdc == nil || pdc.Self.Value != fdc.Self.Value {
		return nil, vim.InvalidArgument("pool", "The resource pool %s is not in the datacenter of the folder; choose a pool of the same datacenter.", o.(mo.Entity).Entity().Name)
	}
	for r := o.(mo.Entity).Entity().Parent; r != nil; {
		e, ok := s.reg.Get(*r).(mo.Entity)
		if !ok {
			break
		}
		switch e.(type) {
		case *mo.ComputeResource, *mo.ClusterComputeResource:
			return e, nil
		}
		r = e.Entity().Parent
	}
	return nil, vim.InvalidArgument("pool", "The resource pool %s belongs to no compute resource.", o.(mo.Entity).Entity().Name)
}

// crHosts returns the hosts of a compute resource.
func crHosts(cr mo.Entity) []types.ManagedObjectReference {
	switch c := cr.(type) {
	case *mo.ComputeResource:
		return c.Host
	case *mo.ClusterComputeResource:
		return c.Host
	}
	return nil
}

// vmHost returns the host a new VM runs on: host when given (it must belong
// to cr and be usable), else the usable host of cr mounting datastore
// dsName that runs the fewest VMs.
func (s *Service) vmHost(cr mo.Entity, host *types.ManagedObjectReference, dsName string) (*mo.HostSystem, error) {
	hosts := crHosts(cr)
	if host != nil {
		h := inventory.Get[mo.HostSystem](s.reg, *host)
		if h == nil {
			return nil, vim.ManagedObjectNotFound(*host)
		}
		if !containsRef(hosts, *host) {
			return nil, vim.InvalidArgument("host", "Host %s is not part of %s, the compute resource of the resource pool.", h.Name, cr.Entity().Name)
		}
		if err := hostUsable(h); err != nil {
			return nil, err
		}
		if !s.hostMounts(h, dsName) {
			return nil, vim.NewFault(&types.InvalidDatastore{Name: dsName},
				"The datastore '%s' is not mounted on host '%s'; choose a datastore the host mounts.", dsName, h.Name)
		}
		return h, nil
	}
	var best *mo.HostSystem
	for _, r := range hosts {
		h := inventory.Get[mo.HostSystem](s.reg, r)
		if h == nil || hostUsable(h) != nil || !s.hostMounts(h, dsName) {
			continue
		}
		if best == nil || len(h.Vm) < len(best.Vm) {
			best = h
		}
	}
	if best == nil {
		return nil, vim.NewFault(&types.NoCompatibleHost{},
			"No host of %s is connected, out of maintenance mode and mounts datastore %s; choose another compute resource or datastore.", cr.Entity().Name, dsName)
	}
	return best, nil
}

// hostUsable fails when VMs cannot be placed on h.
func hostUsable(h *mo.HostSystem) error {
	if cs := h.Runtime.ConnectionState; cs != "" && cs != types.HostSystemConnectionStateConnected {
		return vim.NewFault(&types.HostNotConnected{}, "Cannot complete operation because the host %s is not connected.", h.Name)
	}
	if h.Runtime.InMaintenanceMode {
		return vim.NewFault(&types.InvalidHostState{Host: &h.Self}, "The host %s is in maintenance mode; take it out of maintenance mode or choose another host.", h.Name)
	}
	return nil
}

// datacenterHasDatastore reports whether the datacenter of entity has a
// datastore named name.
func (s *Service) datacenterHasDatastore(entity types.ManagedObjectReference, name string) bool {
	dc := datacenterOf(s.reg, entity)
	if dc == nil {
		return false
	}
	for _, r := range dc.Datastore {
		if ds := inventory.Get[mo.Datastore](s.reg, r); ds != nil && ds.Name == name {
			return true
		}
	}
	return false
}

// hostMounts reports whether host h mounts a datastore named name.
func (s *Service) hostMounts(h *mo.HostSystem, name string) bool {
	for _, r := range h.Datastore {
		if ds := inventory.Get[mo.Datastore](s.reg, r); ds != nil && ds.Name == name {
			return true
		}
	}
	return false
}

// freeVMDir returns dir, or dir_1, dir_2, ... : the first that no VM in the
// inventory keeps its files in on datastore ds.
func (s *Service) freeVMDir(ds, dir string) string {
	used := map[string]bool{}
	prefix := "[" + ds + "] "
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		vm := o.(*mo.VirtualMachine)
		if vm.Config != nil && strings.HasPrefix(vm.Config.Files.VmPathName, prefix) {
			if d, _, ok := strings.Cut(strings.TrimPrefix(vm.Config.Files.VmPathName, prefix), "/"); ok && strings.HasPrefix(d, dir) {
				used[d] = true
			}
		}
		return true
	})
	cand := dir
	for n := 1; used[cand]; n++ {
		cand = fmt.Sprintf("%s_%d", dir, n)
	}
	return cand
}

// vmxInUse reports whether a VM in the inventory has configuration file vmx.
func (s *Service) vmxInUse(vmx string) bool {
	found := false
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		vm := o.(*mo.VirtualMachine)
		found = vm.Config != nil && vm.Config.Files.VmPathName == vmx
		return !found
	})
	return found
}

// buildVM returns the new VM p describes, configured by spec, as vCenter
// fills it in (it has no MoRef yet), and the disk files to create for it.
func (s *Service) buildVM(p *vmPlacement, spec *types.VirtualMachineConfigSpec) (*mo.VirtualMachine, []driver.Disk, error) {
	now := s.now()
	vmx := dsPath(p.ds.Name, path.Join(p.dir, p.vmxFile))
	dir := vmDirOf(vmx)
	c := defaultConfig(now)
	c.Name = p.name
	c.Uuid, c.InstanceUuid = vcenterUUID(0x42), vcenterUUID(0x50)
	c.Files = types.VirtualMachineFileInfo{VmPathName: vmx, SnapshotDirectory: dir, SuspendDirectory: dir, LogDirectory: dir}
	c.ExtraConfig = defaultExtraConfig(strings.TrimSuffix(p.vmxFile, ".vmx"))
	c.Hardware.Device = defaultDevices()

	vm := newVMShell(p.name, p.folder.Self, &p.pool, p.cr, p.host.Self)
	vm.Config = c
	created, err := s.configureNewVM(vm, spec, p.env)
	if err != nil {
		return nil, nil, err
	}
	return vm, created, nil
}

// newVMShell returns a new VM named name in folder, in resource pool pool
// (nil for a template) of compute resource cr, powered off on host, as
// vCenter fills in a VM's entity and runtime properties; it has no
// configuration yet.
func newVMShell(name string, folder types.ManagedObjectReference, pool *types.ManagedObjectReference, cr mo.Entity,
	host types.ManagedObjectReference) *mo.VirtualMachine {
	vm := &mo.VirtualMachine{}
	vm.Name = name
	vm.Parent = &folder
	vm.OverallStatus, vm.ConfigStatus = types.ManagedEntityStatusGreen, types.ManagedEntityStatusGreen
	vm.EffectiveRole = []int32{-1}
	vm.AlarmActionsEnabled = types.NewBool(true)
	if pool != nil {
		p := *pool
		vm.ResourcePool = &p
	}
	vm.Capability = defaultCapability()
	if b := envBrowser(cr); b != nil {
		vm.EnvironmentBrowser = *b
	}
	vm.Runtime = types.VirtualMachineRuntimeInfo{
		Host:                 &host,
		ConnectionState:      types.VirtualMachineConnectionStateConnected,
		PowerState:           types.VirtualMachinePowerStatePoweredOff,
		FaultToleranceState:  types.VirtualMachineFaultToleranceStateNotConfigured,
		RecordReplayState:    types.VirtualMachineRecordReplayStateInactive,
		ConsolidationNeeded:  types.NewBool(false),
		QuiescedForkParent:   types.NewBool(false),
		InstantCloneFrozen:   types.NewBool(false),
		SnapshotInBackground: types.NewBool(false),
		Paused:               types.NewBool(false),
	}
	vm.Guest = &types.GuestInfo{}
	return vm
}

// configureNewVM applies spec to a new VM (a shell with its configuration
// set), fills in its guest, resource configuration and derived properties,
// and returns the disk files to create for it.
func (s *Service) configureNewVM(vm *mo.VirtualMachine, spec *types.VirtualMachineConfigSpec, env *vmEnv) ([]driver.Disk, error) {
	ch, err := s.applySpec(vm, spec, env, true)
	if err != nil {
		return nil, err
	}
	setGuestStopped(vm)
	c, now := vm.Config, s.now()
	vm.ResourceConfig = &types.ResourceConfigSpec{
		ChangeVersion: c.ChangeVersion, LastModified: &now,
		CpuAllocation: vim.DeepCopy(*c.CpuAllocation), MemoryAllocation: vim.DeepCopy(*c.MemoryAllocation),
	}
	env.deriveVM(vm, now)
	return ch.created, nil
}

// vcenterUUID returns a random UUID whose first byte is first: vCenter's
// BIOS UUIDs start with 42 and its instance UUIDs with 50.
func vcenterUUID(first byte) string {
	u := uuid.New()
	u[0] = first
	return u.String()
}

// dsURL returns a datastore's URL, as its summary reports it.
func vmDatastoreURL(ds *mo.Datastore) string {
	if ds.Summary.Url != "" {
		return ds.Summary.Url
	}
	return "ds:///vmfs/volumes/" + ds.Self.Value + "/"
}

// envBrowser returns the environment browser of a compute resource.
func envBrowser(cr mo.Entity) *types.ManagedObjectReference {
	switch c := cr.(type) {
	case *mo.ComputeResource:
		return c.EnvironmentBrowser
	case *mo.ClusterComputeResource:
		return c.EnvironmentBrowser
	}
	return nil
}

func vmHasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
