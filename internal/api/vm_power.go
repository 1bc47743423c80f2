package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

const (
	poweredOn  = types.VirtualMachinePowerStatePoweredOn
	poweredOff = types.VirtualMachinePowerStatePoweredOff
	suspended  = types.VirtualMachinePowerStateSuspended
)

// powerOp is one power operation: the states it starts from, the driver
// call that performs it, and the events posted before and after.
type powerOp struct {
	descID string
	// from lists the states the operation starts from; in any other state
	// it fails with InvalidPowerState requiring required.
	from     []types.VirtualMachinePowerState
	required types.VirtualMachinePowerState
	call     func(d driver.Driver, ctx context.Context, id string) error
	// before returns the events posted before the call, given the state the
	// VM starts in; after those posted once the VM reached its new state.
	before func(from types.VirtualMachinePowerState) []types.BaseEvent
	after  func() []types.BaseEvent
}

// vmEvents lists events, for powerOp's event functions.
func vmEvents(evs ...types.BaseEvent) []types.BaseEvent { return evs }

var (
	powerOnOp = &powerOp{
		descID: "VirtualMachine.powerOn", from: []types.VirtualMachinePowerState{poweredOff, suspended}, required: poweredOff,
		call: driver.Driver.PowerOn,
		before: func(from types.VirtualMachinePowerState) []types.BaseEvent {
			if from == suspended {
				return vmEvents(&types.VmResumingEvent{})
			}
			return vmEvents(&types.VmStartingEvent{})
		},
		after: func() []types.BaseEvent { return vmEvents(&types.VmPoweredOnEvent{}) },
	}
	powerOffOp = &powerOp{
		descID: "VirtualMachine.powerOff", from: []types.VirtualMachinePowerState{poweredOn, suspended}, required: poweredOn,
		call:   driver.Driver.PowerOff,
		before: func(types.VirtualMachinePowerState) []types.BaseEvent { return vmEvents(&types.VmStoppingEvent{}) },
		after:  func() []types.BaseEvent { return vmEvents(&types.VmPoweredOffEvent{}) },
	}
	resetOp = &powerOp{
		descID: "VirtualMachine.reset", from: []types.VirtualMachinePowerState{poweredOn}, required: poweredOn,
		call:   driver.Driver.Reset,
		before: func(types.VirtualMachinePowerState) []types.BaseEvent { return vmEvents(&types.VmResettingEvent{}) },
	}
	suspendOp = &powerOp{
		descID: "VirtualMachine.suspend", from: []types.VirtualMachinePowerState{poweredOn}, required: poweredOn,
		call:   driver.Driver.Suspend,
		before: func(types.VirtualMachinePowerState) []types.BaseEvent { return vmEvents(&types.VmSuspendingEvent{}) },
		after:  func() []types.BaseEvent { return vmEvents(&types.VmSuspendedEvent{}) },
	}
	shutdownGuestOp = &powerOp{
		descID: "VirtualMachine.shutdownGuest", from: []types.VirtualMachinePowerState{poweredOn}, required: poweredOn,
		call:   driver.Driver.ShutdownGuest,
		before: func(types.VirtualMachinePowerState) []types.BaseEvent { return vmEvents(&types.VmGuestShutdownEvent{}) },
		after:  func() []types.BaseEvent { return vmEvents(&types.VmPoweredOffEvent{}) },
	}
	rebootGuestOp = &powerOp{
		descID: "VirtualMachine.rebootGuest", from: []types.VirtualMachinePowerState{poweredOn}, required: poweredOn,
		call:   driver.Driver.RebootGuest,
		before: func(types.VirtualMachinePowerState) []types.BaseEvent { return vmEvents(&types.VmGuestRebootEvent{}) },
	}
	// The host puts a guest to sleep as it suspends the VM; without tools
	// that is an ACPI sleep, as ShutdownGuest is a power-button press.
	standbyGuestOp = &powerOp{
		descID: "VirtualMachine.standbyGuest", from: []types.VirtualMachinePowerState{poweredOn}, required: poweredOn,
		call:   driver.Driver.Suspend,
		before: func(types.VirtualMachinePowerState) []types.BaseEvent { return vmEvents(&types.VmGuestStandbyEvent{}) },
		after:  func() []types.BaseEvent { return vmEvents(&types.VmSuspendedEvent{}) },
	}
)

