package api

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// relocateVMTask is VirtualMachine.RelocateVM_Task.
func (s *Service) relocateVMTask(ctx *soap.Context, req *types.RelocateVM_Task) (any, error) {
	spec := req.Spec
	ref, err := s.startVMTask(ctx, "VirtualMachine.relocate", func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.relocate(ctx, t.User, t.ChainID, vm, &spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.RelocateVM_TaskResponse{Returnval: ref}, nil
}

// migrateVMTask is VirtualMachine.MigrateVM_Task: a relocation to another
// pool or host only, refused (InvalidPowerState) when the VM's power state
// is not the state the caller asked for.
func (s *Service) migrateVMTask(ctx *soap.Context, req *types.MigrateVM_Task) (any, error) {
	spec := types.VirtualMachineRelocateSpec{Pool: req.Pool, Host: req.Host}
	state := req.State
	ref, err := s.startVMTask(ctx, "VirtualMachine.migrate", func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		if state != "" && vm.Runtime.PowerState != state {
			return nil, vim.InvalidPowerState(vm.Runtime.PowerState, state)
		}
		return nil, s.relocate(ctx, t.User, t.ChainID, vm, &spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.MigrateVM_TaskResponse{Returnval: ref}, nil
}

// RelocateVM moves the VM ref as RelocateVM_Task does, and returns once the
// move is durable.
func (s *Service) RelocateVM(ctx context.Context, user string, ref types.ManagedObjectReference, spec types.VirtualMachineRelocateSpec) error {
	_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.relocate(ctx, user, s.tasks.NextChainID(), vm, &spec)
	})
	return err
}

// relocation is a planned move of a VM.
type relocation struct {
	vm, next *mo.VirtualMachine
	from, to *mo.HostSystem
	folder   *mo.Folder // nil: stays
	copies   []fileCopy
	// oldDir is the VM's home directory when it moves to another datastore.
	oldDir string
}

func (r *relocation) hostChange() bool { return r.from.Self.Value != r.to.Self.Value }

// relocate moves vm (the caller holds its lock) to another host, resource
// pool, folder and/or datastore, as RelocateVM_Task does. Files are copied
// to their new datastore first, then the VM's host changes (the target
// host defines it, the source host forgets it), then the inventory
// commits, and only then are the old files deleted: a failure before the
// commit leaves the VM where it was, with its files.
//
// The target host must reach every file of the VM once moved (disks,
// configuration, media): a move that would strand a disk is refused. The
// hosts' drivers cannot move a running VM between hosts (vMotion) or its
// disks while it runs (Storage vMotion): such moves are refused with a
// fault saying so, rather than done by a power cycle.
func (s *Service) relocate(ctx context.Context, user string, chain int32, vm *mo.VirtualMachine, spec *types.VirtualMachineRelocateSpec) error {
	spec = vim.DeepCopy(spec)
	r, err := s.planRelocation(ctx, vm, spec)
	if err != nil {
		return err
	}
	if err := checkLiveMove(r); err != nil {
		return err
	}
	ev := s.vmEventSpec(vm.Self, user, chain)
	beforeHost, beforeDS := ev.host, ev.ds
	destHost, destDS, destDC := s.destArgs(r)
	moving := r.hostChange() || len(r.copies) > 0
	if r.hostChange() {
		s.postVMEvents(ev, &types.VmBeingMigratedEvent{VmEvent: vmEvent(vm.Config.Template), DestHost: destHost, DestDatacenter: destDC, DestDatastore: destDS})
	} else if moving {
		s.postVMEvents(ev, &types.VmBeingRelocatedEvent{VmRelocateSpecEvent: types.VmRelocateSpecEvent{VmEvent: vmEvent(vm.Config.Template)},
			DestHost: destHost, DestDatacenter: destDC, DestDatastore: destDS})
	}
	if err := s.executeRelocation(ctx, r); err != nil {
		return err
	}
	s.saveVMX(ctx, vm.Self)
	s.postRelocationEvents(r, user, chain, beforeHost, beforeDS, ev.dc)
	return nil
}

// destArgs returns the event arguments of a relocation's target.
func (s *Service) destArgs(r *relocation) (types.HostEventArgument, *types.DatastoreEventArgument, *types.DatacenterEventArgument) {
	host := types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: r.to.Name}, Host: r.to.Self}
	ds := &types.DatastoreEventArgument{}
	if len(r.next.Datastore) > 0 {
		if d := inventory.Get[mo.Datastore](s.reg, r.next.Datastore[0]); d != nil {
			ds = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: d.Name}, Datastore: d.Self}
		}
	}
	dc := &types.DatacenterEventArgument{}
	if d := datacenterOf(s.reg, r.to.Self); d != nil {
		dc = &types.DatacenterEventArgument{EntityEventArgument: types.EntityEventArgument{Name: d.Name}, Datacenter: d.Self}
	}
	return host, ds, dc
}

