package api

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// renameVM is Rename_Task on a VirtualMachine.
func (s *Service) renameVM(ctx *soap.Context, req *types.Rename_Task) (any, error) {
	newName := req.NewName
	ref, err := s.startVMTask(ctx, "VirtualMachine.rename", func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.rename(ctx, t.User, t.ChainID, vm, newName)
	})
	if err != nil {
		return nil, err
	}
	return &types.Rename_TaskResponse{Returnval: ref}, nil
}

// rename gives vm (the caller holds its lock) a new name, unique in its
// folder. Its files keep their names, as in vCenter.
func (s *Service) rename(ctx context.Context, user string, chain int32, vm *mo.VirtualMachine, newName string) error {
	name, err := vmNewName(newName) // vm_provision.go
	if err != nil {
		return err
	}
	if name == vm.Name {
		return nil
	}
	now := s.now()
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if err := s.checkVMName(tx, *vm.Parent, name, vm.Self); err != nil {
			return err
		}
		v := inventory.Edit[mo.VirtualMachine](tx, vm.Self)
		if v == nil {
			return vim.ManagedObjectNotFound(vm.Self)
		}
		v.Name, v.Config.Name, v.Summary.Config.Name = name, name, name
		v.Config.ChangeVersion, v.Config.Modified = changeVersion(now), now
		return nil
	})
	if err != nil {
		return err
	}
	s.saveVMX(ctx, vm.Self) // vmx.go
	s.postVMEvents(s.vmEventSpec(vm.Self, user, chain), &types.VmRenamedEvent{
		VmEvent: vmEvent(vm.Config.Template), OldName: vm.Name, NewName: name,
	})
	return nil
}

// destroyVM is Destroy_Task on a VirtualMachine.
func (s *Service) destroyVM(ctx *soap.Context, _ *types.Destroy_Task) (any, error) {
	ref, err := s.startVMTask(ctx, "VirtualMachine.destroy", func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.remove(ctx, t.User, t.ChainID, vm, true)
	})
	if err != nil {
		return nil, err
	}
	return &types.Destroy_TaskResponse{Returnval: ref}, nil
}

// unregisterVM is VirtualMachine.UnregisterVM: the VM leaves the inventory,
// its files stay.
func (s *Service) unregisterVM(ctx *soap.Context, _ *types.UnregisterVM) (any, error) {
	_, err := s.withVM(ctx, ctx.This, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.remove(ctx, ctx.UserName(), s.tasks.NextChainID(), vm, false)
	})
	if err != nil {
		return nil, err
	}
	return &types.UnregisterVMResponse{}, nil
}

// DestroyVM destroys the VM ref and its files as Destroy_Task does, and
// returns once it is gone.
func (s *Service) DestroyVM(ctx context.Context, user string, ref types.ManagedObjectReference) error {
	_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.remove(ctx, user, s.tasks.NextChainID(), vm, true)
	})
	return err
}

// remove takes vm (the caller holds its lock) out of the inventory and off
// its host; deleteFiles also deletes its files, as Destroy_Task does. A
// powered-on VM cannot be removed.
func (s *Service) remove(ctx context.Context, user string, chain int32, vm *mo.VirtualMachine, deleteFiles bool) error {
	if vm.Runtime.PowerState == poweredOn {
		return vim.InvalidPowerState(poweredOn, poweredOff)
	}
	drv, err := s.vmDriver(vm)
	if err != nil {
		return err
	}
	ev := s.vmEventSpec(vm.Self, user, chain)
	if err := s.forgetOnHost(ctx, drv, vm, deleteFiles); err != nil {
		return err
	}
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		cur := inventory.Get[mo.VirtualMachine](tx, vm.Self)
		if cur == nil {
			return nil
		}
		relinkVMTxn(tx, vm.Self, vmLinks(cur), nil)
		tx.Delete(vm.Self)
		return nil
	})
	if err != nil {
		return err
	}
	s.postVMEvents(ev, &types.VmRemovedEvent{VmEvent: vmEvent(vm.Config.Template)})
	return nil
}