// powerTask starts a task running op on the VM ctx targets.
func (s *Service) powerTask(ctx *soap.Context, op *powerOp) (types.ManagedObjectReference, error) {
	return s.startVMTask(ctx, op.descID, func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.power(ctx, t.User, t.ChainID, vm, op)
	})
}

// powerGuest runs op on the VM ctx targets within the call, as the guest
// operations (ShutdownGuest, RebootGuest, StandbyGuest) do.
func (s *Service) powerGuest(ctx *soap.Context, op *powerOp) error {
	_, err := s.withVM(ctx, ctx.This, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.power(ctx, ctx.UserName(), s.tasks.NextChainID(), vm, op)
	})
	return err
}

func (s *Service) powerOnVM(ctx *soap.Context, _ *types.PowerOnVM_Task) (any, error) {
	ref, err := s.powerTask(ctx, powerOnOp)
	if err != nil {
		return nil, err
	}
	return &types.PowerOnVM_TaskResponse{Returnval: ref}, nil
}

func (s *Service) powerOffVM(ctx *soap.Context, _ *types.PowerOffVM_Task) (any, error) {
	ref, err := s.powerTask(ctx, powerOffOp)
	if err != nil {
		return nil, err
	}
	return &types.PowerOffVM_TaskResponse{Returnval: ref}, nil
}

func (s *Service) resetVM(ctx *soap.Context, _ *types.ResetVM_Task) (any, error) {
	ref, err := s.powerTask(ctx, resetOp)
	if err != nil {
		return nil, err
	}
	return &types.ResetVM_TaskResponse{Returnval: ref}, nil
}

func (s *Service) suspendVM(ctx *soap.Context, _ *types.SuspendVM_Task) (any, error) {
	ref, err := s.powerTask(ctx, suspendOp)
	if err != nil {
		return nil, err
	}
	return &types.SuspendVM_TaskResponse{Returnval: ref}, nil
}

func (s *Service) shutdownGuest(ctx *soap.Context, _ *types.ShutdownGuest) (any, error) {
	if err := s.powerGuest(ctx, shutdownGuestOp); err != nil {
		return nil, err
	}
	return &types.ShutdownGuestResponse{}, nil
}

func (s *Service) rebootGuest(ctx *soap.Context, _ *types.RebootGuest) (any, error) {
	if err := s.powerGuest(ctx, rebootGuestOp); err != nil {
		return nil, err
	}
	return &types.RebootGuestResponse{}, nil
}

func (s *Service) standbyGuest(ctx *soap.Context, _ *types.StandbyGuest) (any, error) {
	if err := s.powerGuest(ctx, standbyGuestOp); err != nil {
		return nil, err
	}
	return &types.StandbyGuestResponse{}, nil
}

// PowerVM changes the power state of the VM ref to state (poweredOn,
// poweredOff or suspended) as the *VM_Task methods do, and returns once the
// host reports the new state.
func (s *Service) PowerVM(ctx context.Context, user string, ref types.ManagedObjectReference, state types.VirtualMachinePowerState) error {
	op := map[types.VirtualMachinePowerState]*powerOp{poweredOn: powerOnOp, poweredOff: powerOffOp, suspended: suspendOp}[state]
	if op == nil {
		return vim.InvalidArgument("state", "%q is not a power state; use poweredOn, poweredOff or suspended.", state)
	}
	_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.power(ctx, user, s.tasks.NextChainID(), vm, op)
	})
	return err
}

// PowerOnVM powers on the VM ref as PowerOnVM_Task does, and returns once
// the host reports it running.
func (s *Service) PowerOnVM(ctx context.Context, user string, ref types.ManagedObjectReference) error {
	return s.PowerVM(ctx, user, ref, poweredOn)
}

