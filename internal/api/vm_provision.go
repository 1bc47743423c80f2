package api

import (
	"context"
	"errors"
	"fmt"
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

// VM provisioning: CloneVM_Task (this file), RelocateVM_Task and
// MigrateVM_Task (vm_provision_relocate.go), Folder.RegisterVM_Task
// (vm_provision_register.go) and CustomizeVM_Task (vm_customize.go).

// registerProvisioning registers the provisioning methods.
func (s *Service) registerProvisioning(t *soap.Table) {
	soap.Register(t, "VirtualMachine", "CloneVM_Task", s.cloneVMTask)
	soap.Register(t, "VirtualMachine", "RelocateVM_Task", s.relocateVMTask)
	soap.Register(t, "VirtualMachine", "MigrateVM_Task", s.migrateVMTask)
	soap.Register(t, "Folder", "RegisterVM_Task", s.registerVMTask)
	soap.Register(t, "VirtualMachine", "CustomizeVM_Task", s.customizeVMTask)
	soap.Register(t, "VirtualMachine", "CheckCustomizationSpec", s.checkCustomizationSpec)
}

// cloneVMTask is VirtualMachine.CloneVM_Task.
func (s *Service) cloneVMTask(ctx *soap.Context, req *types.CloneVM_Task) (any, error) {
	folder, name, spec := req.Folder, req.Name, req.Spec
	src := ctx.This
	tspec := task.Spec{Entity: src, DescriptionID: "VirtualMachine.clone", User: ctx.UserName(), ChainID: s.tasks.NextChainID()}
	ref, err := s.tasks.Start(ctx, tspec, func(ctx context.Context, t *task.Task) (types.AnyType, error) {
		return s.cloneVM(ctx, t.User, t.ChainID, src, folder, name, &spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.CloneVM_TaskResponse{Returnval: ref}, nil
}

// CloneVM clones the VM or template src into folder as name, as
// CloneVM_Task does, and returns the clone once it is durable (and, with
// spec.powerOn, running).
func (s *Service) CloneVM(ctx context.Context, user string, src, folder types.ManagedObjectReference, name string,
	spec types.VirtualMachineCloneSpec) (types.ManagedObjectReference, error) {
	return s.cloneVM(ctx, user, s.tasks.NextChainID(), src, folder, name, &spec)
}

// cloneVM makes the clone with the source's lock held, so the source does
// not change while its disks are copied, then powers it on if asked.
func (s *Service) cloneVM(ctx context.Context, user string, chain int32, src, folder types.ManagedObjectReference, name string,
	spec *types.VirtualMachineCloneSpec) (types.ManagedObjectReference, error) {
	spec = vim.DeepCopy(spec)
	res, err := s.withVM(ctx, src, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return s.clone(ctx, user, chain, vm, folder, name, spec)
	})
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	ref := res.(types.ManagedObjectReference)
	if spec.PowerOn && !spec.Template {
		_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
			return nil, s.power(ctx, user, chain, vm, powerOnOp)
		})
		if err != nil {
			return ref, err
		}
	}
	return ref, nil
}

// cloneTarget is where a clone goes, as checked by cloneTargetOf.
type cloneTarget struct {
	folder *mo.Folder
	name   string // escaped
	pool   *types.ManagedObjectReference
	cr     mo.Entity
	host   *mo.HostSystem
	env    *vmEnv
	ds     *mo.Datastore // of the clone's home directory
}

// clone makes the clone of src (the caller holds its lock): it checks the
// target, builds the clone's configuration, copies the disks into the
// clone's directory through the hosts' drivers, defines the clone on its
// host and commits it.
func (s *Service) clone(ctx context.Context, user string, chain int32, src *mo.VirtualMachine, folder types.ManagedObjectReference,
	name string, spec *types.VirtualMachineCloneSpec) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	if err := checkCloneSpec(src, spec); err != nil {
		return none, err
	}
	t, err := s.cloneTargetOf(src, folder, name, spec)
	if err != nil {
		return none, err
	}
	unlock, err := s.vms.lock(ctx, "vmdir:"+t.ds.Name+"/"+t.name)
	if err != nil {
		return none, err
	}
	defer unlock()
	drv, err := s.hostDriver(t.host.Self)
	if err != nil {
		return none, err
	}
	files, err := hostFiles(drv, t.host.Name)
	if err != nil {
		return none, err
	}
	dir, err := s.freeDatastoreDir(ctx, files, t.ds.Name, t.name)
	if err != nil {
		return none, err
	}
	b, err := s.buildClone(src, t, dsPath(t.ds.Name, dir), spec)
	if err != nil {
		return none, err
	}
	if err := files.Mkdir(ctx, dsPath(t.ds.Name, dir), false); err != nil {
		return none, pathFault(dsPath(t.ds.Name, dir), err)
	}
	ev := s.vmEventSpec(src.Self, user, chain)
	if !src.Config.Template {
		s.postVMEvents(ev, &types.VmBeingClonedEvent{
			VmCloneEvent: types.VmCloneEvent{VmEvent: vmEvent(false)},
			DestFolder:   types.FolderEventArgument{EntityEventArgument: types.EntityEventArgument{Name: t.folder.Name}, Folder: t.folder.Self},
			DestName:     t.name,
			DestHost:     types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: t.host.Name}, Host: t.host.Self},
		})
	}
	ref, err := s.defineClone(ctx, drv, src, t, b)
	if err != nil {
		s.removeDir(files, dsPath(t.ds.Name, dir))
		return none, err
	}
	s.saveVMX(ctx, ref)
	s.postCloneEvents(ref, user, chain, src, b.vm)
	return ref, nil
}

