package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// The VirtualMachine managed object lives in the vm_*.go and device*.go
// files: vm_create.go (Folder.CreateVM_Task), vm_power.go (power operations),
// vm_reconfig.go (ReconfigVM_Task), device.go (deviceChange), vm_lifecycle.go
// (rename, destroy, unregister, templates), vm_derive.go (summary, storage,
// layout and the inventory lists a VM appears in) and vm_events.go.

// registerVirtualMachine registers the methods of VirtualMachine, and the
// VM-related methods of Folder and Datacenter.
func (s *Service) registerVirtualMachine(t *soap.Table) {
	soap.Register(t, "Folder", "CreateVM_Task", s.createVMTask)
	soap.Register(t, "Datacenter", "PowerOnMultiVM_Task", s.powerOnMultiVM)
	soap.Register(t, "VirtualMachine", "PowerOnVM_Task", s.powerOnVM)
	soap.Register(t, "VirtualMachine", "PowerOffVM_Task", s.powerOffVM)
	soap.Register(t, "VirtualMachine", "ResetVM_Task", s.resetVM)
	soap.Register(t, "VirtualMachine", "SuspendVM_Task", s.suspendVM)
	soap.Register(t, "VirtualMachine", "ShutdownGuest", s.shutdownGuest)
	soap.Register(t, "VirtualMachine", "RebootGuest", s.rebootGuest)
	soap.Register(t, "VirtualMachine", "StandbyGuest", s.standbyGuest)
	soap.Register(t, "VirtualMachine", "ReconfigVM_Task", s.reconfigVM)
	soap.Register(t, "VirtualMachine", "Rename_Task", s.renameVM)
	soap.Register(t, "VirtualMachine", "Destroy_Task", s.destroyVM)
	soap.Register(t, "VirtualMachine", "UnregisterVM", s.unregisterVM)
	soap.Register(t, "VirtualMachine", "MarkAsTemplate", s.markAsTemplate)
	soap.Register(t, "VirtualMachine", "MarkAsVirtualMachine", s.markAsVirtualMachine)
	soap.Register(t, "VirtualMachine", "UpgradeVM_Task", s.upgradeVM)
	soap.Register(t, "ClusterComputeResource", "PlaceVm", s.placeVm)
	s.registerProvisioning(t) // vm_provision.go
}

// vmCoordinator serializes the operations on each VM and allocates MAC
// addresses. Its zero value is ready to use.
type vmCoordinator struct {
	// mu guards locks and macs.
	mu    sync.Mutex
	locks map[string]*vmLock
	// macs holds every MAC address in use; nil until the first allocation
	// loads it from the inventory.
	macs map[string]bool
}

// vmLock is one VM's operation lock: a token in a one-slot channel, so a
// waiter can give up when its context ends.
type vmLock struct {
	ch   chan struct{}
	refs int // waiters and holder; guarded by vmCoordinator.mu
}

// lock waits until no other operation holds the lock named id (a VM's MoRef
// value, or any other key) and returns the function that releases it. It
// fails only when ctx ends first.
func (c *vmCoordinator) lock(ctx context.Context, id string) (unlock func(), err error) {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = map[string]*vmLock{}
	}
	l := c.locks[id]
	if l == nil {
		l = &vmLock{ch: make(chan struct{}, 1)}
		c.locks[id] = l
	}
	l.refs++
	c.mu.Unlock()

	release := func() {
		c.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(c.locks, id)
		}
		c.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	return func() {
		<-l.ch
		release()
	}, nil
}

// newMAC returns an unused vCenter-assigned MAC address (00:50:56:80:00:00
// to 00:50:56:bf:ff:ff) and records it as used. all lists the MAC addresses
// in use; it is called once, at the first allocation.
func (c *vmCoordinator) newMAC(all func() []string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loadMACsLocked(all)
	for {
		var b [3]byte
		_, _ = rand.Read(b[:])
		mac := fmt.Sprintf("00:50:56:%02x:%02x:%02x", 0x80|b[0]&0x3f, b[1], b[2])
		if !c.macs[mac] {
			c.macs[mac] = true
			return mac
		}
	}
}

// useMAC records a MAC address a client chose, and reports whether it was
// free.
func (c *vmCoordinator) useMAC(mac string, all func() []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loadMACsLocked(all)
	free := !c.macs[mac]
	c.macs[mac] = true
	return free
}