// power runs op on vm (the caller holds its lock): it checks the VM's
// state, has the host's driver do the transition, then records the state
// the driver reports.
func (s *Service) power(ctx context.Context, user string, chain int32, vm *mo.VirtualMachine, op *powerOp) error {
	if vm.Config.Template {
		return vim.InvalidState("%s is a template; convert it to a virtual machine (MarkAsVirtualMachine) to power it on.", vm.Name)
	}
	from := vm.Runtime.PowerState
	ok := false
	for _, st := range op.from {
		ok = ok || st == from
	}
	if !ok {
		return vim.InvalidPowerState(from, op.required)
	}
	if op == powerOnOp && vm.Runtime.Host != nil {
		if h := inventory.Get[mo.HostSystem](s.reg, *vm.Runtime.Host); h != nil {
			if err := hostUsable(h); err != nil {
				return err
			}
		}
	}
	drv, err := s.vmDriver(vm)
	if err != nil {
		return err
	}
	ev := s.vmEventSpec(vm.Self, user, chain)
	if op.before != nil {
		s.postVMEvents(ev, withVMEvent(vm, op.before(from))...)
	}
	if err := op.call(drv, ctx, vmInstanceID(vm)); err != nil {
		return driverFault(vm, err)
	}
	reached, err := s.refreshVM(ctx, drv, vm.Self)
	if err != nil {
		return err
	}
	// A guest asked to shut down may still be running; the events tell
	// what happened.
	if op.after != nil && reached != from {
		s.postVMEvents(ev, withVMEvent(vm, op.after())...)
	}
	if op == powerOnOp && reached == poweredOn {
		s.finishCustomization(ctx, ev, vm.Self) // vm_customize.go
	}
	return nil
}

// withVMEvent marks evs (VM events) with vm's template flag.
func withVMEvent(vm *mo.VirtualMachine, evs []types.BaseEvent) []types.BaseEvent {
	for _, ev := range evs {
		if v, ok := ev.(interface{ GetVmEvent() *types.VmEvent }); ok {
			v.GetVmEvent().Template = vm.Config.Template
		}
	}
	return evs
}

// refreshVM records the runtime state the host's driver reports for the VM
// ref (power state, boot time, device connections and guest information),
// and returns the power state.
func (s *Service) refreshVM(ctx context.Context, drv driver.Driver, ref types.ManagedObjectReference) (types.VirtualMachinePowerState, error) {
	cur := inventory.Get[mo.VirtualMachine](s.reg, ref)
	if cur == nil {
		return "", vim.ManagedObjectNotFound(ref)
	}
	st, err := drv.State(ctx, vmInstanceID(cur))
	if err != nil {
		return "", driverFault(cur, err)
	}
	now := s.now()
	return types.VirtualMachinePowerState(st.PowerState), s.reg.Update(ctx, func(tx *inventory.Txn) error {
		vm := inventory.Edit[mo.VirtualMachine](tx, ref)
		if vm == nil {
			return vim.ManagedObjectNotFound(ref)
		}
		env, err := s.newVMEnv(tx, *vm.Runtime.Host)
		if err != nil {
			return err
		}
		from := vmLinks(vm)
		applyRuntime(vm, env.host, st, now)
		env.deriveVM(vm, now)
		relinkVMTxn(tx, ref, from, vmLinks(vm))
		return nil
	})
}