// defineClone copies the clone's disks, defines it on its host and commits
// it; on failure the host forgets it again.
func (s *Service) defineClone(ctx context.Context, drv driver.Driver, src *mo.VirtualMachine, t *cloneTarget, b *clonePlan) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	srcHost := inventory.Get[mo.HostSystem](s.reg, *src.Runtime.Host)
	if srcHost == nil {
		return none, vim.ManagedObjectNotFound(*src.Runtime.Host)
	}
	for _, c := range b.copies {
		if err := s.copyFile(ctx, srcHost, t.host, c.src, c.dst); err != nil {
			return none, err
		}
	}
	if err := drv.Create(ctx, vmDriverSpec(b.vm)); err != nil {
		return none, driverFault(b.vm, err)
	}
	need := []types.ManagedObjectReference{t.host.Self}
	if t.pool != nil {
		need = append(need, *t.pool)
	}
	ref, err := s.commitNewVM(ctx, b.vm, need...)
	if err != nil {
		if derr := drv.Destroy(context.WithoutCancel(ctx), vmInstanceID(b.vm), false); derr != nil {
			s.log.Warn("forget clone after failed commit", "vm", b.vm.Name, "err", derr)
		}
		return none, err
	}
	return ref, nil
}

// postCloneEvents posts the events of a finished clone: VmClonedEvent, or
// VmBeingDeployedEvent and VmDeployedEvent for a clone of a template, with
// the new VM's UUID events.
func (s *Service) postCloneEvents(ref types.ManagedObjectReference, user string, chain int32, src, clone *mo.VirtualMachine) {
	srcArg := types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: src.Name}, Vm: src.Self}
	tmpl := clone.Config.Template
	evs := []types.BaseEvent{
		&types.VmInstanceUuidAssignedEvent{VmEvent: vmEvent(tmpl), InstanceUuid: clone.Config.InstanceUuid},
		&types.VmUuidAssignedEvent{VmEvent: vmEvent(tmpl), Uuid: clone.Config.Uuid},
	}
	if src.Config.Template {
		evs = append(evs, &types.VmBeingDeployedEvent{VmEvent: vmEvent(tmpl), SrcTemplate: srcArg},
			&types.VmDeployedEvent{VmEvent: vmEvent(tmpl), SrcTemplate: srcArg})
	} else {
		evs = append(evs, &types.VmClonedEvent{VmCloneEvent: types.VmCloneEvent{VmEvent: vmEvent(tmpl)}, SourceVm: srcArg})
	}
	s.postVMEvents(s.vmEventSpec(ref, user, chain), evs...)
}