// postRelocationEvents posts the events of a finished move: VmMigratedEvent
// for a new host, VmRelocatedEvent for new datastores only, and
// VmResourcePoolMovedEvent for a new pool.
func (s *Service) postRelocationEvents(r *relocation, user string, chain int32, srcHost *types.HostEventArgument,
	srcDS *types.DatastoreEventArgument, srcDC *types.DatacenterEventArgument) {
	ev := s.vmEventSpec(r.vm.Self, user, chain)
	tmpl := r.vm.Config.Template
	host := types.HostEventArgument{}
	if srcHost != nil {
		host = *srcHost
	}
	if srcDS == nil {
		srcDS = &types.DatastoreEventArgument{}
	}
	if srcDC == nil {
		srcDC = &types.DatacenterEventArgument{}
	}
	switch {
	case r.hostChange():
		s.postVMEvents(ev, &types.VmMigratedEvent{VmEvent: vmEvent(tmpl), SourceHost: host, SourceDatacenter: srcDC, SourceDatastore: srcDS})
	case len(r.copies) > 0:
		s.postVMEvents(ev, &types.VmRelocatedEvent{VmRelocateSpecEvent: types.VmRelocateSpecEvent{VmEvent: vmEvent(tmpl)},
			SourceHost: host, SourceDatacenter: srcDC, SourceDatastore: srcDS})
	}
	oldPool, newPool := r.vm.ResourcePool, r.next.ResourcePool
	if oldPool != nil && newPool != nil && oldPool.Value != newPool.Value {
		s.postVMEvents(ev, &types.VmResourcePoolMovedEvent{VmEvent: vmEvent(tmpl), OldParent: s.poolArg(*oldPool), NewParent: s.poolArg(*newPool)})
	}
}

func (s *Service) poolArg(ref types.ManagedObjectReference) types.ResourcePoolEventArgument {
	arg := types.ResourcePoolEventArgument{ResourcePool: ref}
	if e, ok := s.reg.Get(ref).(mo.Entity); ok {
		arg.Name = e.Entity().Name
	}
	return arg
}

// checkLiveMove refuses the moves the drivers cannot make without stopping
// the VM: another host for a running or suspended VM, other datastores for
// a running one.
func checkLiveMove(r *relocation) error {
	ps := r.vm.Runtime.PowerState
	switch {
	case r.hostChange() && ps == poweredOn:
		return vim.NewFault(vmotionNotSupported(r.from), "Cannot migrate powered-on virtual machine %s from host %s to host %s: the hosts cannot move a running virtual machine (vMotion is not supported). Power it off or shut down its guest first, then migrate it; pool, folder and network changes on the same host work while it runs.",
			r.vm.Name, r.from.Name, r.to.Name)
	case r.hostChange() && ps == suspended:
		return vim.NewFault(vmotionNotSupported(r.from), "Cannot migrate suspended virtual machine %s from host %s to host %s: its suspended state stays with its host. Power it on and shut it down (or power it off) first, then migrate it.",
			r.vm.Name, r.from.Name, r.to.Name)
	case len(r.copies) > 0 && ps == poweredOn:
		return vim.NewFault(&types.MigrationFeatureNotSupported{AtSourceHost: true, FailedHostName: r.from.Name, FailedHost: r.from.Self},
			"Cannot move the disks of powered-on virtual machine %s to another datastore: the host cannot copy the disks of a running virtual machine (Storage vMotion is not supported). Power it off first, then relocate it.",
			r.vm.Name)
	}
	return nil
}