// applyRuntime sets vm's runtime, device connection states and guest
// information from the state its host reports.
func applyRuntime(vm *mo.VirtualMachine, host *mo.HostSystem, st driver.VMState, now time.Time) {
	ps := types.VirtualMachinePowerState(st.PowerState)
	rt := &vm.Runtime
	was := rt.PowerState
	rt.PowerState = ps
	rt.BootTime, rt.SuspendTime = nil, nil
	switch ps {
	case poweredOn:
		if !st.BootTime.IsZero() {
			bt := st.BootTime
			rt.BootTime = &bt
		}
	case suspended:
		t := now
		if was == suspended && vm.Runtime.SuspendTime != nil {
			t = *vm.Runtime.SuspendTime
		}
		rt.SuspendTime = &t
	}
	rt.MaxMemoryUsage = vm.Config.Hardware.MemoryMB
	if host.Summary.Hardware != nil {
		rt.MaxCpuUsage = vm.Config.Hardware.NumCPU * host.Summary.Hardware.CpuMhz
	}
	for _, d := range vm.Config.Hardware.Device {
		c := d.GetVirtualDevice().Connectable
		if c == nil {
			continue
		}
		c.Connected = ps == poweredOn && (c.StartConnected || was == poweredOn && c.Connected)
		c.Status = string(types.VirtualDeviceConnectInfoStatusUntried)
		if c.Connected {
			c.Status = string(types.VirtualDeviceConnectInfoStatusOk)
		}
	}
	vm.Summary.QuickStats = types.VirtualMachineQuickStats{}
	if ps == poweredOn {
		q := &vm.Summary.QuickStats
		q.OverallCpuUsage, q.GuestMemoryUsage = st.CPUUsageMHz, st.MemoryUsageMB
		q.HostMemoryUsage = vm.Config.Hardware.MemoryMB
		if rt.BootTime != nil {
			q.UptimeSeconds = int32(now.Sub(*rt.BootTime) / time.Second)
		}
	}
	if ps == poweredOn && st.ToolsRunning {
		setGuestRunning(vm, st, now)
	} else {
		setGuestStopped(vm)
	}
}

// toolsVersionString is toolsVersionRunning as guest.toolsVersion shows it.
var toolsVersionString = strconv.Itoa(toolsVersionRunning)

// appHeartbeatTimeout is how long after software in a guest last sent an
// application heartbeat its application still counts as alive.
const appHeartbeatTimeout = 30 * time.Second

// appHeartbeatStatus is guest.appHeartbeatStatus for a guest's report:
// gray while no application in it sends heartbeats, the status it reports
// (green unless it says otherwise) while they arrive, and red once they
// stopped, which is what vSphere HA's application monitoring acts on.
func appHeartbeatStatus(st driver.VMState, now time.Time) string {
	switch {
	case st.AppHeartbeat.IsZero():
		return string(types.VirtualMachineAppHeartbeatStatusTypeAppStatusGray)
	case now.Sub(st.AppHeartbeat) > appHeartbeatTimeout:
		return string(types.VirtualMachineAppHeartbeatStatusTypeAppStatusRed)
	case st.AppStatus != "":
		return st.AppStatus
	}
	return string(types.VirtualMachineAppHeartbeatStatusTypeAppStatusGreen)
}

// setGuestRunning fills vm's guest information from a running guest's
// report: tools running, heartbeat green, host name, addresses and the
// application heartbeat.
func setGuestRunning(vm *mo.VirtualMachine, st driver.VMState, now time.Time) {
	c := vm.Config
	if c.Tools == nil {
		c.Tools = &types.ToolsConfigInfo{}
	}
	c.Tools.ToolsVersion = toolsVersionRunning
	c.Tools.ToolsInstallType = string(types.VirtualMachineToolsInstallTypeGuestToolsTypeOpenVMTools)
	g := &types.GuestInfo{
		ToolsStatus:          types.VirtualMachineToolsStatusToolsOk,
		ToolsVersionStatus:   string(types.VirtualMachineToolsVersionStatusGuestToolsUnmanaged),
		ToolsVersionStatus2:  string(types.VirtualMachineToolsVersionStatusGuestToolsUnmanaged),
		ToolsRunningStatus:   string(types.VirtualMachineToolsRunningStatusGuestToolsRunning),
		ToolsVersion:         toolsVersionString,
		ToolsInstallType:     c.Tools.ToolsInstallType,
		GuestId:              c.GuestId,
		GuestFamily:          guestFamily(c.GuestId),
		GuestFullName:        c.GuestFullName,
		HostName:             st.HostName,
		IpAddress:            st.IPAddress,
		GuestState:           string(types.VirtualMachineGuestStateRunning),
		AppHeartbeatStatus:   appHeartbeatStatus(st, now),
		GuestKernelCrashed:   types.NewBool(false),
		AppState:             string(types.GuestInfoAppStateTypeNone),
		GuestOperationsReady: types.NewBool(true),

		InteractiveGuestOperationsReady: types.NewBool(false),
		GuestStateChangeSupported:       types.NewBool(true),
		HwVersion:                       c.Version,
	}
	first := true
	for _, d := range c.Hardware.Device {
		nic, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		n := nic.GetVirtualEthernetCard()
		info := types.GuestNicInfo{
			Network: deviceSummary(d, ""), MacAddress: n.MacAddress, DeviceConfigId: n.Key,
			Connected: n.Connectable != nil && n.Connectable.Connected,
		}
		if first && st.IPAddress != "" {
			info.IpAddress = []string{st.IPAddress}
			info.IpConfig = &types.NetIpConfigInfo{IpAddress: []types.NetIpConfigInfoIpAddress{{
				IpAddress: st.IPAddress, PrefixLength: guestPrefixLength(vm, st.IPAddress), State: string(types.NetIpConfigInfoIpAddressStatusPreferred),
			}}}
			first = false
		}
		g.Net = append(g.Net, info)
	}
	vm.Guest = g
	vm.GuestHeartbeatStatus = types.ManagedEntityStatusGreen
}