// checkCloneSpec refuses what clones cannot do here: a source that is not
// connected (InvalidState) or suspended (InvalidPowerState: the hosts
// cannot copy its saved memory), clones of snapshots (Vireo keeps no
// snapshots) and linked clones, which need one.
func checkCloneSpec(src *mo.VirtualMachine, spec *types.VirtualMachineCloneSpec) error {
	if cs := src.Runtime.ConnectionState; cs != "" && cs != types.VirtualMachineConnectionStateConnected {
		return vim.InvalidState("The virtual machine %s is %s; only a connected virtual machine can be cloned.", src.Name, cs)
	}
	if src.Runtime.PowerState == suspended {
		return vim.NewFault(&types.InvalidPowerState{RequestedState: poweredOff, ExistingState: suspended},
			"The virtual machine %s is suspended and its saved state cannot be copied; power it on or off, then clone it.", src.Name)
	}
	if spec.Snapshot != nil {
		return vim.InvalidArgument("spec.snapshot", "The virtual machine %s has no snapshot %s; clone its current state (leave spec.snapshot unset).",
			src.Name, spec.Snapshot.Value)
	}
	if err := checkDiskMoveType("spec.location.diskMoveType", spec.Location.DiskMoveType); err != nil {
		return err
	}
	for i, d := range spec.Location.Disk {
		if err := checkDiskMoveType(fmt.Sprintf("spec.location.disk[%d].diskMoveType", i), d.DiskMoveType); err != nil {
			return err
		}
	}
	return nil
}

// checkDiskMoveType accepts the full-copy disk move types.
func checkDiskMoveType(prop, t string) error {
	switch types.VirtualMachineRelocateDiskMoveOptions(t) {
	case "", types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndAllowSharing,
		types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndDisallowSharing,
		types.VirtualMachineRelocateDiskMoveOptionsMoveChildMostDiskBacking,
		types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndConsolidate:
		return nil
	case types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking:
		return vim.NotSupported("A linked clone (%s createNewChildDiskBacking) needs a snapshot of the source to share its disks, and Vireo keeps no snapshots yet; make a full clone (leave %s unset).", prop, prop)
	}
	return vim.InvalidArgument(prop, "%q is not a disk move type; use one of moveAllDiskBackingsAndDisallowSharing, moveAllDiskBackingsAndAllowSharing, moveChildMostDiskBacking or moveAllDiskBackingsAndConsolidate.", t)
}

// cloneTargetOf resolves and checks a clone's folder, name, pool, host and
// datastore. The pool defaults to the host's compute resource's (when a
// host is given) or the source's; the host to the source's when it belongs
// to the pool's compute resource and mounts the datastore; the datastore
// to the source's.
func (s *Service) cloneTargetOf(src *mo.VirtualMachine, folderRef types.ManagedObjectReference, name string,
	spec *types.VirtualMachineCloneSpec) (*cloneTarget, error) {
	t := &cloneTarget{}
	t.folder = inventory.Get[mo.Folder](s.reg, folderRef)
	if t.folder == nil {
		return nil, vim.ManagedObjectNotFound(folderRef)
	}
	if !vmHasString(t.folder.ChildType, "VirtualMachine") {
		return nil, vim.NotSupported("The folder %s cannot hold virtual machines; use a datacenter's VM folder.", t.folder.Name)
	}
	var err error
	if t.name, err = vmName(name); err != nil {
		return nil, err
	}
	if err := s.checkVMName(s.reg, folderRef, t.name, types.ManagedObjectReference{}); err != nil {
		return nil, err
	}
	loc := &spec.Location
	if loc.Folder != nil && loc.Folder.Value != folderRef.Value {
		return nil, vim.InvalidArgument("spec.location.folder", "The clone's folder is the folder argument; leave spec.location.folder unset or equal to it.")
	}
	pool, err := s.clonePool(src, loc)
	if err != nil && spec.Template {
		pool, err = s.hostPoolOf(src, err)
	}
	if err != nil {
		return nil, err
	}
	if t.cr, err = s.poolComputeResource(pool, folderRef); err != nil {
		return nil, err
	}
	if !spec.Template {
		t.pool = &pool
	}
	dsName, _, _ := splitDSPath(src.Config.Files.VmPathName)
	if loc.Datastore != nil {
		ds := inventory.Get[mo.Datastore](s.reg, *loc.Datastore)
		if ds == nil {
			return nil, vim.ManagedObjectNotFound(*loc.Datastore)
		}
		dsName = ds.Name
	}
	hostRef := loc.Host
	if hostRef == nil && containsRef(crHosts(t.cr), *src.Runtime.Host) {
		if h := inventory.Get[mo.HostSystem](s.reg, *src.Runtime.Host); h != nil && hostUsable(h) == nil && s.hostMounts(h, dsName) {
			hostRef = src.Runtime.Host
		}
	}
	if t.host, err = s.vmHost(t.cr, hostRef, dsName); err != nil {
		return nil, err
	}
	if t.env, err = s.newVMEnv(s.reg, t.host.Self); err != nil {
		return nil, err
	}
	if t.ds, err = t.env.datastore(dsName, dsPath(dsName, "")); err != nil {
		return nil, err
	}
	return t, nil
}