// vmotionNotSupported is the fault of a host that cannot move running VMs.
func vmotionNotSupported(h *mo.HostSystem) *types.VMotionNotSupported {
	ref := h.Self
	return &types.VMotionNotSupported{VMotionInterfaceIssue: types.VMotionInterfaceIssue{
		AtSourceHost: true, FailedHost: h.Name, FailedHostEntity: &ref,
	}}
}

// planRelocation resolves and checks where vm goes and builds its new
// configuration.
func (s *Service) planRelocation(ctx context.Context, vm *mo.VirtualMachine, spec *types.VirtualMachineRelocateSpec) (*relocation, error) {
	if err := checkDiskMoveType("spec.diskMoveType", spec.DiskMoveType); err != nil {
		return nil, err
	}
	for i, l := range spec.Disk {
		if err := checkDiskMoveType("spec.disk.diskMoveType", l.DiskMoveType); err != nil {
			return nil, err
		}
		if !hasDiskKey(vm, l.DiskId) {
			return nil, vim.InvalidArgument("spec.disk", "Disk locator %d names disk key %d, which %s does not have.", i, l.DiskId, vm.Name)
		}
	}
	if cs := vm.Runtime.ConnectionState; cs != "" && cs != types.VirtualMachineConnectionStateConnected {
		return nil, vim.InvalidState("The virtual machine %s is %s; only a connected virtual machine can be relocated.", vm.Name, cs)
	}
	r := &relocation{vm: vm}
	r.from = inventory.Get[mo.HostSystem](s.reg, *vm.Runtime.Host)
	if r.from == nil {
		return nil, vim.ManagedObjectNotFound(*vm.Runtime.Host)
	}
	folderRef := *vm.Parent
	if spec.Folder != nil && spec.Folder.Value != vm.Parent.Value {
		if r.folder = inventory.Get[mo.Folder](s.reg, *spec.Folder); r.folder == nil {
			return nil, vim.ManagedObjectNotFound(*spec.Folder)
		}
		if !vmHasString(r.folder.ChildType, "VirtualMachine") {
			return nil, vim.NotSupported("The folder %s cannot hold virtual machines; use a datacenter's VM folder.", r.folder.Name)
		}
		if err := s.checkVMName(s.reg, r.folder.Self, vm.Name, vm.Self); err != nil {
			return nil, err
		}
		folderRef = r.folder.Self
	}
	homeDS, err := s.relocateHomeDS(vm, spec)
	if err != nil {
		return nil, err
	}
	pool, err := s.clonePool(vm, spec)
	if err != nil && vm.ResourcePool == nil {
		pool, err = s.hostPoolOf(vm, err) // a template
	}
	if err != nil {
		return nil, err
	}
	cr, err := s.poolComputeResource(pool, folderRef)
	if err != nil {
		return nil, err
	}
	hostRef := spec.Host
	if hostRef != nil && spec.Pool != nil && !containsRef(crHosts(cr), *hostRef) {
		// The pool decides: govc sends its default host (GOVC_HOST) with
		// an explicit -pool, and vcsim moves the VM to the pool.
		hostRef = nil
	}
	if hostRef == nil && containsRef(crHosts(cr), r.from.Self) && hostUsable(r.from) == nil && s.hostMounts(r.from, homeDS.Name) {
		hostRef = &r.from.Self
	}
	if r.to, err = s.vmHost(cr, hostRef, homeDS.Name); err != nil {
		return nil, err
	}
	env, err := s.newVMEnv(s.reg, r.to.Self)
	if err != nil {
		return nil, err
	}
	if r.next, err = s.relocatedVM(ctx, vm, spec, r, env, homeDS, pool); err != nil {
		return nil, err
	}
	if err := s.checkVMBackings(r.next, env); err != nil {
		return nil, err
	}
	return r, nil
}