// setGuestStopped fills vm's guest information for a guest that does not
// run: tools not running (or not installed, for a guest that never ran
// them), heartbeat gray.
func setGuestStopped(vm *mo.VirtualMachine) {
	installed := vm.Config.Tools != nil && vm.Config.Tools.ToolsVersion != 0
	g := &types.GuestInfo{
		ToolsStatus:         types.VirtualMachineToolsStatusToolsNotInstalled,
		ToolsVersionStatus:  string(types.VirtualMachineToolsVersionStatusGuestToolsNotInstalled),
		ToolsVersionStatus2: string(types.VirtualMachineToolsVersionStatusGuestToolsNotInstalled),
		ToolsRunningStatus:  string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning),
		ToolsVersion:        "0",
		GuestState:          string(types.VirtualMachineGuestStateNotRunning),
		HwVersion:           vm.Config.Version,
	}
	if installed {
		g.ToolsStatus = types.VirtualMachineToolsStatusToolsNotRunning
		g.ToolsVersionStatus = string(types.VirtualMachineToolsVersionStatusGuestToolsUnmanaged)
		g.ToolsVersionStatus2 = g.ToolsVersionStatus
		g.ToolsVersion = strconv.Itoa(int(vm.Config.Tools.ToolsVersion))
		g.ToolsInstallType = vm.Config.Tools.ToolsInstallType
		g.GuestId, g.GuestFamily, g.GuestFullName = vm.Config.GuestId, guestFamily(vm.Config.GuestId), vm.Config.GuestFullName
	}
	vm.Guest = g
	vm.GuestHeartbeatStatus = types.ManagedEntityStatusGray
}

// powerOnMultiVM is Datacenter.PowerOnMultiVM_Task: it starts a power-on
// task for each VM that can be powered on, lists the others as not
// attempted with the reason, and completes once the attempts did.
func (s *Service) powerOnMultiVM(ctx *soap.Context, req *types.PowerOnMultiVM_Task) (any, error) {
	user, dc := ctx.UserName(), ctx.This
	spec := task.Spec{Entity: dc, DescriptionID: "Datacenter.powerOnVm", User: user, ChainID: s.tasks.NextChainID()}
	ref, err := s.tasks.Start(ctx, spec, func(ctx context.Context, t *task.Task) (types.AnyType, error) {
		return s.powerOnMany(ctx, user, dc, req.Vm)
	})
	if err != nil {
		return nil, err
	}
	return &types.PowerOnMultiVM_TaskResponse{Returnval: ref}, nil
}