// clonePool returns the resource pool a clone (or relocated VM) goes to:
// the spec's, else the root pool of the given host's compute resource,
// else the source's. A template has none of its own.
func (s *Service) clonePool(src *mo.VirtualMachine, loc *types.VirtualMachineRelocateSpec) (types.ManagedObjectReference, error) {
	switch {
	case loc.Pool != nil:
		return *loc.Pool, nil
	case loc.Host != nil:
		h := inventory.Get[mo.HostSystem](s.reg, *loc.Host)
		if h == nil {
			return types.ManagedObjectReference{}, vim.ManagedObjectNotFound(*loc.Host)
		}
		if pool := hostRootPool(s.reg, h); pool != nil {
			return *pool, nil
		}
	case src.ResourcePool != nil:
		return *src.ResourcePool, nil
	}
	return types.ManagedObjectReference{}, vim.InvalidArgument("spec.location.pool",
		"%s is a template and belongs to no resource pool; give the clone a resource pool (spec.location.pool) or a host (spec.location.host).", src.Name)
}

// hostPoolOf returns the root pool of the compute resource of vm's host,
// which stands for the pool of a template (that has none) where only the
// placement needs one; err when there is none.
func (s *Service) hostPoolOf(vm *mo.VirtualMachine, err error) (types.ManagedObjectReference, error) {
	if h := inventory.Get[mo.HostSystem](s.reg, *vm.Runtime.Host); h != nil {
		if p := hostRootPool(s.reg, h); p != nil {
			return *p, nil
		}
	}
	return types.ManagedObjectReference{}, err
}

// hostRootPool returns the root resource pool of h's compute resource.
func hostRootPool(objs vmGetter, h *mo.HostSystem) *types.ManagedObjectReference {
	if h.Parent == nil {
		return nil
	}
	switch cr := objs.Get(*h.Parent).(type) {
	case *mo.ComputeResource:
		return cr.ResourcePool
	case *mo.ClusterComputeResource:
		return cr.ResourcePool
	}
	return nil
}

// clonePlan is a clone ready to be defined: the new VM and the files to
// copy for it.
type clonePlan struct {
	vm     *mo.VirtualMachine
	copies []fileCopy
}

// fileCopy is one file to copy from src to dst (datastore paths).
type fileCopy struct{ src, dst string }