// relocateHomeDS returns the datastore the VM's home directory goes to.
func (s *Service) relocateHomeDS(vm *mo.VirtualMachine, spec *types.VirtualMachineRelocateSpec) (*mo.Datastore, error) {
	if spec.Datastore != nil {
		ds := inventory.Get[mo.Datastore](s.reg, *spec.Datastore)
		if ds == nil {
			return nil, vim.ManagedObjectNotFound(*spec.Datastore)
		}
		return ds, nil
	}
	name, _, _ := splitDSPath(vm.Config.Files.VmPathName)
	for _, r := range vm.Datastore {
		if ds := inventory.Get[mo.Datastore](s.reg, r); ds != nil && ds.Name == name {
			return ds, nil
		}
	}
	return nil, vim.InvalidState("The datastore '%s' of virtual machine %s is not in the inventory.", name, vm.Name)
}

func hasDiskKey(vm *mo.VirtualMachine, key int32) bool {
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok && disk.Key == key {
			return true
		}
	}
	return false
}

// relocatedVM returns vm as it is once moved: on its new host and pool,
// with its files on their new datastores (the copies to make are added to
// r) and the spec's network adapter changes applied.
func (s *Service) relocatedVM(ctx context.Context, vm *mo.VirtualMachine, spec *types.VirtualMachineRelocateSpec, r *relocation,
	env *vmEnv, homeDS *mo.Datastore, pool types.ManagedObjectReference) (*mo.VirtualMachine, error) {
	next := vim.DeepCopy(vm)
	host := r.to.Self
	next.Runtime.Host = &host
	if !vm.Config.Template {
		next.ResourcePool = &pool
	}
	if err := s.relocateFiles(ctx, next, spec, r, env, homeDS); err != nil {
		return nil, err
	}
	if len(spec.DeviceChange) > 0 {
		for i, ch := range spec.DeviceChange {
			c := ch.GetVirtualDeviceConfigSpec()
			if _, nic := c.Device.(types.BaseVirtualEthernetCard); !nic || c.Operation != types.VirtualDeviceConfigSpecOperationEdit || c.FileOperation != "" {
				return nil, vim.InvalidArgument("spec.deviceChange", "Entry %d: a relocation can only edit network adapters (operation edit); change other devices with ReconfigVM_Task.", i)
			}
		}
		wasTemplate := next.Config.Template
		next.Config.Template = false
		_, err := s.applySpec(next, &types.VirtualMachineConfigSpec{DeviceChange: spec.DeviceChange}, env, false)
		next.Config.Template = wasTemplate
		if err != nil {
			return nil, err
		}
	}
	now := s.now()
	next.Config.ChangeVersion, next.Config.Modified = changeVersion(now), now
	env.deriveVM(next, now)
	return next, nil
}