// powerOnMany powers on the VMs refs of datacenter dc in parallel, one task
// each, and waits for them.
func (s *Service) powerOnMany(ctx context.Context, user string, dc types.ManagedObjectReference, refs []types.ManagedObjectReference) (types.AnyType, error) {
	res := types.ClusterPowerOnVmResult{}
	notAttempted := func(ref types.ManagedObjectReference, f *vim.Fault) {
		res.NotAttempted = append(res.NotAttempted, types.ClusterNotAttemptedVmInfo{Vm: ref, Fault: *f.Localized()})
	}
	var dones []chan struct{}
	for _, ref := range refs {
		vm := inventory.Get[mo.VirtualMachine](s.reg, ref)
		switch {
		case vm == nil || vm.Config == nil:
			notAttempted(ref, vim.ManagedObjectNotFound(ref))
			continue
		case datacenterOf(s.reg, ref) == nil || datacenterOf(s.reg, ref).Self.Value != dc.Value:
			notAttempted(ref, vim.InvalidArgument("vm", "Virtual machine %s is not in this datacenter.", vm.Name))
			continue
		case vm.Runtime.PowerState == poweredOn:
			notAttempted(ref, vim.InvalidPowerState(poweredOn, poweredOff))
			continue
		}
		done := make(chan struct{})
		vmRef := ref
		spec := task.Spec{
			Entity: vmRef, DescriptionID: powerOnOp.descID, User: user, ChainID: s.tasks.NextChainID(), Name: "PowerOnVM_Task",
		}
		child, err := s.tasks.Start(ctx, spec,
			func(ctx context.Context, t *task.Task) (types.AnyType, error) {
				defer close(done)
				return s.withVM(ctx, vmRef, func(vm *mo.VirtualMachine) (types.AnyType, error) {
					return nil, s.power(ctx, user, t.ChainID, vm, powerOnOp)
				})
			})
		if err != nil {
			return nil, err
		}
		res.Attempted = append(res.Attempted, types.ClusterAttemptedVmInfo{Vm: vmRef, Task: &child})
		dones = append(dones, done)
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return res, nil
}

// ReconcileVMs brings every VM's runtime state in line with what its host's
// driver reports, as vCenter does when a host reconnects: a VM whose power
// state changed behind the server's back (or between a host's transition
// and its commit) takes the host's state, and a VM its host no longer knows
// becomes orphaned. VMs of hosts without a driver are left alone. It tries
// every VM and returns the errors met.
func (s *Service) ReconcileVMs(ctx context.Context) error {
	var refs []types.ManagedObjectReference
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		refs = append(refs, o.Reference())
		return true
	})
	return s.reconcileVMs(ctx, refs)
}

// reconcileVMs reconciles the VMs refs, each under its lock.
func (s *Service) reconcileVMs(ctx context.Context, refs []types.ManagedObjectReference) error {
	var errs []error
	for _, ref := range refs {
		_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
			return nil, s.reconcileVM(ctx, vm)
		})
		if err != nil && !isObjectGone(err) {
			errs = append(errs, fmt.Errorf("reconcile %s: %w", ref.Value, err))
		}
	}
	return errors.Join(errs...)
}

// reconcileVM reconciles one VM (the caller holds its lock).
func (s *Service) reconcileVM(ctx context.Context, vm *mo.VirtualMachine) error {
	if vm.Runtime.Host == nil {
		return nil
	}
	drv, ok := s.hosts.Driver(*vm.Runtime.Host)
	if !ok {
		return nil
	}
	st, err := drv.State(ctx, vmInstanceID(vm))
	switch {
	case errors.Is(err, driver.ErrVMNotFound):
		if vm.Runtime.ConnectionState == types.VirtualMachineConnectionStateOrphaned {
			return nil
		}
		return s.updateVM(ctx, vm.Self, *vm.Runtime.Host, func(v *mo.VirtualMachine) {
			v.Runtime.ConnectionState = types.VirtualMachineConnectionStateOrphaned
		})
	case err != nil:
		return driverFault(vm, err)
	}
	if !vmDiffers(vm, st, s.now()) {
		return nil
	}
	if err := s.updateVM(ctx, vm.Self, *vm.Runtime.Host, func(v *mo.VirtualMachine) {
		v.Runtime.ConnectionState = types.VirtualMachineConnectionStateConnected
	}); err != nil {
		return err
	}
	_, err = s.refreshVM(ctx, drv, vm.Self)
	return err
}

// isNotFound reports whether err is a ManagedObjectNotFound fault (an
// object removed while an operation waited for it).
func isObjectGone(err error) bool {
	var f *vim.Fault
	if errors.As(err, &f) {
		_, ok := f.Fault.(*types.ManagedObjectNotFound)
		return ok
	}
	return false
}