// buildClone returns the clone of src described by t and spec, with its
// home directory dir ("[ds] name"): the source's configuration with a new
// name, UUIDs, MAC addresses, disk files in the clone's directory, then
// spec.config and spec.location.deviceChange applied as CreateVM applies a
// spec, and spec.customization recorded.
func (s *Service) buildClone(src *mo.VirtualMachine, t *cloneTarget, dir string, spec *types.VirtualMachineCloneSpec) (*clonePlan, error) {
	now := s.now()
	c := vim.DeepCopy(src.Config)
	c.Name, c.Template = t.name, false
	c.Uuid, c.InstanceUuid = vcenterUUID(0x42), vcenterUUID(0x50)
	c.CreateDate = &now
	c.ChangeVersion = ""
	vmx := dir + "/" + t.name + ".vmx"
	c.Files = types.VirtualMachineFileInfo{VmPathName: vmx, SnapshotDirectory: dir + "/", SuspendDirectory: dir + "/", LogDirectory: dir + "/"}
	if c.Tools != nil {
		c.Tools.PendingCustomization = ""
	}
	c.ExtraConfig = renameNVRAM(c.ExtraConfig, t.name)

	vm := newVMShell(t.name, t.folder.Self, t.pool, t.cr, t.host.Self)
	vm.Capability = src.Capability
	vm.Config = c
	plan := &clonePlan{vm: vm}
	renamed, err := s.cloneDevices(vm, t, spec.Location.Disk, plan)
	if err != nil {
		return nil, err
	}
	cfg := types.VirtualMachineConfigSpec{}
	if spec.Config != nil {
		cfg = *spec.Config
	}
	cfg.Name = ""
	cfg.DeviceChange = append(cfg.DeviceChange, spec.Location.DeviceChange...)
	for _, ch := range cfg.DeviceChange {
		retargetDisk(ch.GetVirtualDeviceConfigSpec().Device, renamed)
	}
	if _, err := s.configureNewVM(vm, &cfg, t.env); err != nil {
		return nil, err
	}
	plan.copies = keptCopies(vm, plan.copies)
	if err := s.checkVMBackings(vm, t.env); err != nil {
		return nil, err
	}
	if spec.Customization != nil {
		if err := s.applyCustomization(vm, spec.Customization); err != nil {
			return nil, err
		}
	}
	if spec.Template {
		vm.Config.Template = true
		vm.ResourcePool = nil
		t.env.deriveVM(vm, now)
	}
	return plan, nil
}

// renameNVRAM points the nvram entry of extraConfig at the clone's file.
func renameNVRAM(opts []types.BaseOptionValue, name string) []types.BaseOptionValue {
	for i, o := range opts {
		if ov := o.GetOptionValue(); ov.Key == "nvram" {
			opts[i] = &types.OptionValue{Key: "nvram", Value: name + ".nvram"}
		}
	}
	return opts
}

// cloneDevices gives the clone's devices what a copy needs: disks get new
// files in the clone's directory (or on the datastore a disk locator
// names), new UUIDs and content ids, queued as copies of the source's
// files; network adapters with a vCenter-assigned MAC get a new one. It
// returns the source file of each renamed disk file.
func (s *Service) cloneDevices(vm *mo.VirtualMachine, t *cloneTarget, locators []types.VirtualMachineRelocateSpecDiskLocator,
	plan *clonePlan) (map[string]string, error) {
	renamed := map[string]string{}
	used := map[string]bool{}
	dir := strings.TrimSuffix(vmDirOf(vm.Config.Files.VmPathName), "/")
	_, dirRel, _ := splitDSPath(dir)
	for _, d := range vm.Config.Hardware.Device {
		switch x := d.(type) {
		case *types.VirtualDisk:
			b, ok := x.Backing.(types.BaseVirtualDeviceFileBackingInfo)
			if !ok {
				continue
			}
			fi := b.GetVirtualDeviceFileBackingInfo()
			ds, err := s.diskTarget(t.env, t.ds, x.Key, locators, b)
			if err != nil {
				return nil, err
			}
			dst := newClonePath(ds.Name, dirRel, vm.Name, used)
			renamed[dst] = fi.FileName
			plan.copies = append(plan.copies, fileCopy{src: fi.FileName, dst: dst})
			fi.FileName, fi.Datastore = dst, &ds.Self
			if fb, ok := x.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				fb.Uuid, fb.ContentId, fb.Parent = "", "", nil
				flatDefaults(fb)
			}
		case types.BaseVirtualEthernetCard:
			nic := x.GetVirtualEthernetCard()
			if nic.AddressType != string(types.VirtualEthernetCardMacTypeManual) {
				nic.MacAddress = s.vms.newMAC(s.inventoryMACs)
				nic.AddressType = string(types.VirtualEthernetCardMacTypeAssigned)
			}
		}
	}
	return renamed, nil
}