func (c *vmCoordinator) loadMACsLocked(all func() []string) {
	if c.macs != nil {
		return
	}
	c.macs = map[string]bool{}
	for _, m := range all() {
		c.macs[m] = true
	}
}

// inventoryMACs lists the MAC addresses of every VM's network adapters.
func (s *Service) inventoryMACs() []string {
	var out []string
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		vm := o.(*mo.VirtualMachine)
		if vm.Config == nil {
			return true
		}
		for _, d := range vm.Config.Hardware.Device {
			if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
				if mac := nic.GetVirtualEthernetCard().MacAddress; mac != "" {
					out = append(out, mac)
				}
			}
		}
		return true
	})
	return out
}

// vmFunc is the body of a VM task, run with the VM's lock held.
type vmFunc func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error)

// startVMTask starts a task on the VM ctx targets. fn runs once the VM's
// other operations have ended, with the VM as it is then.
func (s *Service) startVMTask(ctx *soap.Context, descID string, fn vmFunc) (types.ManagedObjectReference, error) {
	ref := ctx.This
	spec := task.Spec{Entity: ref, DescriptionID: descID, User: ctx.UserName(), ChainID: s.tasks.NextChainID()}
	return s.tasks.Start(ctx, spec, func(tctx context.Context, t *task.Task) (types.AnyType, error) {
		return s.withVM(tctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
			return fn(tctx, t, vm)
		})
	})
}

// withVM runs fn with the lock of the VM ref held, passing the VM as it is
// once the lock is held.
func (s *Service) withVM(ctx context.Context, ref types.ManagedObjectReference, fn func(vm *mo.VirtualMachine) (types.AnyType, error)) (types.AnyType, error) {
	unlock, err := s.vms.lock(ctx, ref.Value)
	if err != nil {
		return nil, err
	}
	defer unlock()
	vm := inventory.Get[mo.VirtualMachine](s.reg, ref)
	if vm == nil || vm.Config == nil {
		return nil, vim.ManagedObjectNotFound(ref)
	}
	return fn(vm)
}

// vmDriver returns the driver of the host vm runs on.
func (s *Service) vmDriver(vm *mo.VirtualMachine) (driver.Driver, error) {
	if vm.Runtime.Host == nil {
		return nil, vim.InvalidState("The virtual machine %s is not assigned to a host.", vm.Name)
	}
	return s.hostDriver(*vm.Runtime.Host)
}

// hostDriver returns the driver of host, or HostNotConnected.
func (s *Service) hostDriver(host types.ManagedObjectReference) (driver.Driver, error) {
	d, ok := s.hosts.Driver(host)
	if !ok {
		name := host.Value
		if h := inventory.Get[mo.HostSystem](s.reg, host); h != nil {
			name = h.Name
		}
		return nil, vim.NewFault(&types.HostNotConnected{},
			"Cannot complete operation because the host %s is not connected.", name)
	}
	return d, nil
}

// driverFault maps a driver error about vm to the fault vCenter reports.
func driverFault(vm *mo.VirtualMachine, err error) error {
	var pse *driver.PowerStateError
	switch {
	case errors.As(err, &pse):
		return vim.InvalidPowerState(types.VirtualMachinePowerState(pse.Current), types.VirtualMachinePowerState(pse.Requested))
	case errors.Is(err, driver.ErrNoTools):
		return vim.NewFault(&types.ToolsUnavailable{},
			"Cannot complete operation because VMware Tools is not running in this virtual machine.")
	case errors.Is(err, driver.ErrVMNotFound):
		return vim.InvalidState("The virtual machine %s is not registered on its host.", vm.Name)
	case errors.Is(err, driver.ErrDatastoreNotFound):
		return vim.NewFault(&types.InvalidDatastore{}, "A datastore of virtual machine %s is not available on its host: %v", vm.Name, err)
	case errors.Is(err, driver.ErrInvalidSpec):
		return vim.InvalidArgument("spec", "Virtual machine %s: %v", vm.Name, err)
	case errors.As(err, new(*agentproto.UnreachableError)):
		return vim.NewFault(&types.HostNotConnected{}, "Cannot complete operation on %s because its host does not answer: %v", vm.Name, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("virtual machine %s: host: %w", vm.Name, err)
}

// vmInstanceID is the id the host's driver knows vm by: its instance UUID.
func vmInstanceID(vm *mo.VirtualMachine) string { return vm.Config.InstanceUuid }