// forgetOnHost has vm's host forget it, deleting its files when
// deleteFiles is set. A directory another VM keeps files in stays; only
// this VM's disks go.
func (s *Service) forgetOnHost(ctx context.Context, drv driver.Driver, vm *mo.VirtualMachine, deleteFiles bool) error {
	shared := deleteFiles && s.dirShared(vm)
	err := drv.Destroy(ctx, vmInstanceID(vm), deleteFiles && !shared)
	if err != nil && !errors.Is(err, driver.ErrVMNotFound) {
		return driverFault(vm, err)
	}
	if shared {
		for _, d := range vmDriverSpec(vm).Disks {
			if err := drv.DeleteFile(ctx, d.Path); err != nil {
				s.log.Warn("delete disk file", "vm", vm.Self.Value, "file", d.Path, "err", err)
			}
		}
	}
	return nil
}

// dirShared reports whether another VM keeps its configuration in vm's
// directory.
func (s *Service) dirShared(vm *mo.VirtualMachine) bool {
	dir := vmDirOf(vm.Config.Files.VmPathName)
	shared := false
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		other := o.(*mo.VirtualMachine)
		if other.Self.Value != vm.Self.Value && other.Config != nil && strings.HasPrefix(other.Config.Files.VmPathName, dir) {
			shared = true
		}
		return !shared
	})
	return shared
}

// markAsTemplate is VirtualMachine.MarkAsTemplate: a powered-off VM becomes
// a template, which belongs to no resource pool.
func (s *Service) markAsTemplate(ctx *soap.Context, _ *types.MarkAsTemplate) (any, error) {
	_, err := s.withVM(ctx, ctx.This, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		if vm.Config.Template {
			return nil, vim.NotSupported("%s is already a template.", vm.Name)
		}
		if vm.Runtime.PowerState != poweredOff {
			return nil, vim.InvalidPowerState(vm.Runtime.PowerState, poweredOff)
		}
		return nil, s.updateVM(ctx, vm.Self, *vm.Runtime.Host, func(v *mo.VirtualMachine) {
			v.Config.Template = true
			v.ResourcePool = nil
		})
	})
	if err != nil {
		return nil, err
	}
	return &types.MarkAsTemplateResponse{}, nil
}

// markAsVirtualMachine is VirtualMachine.MarkAsVirtualMachine: a template
// becomes a VM in pool, on host (or its current host when that belongs to
// the pool's compute resource, else a suitable one).
func (s *Service) markAsVirtualMachine(ctx *soap.Context, req *types.MarkAsVirtualMachine) (any, error) {
	_, err := s.withVM(ctx, ctx.This, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.templateToVM(ctx, vm, req.Pool, req.Host)
	})
	if err != nil {
		return nil, err
	}
	return &types.MarkAsVirtualMachineResponse{}, nil
}

func (s *Service) templateToVM(ctx context.Context, vm *mo.VirtualMachine, pool types.ManagedObjectReference, hostRef *types.ManagedObjectReference) error {
	if !vm.Config.Template {
		return vim.NotSupported("%s is not a template.", vm.Name)
	}
	cr, err := s.poolComputeResource(pool, *vm.Parent)
	if err != nil {
		return err
	}
	if hostRef == nil && containsRef(crHosts(cr), *vm.Runtime.Host) {
		hostRef = vm.Runtime.Host
	}
	ds, _, _ := splitDSPath(vm.Config.Files.VmPathName)
	host, err := s.vmHost(cr, hostRef, ds)
	if err != nil {
		return err
	}
	if host.Self.Value != vm.Runtime.Host.Value {
		if err := s.moveToHost(ctx, vm, host.Self); err != nil {
			return err
		}
	}
	err = s.updateVM(ctx, vm.Self, host.Self, func(v *mo.VirtualMachine) {
		v.Config.Template = false
		v.ResourcePool = &pool
		h := host.Self
		v.Runtime.Host = &h
	})
	if err != nil && host.Self.Value != vm.Runtime.Host.Value {
		if merr := s.moveToHost(context.WithoutCancel(ctx), vm, *vm.Runtime.Host); merr != nil {
			s.log.Warn("move template back to its host", "vm", vm.Self.Value, "err", merr)
		}
	}
	return err
}