// diskTarget returns the datastore a disk of a clone or relocated VM goes
// to: its locator's, else def. A locator may also change the disk's
// provisioning.
func (s *Service) diskTarget(env *vmEnv, def *mo.Datastore, key int32, locators []types.VirtualMachineRelocateSpecDiskLocator,
	backing types.BaseVirtualDeviceFileBackingInfo) (*mo.Datastore, error) {
	for _, l := range locators {
		if l.DiskId != key {
			continue
		}
		if nb, ok := l.DiskBackingInfo.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			if fb, ok := backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				if nb.ThinProvisioned != nil {
					fb.ThinProvisioned = types.NewBool(*nb.ThinProvisioned)
				}
				if nb.EagerlyScrub != nil {
					fb.EagerlyScrub = types.NewBool(*nb.EagerlyScrub)
				}
			}
		}
		ds := inventory.Get[mo.Datastore](s.reg, l.Datastore)
		if ds == nil {
			return nil, vim.ManagedObjectNotFound(l.Datastore)
		}
		return env.datastore(ds.Name, dsPath(ds.Name, ""))
	}
	return def, nil
}

// newClonePath names a disk file of a VM named name in directory dir of
// datastore ds: name.vmdk, then name_1.vmdk, ...; used holds the names
// taken so far.
func newClonePath(ds, dir, name string, used map[string]bool) string {
	for n := 0; ; n++ {
		file := name + ".vmdk"
		if n > 0 {
			file = fmt.Sprintf("%s_%d.vmdk", name, n)
		}
		p := dsPath(ds, path.Join(dir, file))
		if !used[p] {
			used[p] = true
			return p
		}
	}
}

// retargetDisk points a disk in a clone's device change that names a
// source disk file at the clone's copy of it.
func retargetDisk(d types.BaseVirtualDevice, renamed map[string]string) {
	disk, ok := d.(*types.VirtualDisk)
	if !ok {
		return
	}
	b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
	if !ok {
		return
	}
	fi := b.GetVirtualDeviceFileBackingInfo()
	for dst, src := range renamed {
		if fi.FileName == src {
			fi.FileName, fi.Datastore = dst, nil
		}
	}
}

// keptCopies returns the copies of the disk files vm still uses (a clone's
// spec may remove disks).
func keptCopies(vm *mo.VirtualMachine, copies []fileCopy) []fileCopy {
	var out []fileCopy
	for _, c := range copies {
		if vmUsesFile(vm, c.dst) {
			out = append(out, c)
		}
	}
	return out
}

// vmUsesFile reports whether a disk of vm has file p.
func vmUsesFile(vm *mo.VirtualMachine, p string) bool {
	for _, d := range vmDriverSpec(vm).Disks {
		if d.Path == p {
			return true
		}
	}
	return false
}

// checkVMBackings checks that vm's host (env's) can use every file and
// network vm's devices name: file-backed devices' datastores must be
// mounted, standard networks present.
func (s *Service) checkVMBackings(vm *mo.VirtualMachine, env *vmEnv) error {
	for _, d := range vm.Config.Hardware.Device {
		dev := d.GetVirtualDevice()
		if fb, ok := dev.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			name := fb.GetVirtualDeviceFileBackingInfo().FileName
			if ds, _, ok := splitDSPath(name); ok {
				if _, err := env.datastore(ds, name); err != nil {
					return vim.NewFault(&types.InvalidDatastore{Name: ds},
						"Host %s cannot reach datastore '%s', which holds %s (%s) of %s; choose a host that mounts it, or a datastore the host mounts.",
						env.host.Name, ds, deviceLabel(d), name, vm.Name)
				}
			}
		}
		if nb, ok := dev.Backing.(*types.VirtualEthernetCardNetworkBackingInfo); ok {
			if _, ok := env.network(nb.DeviceName); !ok {
				return vim.NewFault(&types.InvalidDeviceBacking{},
					"Network '%s' of %s of %s is not available on host %s; choose a host on that network, or change the adapter's network (deviceChange).",
					nb.DeviceName, deviceLabel(d), vm.Name, env.host.Name)
			}
		}
	}
	return nil
}