// relocateFiles points next's home directory and disks at their new
// datastores, adding the copies to make to r. The home directory keeps its
// name on the new datastore unless that name is taken there.
func (s *Service) relocateFiles(ctx context.Context, next *mo.VirtualMachine, spec *types.VirtualMachineRelocateSpec, r *relocation,
	env *vmEnv, homeDS *mo.Datastore) error {
	c := next.Config
	oldDir := strings.TrimSuffix(vmDirOf(c.Files.VmPathName), "/")
	curDS, dirRel, _ := splitDSPath(oldDir)
	newDir := dirRel
	if homeDS.Name != curDS {
		if _, err := env.datastore(homeDS.Name, dsPath(homeDS.Name, "")); err != nil {
			return err
		}
		files, err := s.hostFilesOf(r.to)
		if err != nil {
			return err
		}
		if newDir, err = s.freeDatastoreDir(ctx, files, homeDS.Name, dirRel); err != nil {
			return err
		}
		r.oldDir = oldDir
		moveDir := func(p string) string {
			if rest, ok := strings.CutPrefix(p, oldDir+"/"); ok {
				return dsPath(homeDS.Name, path.Join(newDir, rest)) + "/"
			}
			return p
		}
		c.Files.VmPathName = dsPath(homeDS.Name, path.Join(newDir, path.Base(c.Files.VmPathName)))
		c.Files.SnapshotDirectory, c.Files.SuspendDirectory = moveDir(c.Files.SnapshotDirectory), moveDir(c.Files.SuspendDirectory)
		c.Files.LogDirectory = moveDir(c.Files.LogDirectory)
	}
	for _, d := range c.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		fi := b.GetVirtualDeviceFileBackingInfo()
		diskDS, _, _ := splitDSPath(fi.FileName)
		def := inventory.Get[mo.Datastore](s.reg, diskDatastoreRef(fi))
		if spec.Datastore != nil || def == nil {
			def = homeDS
		}
		ds, err := s.diskTarget(env, def, disk.Key, spec.Disk, b)
		if err != nil {
			return err
		}
		if ds.Name == diskDS {
			continue
		}
		dst := dsPath(ds.Name, path.Join(newDir, path.Base(fi.FileName)))
		r.copies = append(r.copies, fileCopy{src: fi.FileName, dst: dst})
		fi.FileName, fi.Datastore = dst, &ds.Self
	}
	return nil
}

// diskDatastoreRef returns the datastore a disk backing names.
func diskDatastoreRef(fi *types.VirtualDeviceFileBackingInfo) types.ManagedObjectReference {
	if fi.Datastore != nil {
		return *fi.Datastore
	}
	return types.ManagedObjectReference{}
}

// executeRelocation copies the files, moves the VM between hosts' drivers,
// commits, then deletes the old files. Before the commit, a failure undoes
// what was done.
func (s *Service) executeRelocation(ctx context.Context, r *relocation) error {
	made, err := s.copyRelocationFiles(ctx, r)
	if err != nil {
		s.deleteFiles(r.to, made)
		return err
	}
	undoHosts, err := s.moveOnHosts(ctx, r)
	if err != nil {
		s.deleteFiles(r.to, made)
		return err
	}
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if err := commitVMTxn(tx, r.next); err != nil {
			return err
		}
		if r.folder == nil {
			return nil
		}
		if err := s.checkVMName(tx, r.folder.Self, r.vm.Name, r.vm.Self); err != nil {
			return err
		}
		v := inventory.Edit[mo.VirtualMachine](tx, r.vm.Self)
		from := vmLinks(v)
		f := r.folder.Self
		v.Parent = &f
		relinkVMTxn(tx, v.Self, from, vmLinks(v))
		return nil
	})
	if err != nil {
		undoHosts()
		s.deleteFiles(r.to, made)
		return err
	}
	s.deleteOldFiles(r)
	return nil
}

// copyRelocationFiles makes the new home directory and copies the disks;
// it returns the files and directories it made.
func (s *Service) copyRelocationFiles(ctx context.Context, r *relocation) ([]string, error) {
	var made []string
	if len(r.copies) == 0 && r.oldDir == "" {
		return nil, nil
	}
	files, err := s.hostFilesOf(r.to)
	if err != nil {
		return nil, err
	}
	dirs := []string{strings.TrimSuffix(vmDirOf(r.next.Config.Files.VmPathName), "/")}
	for _, c := range r.copies {
		dirs = append(dirs, strings.TrimSuffix(vmDirOf(c.dst), "/"))
	}
	for _, d := range dirs {
		if _, err := files.Stat(ctx, d); err == nil {
			continue
		}
		if err := files.Mkdir(ctx, d, true); err != nil {
			return made, pathFault(d, err)
		}
		made = append(made, d)
	}
	for _, c := range r.copies {
		if err := s.copyFile(ctx, r.from, r.to, c.src, c.dst); err != nil {
			return made, err
		}
		made = append(made, c.dst)
	}
	return made, nil
}