// moveToHost registers powered-off vm on host and has its current host
// forget it; its files stay where they are.
func (s *Service) moveToHost(ctx context.Context, vm *mo.VirtualMachine, host types.ManagedObjectReference) error {
	to, err := s.hostDriver(host)
	if err != nil {
		return err
	}
	from, err := s.vmDriver(vm)
	if err != nil {
		return err
	}
	if err := to.Create(ctx, vmDriverSpec(vm)); err != nil && !errors.Is(err, driver.ErrVMExists) {
		return driverFault(vm, err)
	}
	if err := from.Destroy(ctx, vmInstanceID(vm), false); err != nil && !errors.Is(err, driver.ErrVMNotFound) {
		return driverFault(vm, err)
	}
	return nil
}

// updateVM applies fn to the VM ref in one transaction, with the VM on
// host, then recomputes its derived properties and inventory lists.
func (s *Service) updateVM(ctx context.Context, ref, host types.ManagedObjectReference, fn func(*mo.VirtualMachine)) error {
	now := s.now()
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		v := inventory.Edit[mo.VirtualMachine](tx, ref)
		if v == nil {
			return vim.ManagedObjectNotFound(ref)
		}
		env, err := s.newVMEnv(tx, host)
		if err != nil {
			return err
		}
		from := vmLinks(v)
		fn(v)
		v.Config.ChangeVersion, v.Config.Modified = changeVersion(now), now
		env.deriveVM(v, now)
		relinkVMTxn(tx, ref, from, vmLinks(v))
		return nil
	})
	if err == nil {
		s.saveVMX(ctx, ref) // vmx.go
	}
	return err
}

// upgradeVM is VirtualMachine.UpgradeVM_Task: a powered-off VM moves to a
// newer virtual hardware version (the newest, vmx-21, when none is given).
// A VM at the newest version gets InvalidState; one asked for a version not
// newer than its own, AlreadyUpgraded.
func (s *Service) upgradeVM(ctx *soap.Context, req *types.UpgradeVM_Task) (any, error) {
	version := req.Version
	ref, err := s.startVMTask(ctx, "VirtualMachine.upgradeVirtualHardware", func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.upgrade(ctx, t.User, t.ChainID, vm, version)
	})
	if err != nil {
		return nil, err
	}
	return &types.UpgradeVM_TaskResponse{Returnval: ref}, nil
}

func (s *Service) upgrade(ctx context.Context, user string, chain int32, vm *mo.VirtualMachine, version string) error {
	if vm.Runtime.PowerState != poweredOff {
		return vim.InvalidPowerState(vm.Runtime.PowerState, poweredOff)
	}
	if vm.Config.Template {
		return vim.InvalidState("%s is a template; convert it to a virtual machine to upgrade it.", vm.Name)
	}
	if vm.Config.Version == defaultHWVersion {
		return vim.InvalidState("The virtual machine %s already has the newest hardware version, %s.", vm.Name, defaultHWVersion)
	}
	if version == "" {
		version = defaultHWVersion
	}
	want, err := hwVersion(version)
	if err != nil {
		return err
	}
	if cur, _ := hwVersion(vm.Config.Version); want <= cur {
		return vim.NewFault(&types.AlreadyUpgraded{},
			"The virtual machine %s already has hardware version %s; choose a newer version than that.", vm.Name, vm.Config.Version)
	}
	ev := s.vmEventSpec(vm.Self, user, chain)
	s.postVMEvents(ev, &types.VmUpgradingEvent{VmEvent: vmEvent(false), Version: version})
	if err := s.updateVM(ctx, vm.Self, *vm.Runtime.Host, func(v *mo.VirtualMachine) { v.Config.Version = version }); err != nil {
		return err
	}
	s.postVMEvents(ev, &types.VmUpgradeCompleteEvent{VmEvent: vmEvent(false), Version: version})
	return nil
}

// hwVersion parses a virtual hardware version ("vmx-21") and checks that
// hosts of this server run it (vmx-4 to vmx-21).
func hwVersion(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "vmx-"))
	if err != nil || !strings.HasPrefix(v, "vmx-") || n < 4 || n > maxHWVersion {
		return 0, vim.InvalidArgument("version", "%q is not a supported hardware version; use vmx-4 to vmx-%d.", v, maxHWVersion)
	}
	return n, nil
}