// commitNewVM adds vm (no MoRef yet) to the inventory in its folder
// (vm.Parent), with a new MoRef, checking in the same transaction that its
// name is still free there and that the objects need still exist.
func (s *Service) commitNewVM(ctx context.Context, vm *mo.VirtualMachine, need ...types.ManagedObjectReference) (types.ManagedObjectReference, error) {
	var ref types.ManagedObjectReference
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if err := s.checkVMName(tx, *vm.Parent, vm.Name, types.ManagedObjectReference{}); err != nil {
			return err
		}
		for _, r := range need {
			if tx.Get(r) == nil {
				return vim.ManagedObjectNotFound(r)
			}
		}
		ref = tx.NewRef("VirtualMachine")
		vm.Self = ref
		vm.Summary.Vm = &ref
		if vm.ResourceConfig != nil {
			vm.ResourceConfig.Entity = &ref
		}
		tx.Create(vm, true)
		relinkVMTxn(tx, ref, nil, vmLinks(vm))
		return nil
	})
	return ref, err
}

// freeDatastoreDir returns base, or base_1, base_2, ...: the first
// directory of datastore ds that neither exists nor holds a VM of the
// inventory.
func (s *Service) freeDatastoreDir(ctx context.Context, files driver.Files, ds, base string) (string, error) {
	for n := 0; ; n++ {
		cand := base
		if n > 0 {
			cand = fmt.Sprintf("%s_%d", base, n)
		}
		if s.freeVMDir(ds, cand) != cand {
			continue
		}
		_, err := files.Stat(ctx, dsPath(ds, cand))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return cand, nil
		case err != nil:
			return "", pathFault(dsPath(ds, cand), err)
		}
	}
}

// copyFile copies the datastore file src, on a datastore srcHost mounts,
// to dst, on one dstHost mounts: with one host's driver when it mounts
// both datastores, else streamed from srcHost's driver to dstHost's.
func (s *Service) copyFile(ctx context.Context, srcHost, dstHost *mo.HostSystem, src, dst string) error {
	srcDS, _, _ := splitDSPath(src)
	dstDS, _, _ := splitDSPath(dst)
	for _, h := range []*mo.HostSystem{dstHost, srcHost} {
		if s.hostMounts(h, srcDS) && s.hostMounts(h, dstDS) {
			files, err := s.hostFilesOf(h)
			if err != nil {
				return err
			}
			if err := files.Copy(ctx, src, dst, false); err != nil {
				return pathFault(src, err)
			}
			return nil
		}
	}
	from, err := s.hostFilesOf(srcHost)
	if err != nil {
		return err
	}
	to, err := s.hostFilesOf(dstHost)
	if err != nil {
		return err
	}
	sp, err := parseFilePath(src)
	if err != nil {
		return err
	}
	dp, err := parseFilePath(dst)
	if err != nil {
		return err
	}
	return transferTree(ctx, from, to, sp, dp)
}

// hostFilesOf returns the file access of host h's driver.
func (s *Service) hostFilesOf(h *mo.HostSystem) (driver.Files, error) {
	drv, err := s.hostDriver(h.Self)
	if err != nil {
		return nil, err
	}
	return hostFiles(drv, h.Name)
}

// removeDir deletes a directory made for a VM whose creation failed.
func (s *Service) removeDir(files driver.Files, dir string) {
	if err := files.Remove(context.Background(), dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("remove directory after failed operation", "dir", dir, "err", err)
	}
}

// pathFault is fileFault for the datastore path p.
func pathFault(p string, err error) error {
	fp, perr := parseFilePath(p)
	if perr != nil {
		return perr
	}
	return fileFault(err, fp)
}

// vmNewName checks a new name for an existing VM (ReconfigVM_Task's
// spec.name, Rename_Task): it is kept as given, with its '/' and '\', as
// govc (which finds such names by their path, "vm/a/b") and vcsim expect;
// a '%' that starts no %XX escape is escaped as %25, as the API asks
// clients to. A new VM's name (CreateVM_Task, CloneVM_Task) is escaped
// fully by vmName.
func vmNewName(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", vim.NewFault(&types.InvalidName{Name: name}, "A virtual machine needs a name.")
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '%' && !(i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(name[i])
	}
	esc := b.String()
	if len([]rune(esc)) > 80 {
		return "", vim.NewFault(&types.InvalidName{Name: name}, "The name '%s' is longer than 80 characters.", name)
	}
	return esc, nil
}