// moveOnHosts has the target host define the VM and the source host
// forget it (files stay), or, on the same host, has it take the new
// configuration. It returns the function that undoes that.
func (s *Service) moveOnHosts(ctx context.Context, r *relocation) (undo func(), err error) {
	id := vmInstanceID(r.vm)
	to, err := s.hostDriver(r.to.Self)
	if err != nil {
		return nil, err
	}
	if !r.hostChange() {
		if err := to.Reconfigure(ctx, vmDriverSpec(r.next)); err != nil {
			return nil, driverFault(r.vm, err)
		}
		return func() {
			if err := to.Reconfigure(context.Background(), vmDriverSpec(r.vm)); err != nil {
				s.log.Warn("restore vm on host after failed relocation", "vm", r.vm.Self.Value, "err", err)
			}
		}, nil
	}
	from, err := s.hostDriver(r.from.Self)
	if err != nil {
		return nil, err
	}
	if err := to.Create(ctx, vmDriverSpec(r.next)); err != nil {
		return nil, driverFault(r.vm, err)
	}
	if err := from.Destroy(ctx, id, false); err != nil && !errors.Is(err, driver.ErrVMNotFound) {
		if derr := to.Destroy(context.Background(), id, false); derr != nil {
			s.log.Warn("forget vm on target host after failed migration", "vm", r.vm.Self.Value, "err", derr)
		}
		return nil, driverFault(r.vm, err)
	}
	return func() {
		bg := context.Background()
		if err := from.Create(bg, vmDriverSpec(r.vm)); err != nil && !errors.Is(err, driver.ErrVMExists) {
			s.log.Warn("restore vm on source host after failed migration", "vm", r.vm.Self.Value, "err", err)
		}
		if err := to.Destroy(bg, id, false); err != nil {
			s.log.Warn("forget vm on target host after failed migration", "vm", r.vm.Self.Value, "err", err)
		}
	}, nil
}

// deleteOldFiles deletes what a committed move left behind: the copied
// disks' old files and, when the home directory moved, the old directory
// (or, when another VM keeps files in it, only this VM's configuration
// file).
func (s *Service) deleteOldFiles(r *relocation) {
	var old []string
	for _, c := range r.copies {
		old = append(old, c.src)
	}
	if r.oldDir != "" {
		if s.dirShared(r.vm) || filesUnder(r.next, r.oldDir+"/") {
			old = append(old, r.vm.Config.Files.VmPathName)
		} else {
			old = append(old, r.oldDir)
		}
	}
	host := r.from
	if h := inventory.Get[mo.HostSystem](s.reg, r.from.Self); h != nil {
		host = h
	}
	s.deleteFiles(host, old)
}

// deleteFiles removes files and directories through h's driver, in reverse
// order (files before the directories holding them), logging failures.
func (s *Service) deleteFiles(h *mo.HostSystem, paths []string) {
	if len(paths) == 0 {
		return
	}
	files, err := s.hostFilesOf(h)
	if err != nil {
		s.log.Warn("delete files", "host", h.Name, "err", err)
		return
	}
	for i := len(paths) - 1; i >= 0; i-- {
		if err := files.Remove(context.Background(), paths[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("delete file", "file", paths[i], "err", err)
		}
	}
}

// filesUnder reports whether a file-backed device of vm has a file under
// the datastore directory dir ("[ds] vm/").
func filesUnder(vm *mo.VirtualMachine, dir string) bool {
	for _, d := range vm.Config.Hardware.Device {
		if fb, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok &&
			strings.HasPrefix(fb.GetVirtualDeviceFileBackingInfo().FileName, dir) {
			return true
		}
	}
	return false
}
