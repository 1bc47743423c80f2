package api

import (
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/vim"
)

// A vmCheck tests one VM against the hosts of a target, host by host. The
// test groups are vCenter's CheckTestType values:
//
//   - sourceTests: the VM's own state (connected, a free name for a clone,
//     powered on for an instant clone, not yet running for a power-on);
//   - hostTests: the host is connected and out of maintenance mode, runs the
//     VM's hardware version, has as many logical CPUs as the VM has virtual
//     ones, supports the VM's memory size and knows its guest OS;
//   - datastoreTests: the host mounts, accessibly, every datastore the VM's
//     files are (or would be) on;
//   - networkTests: the host is connected to the network of every adapter;
//   - resourcePoolTests (when the VM would run): the pool and the host have
//     the unreserved CPU and memory the VM's reservations need.
//
// A spec that cannot be applied at all (checked by the code CreateVM_Task
// and ReconfigVM_Task use) is always reported, whatever the groups.
type vmCheck struct {
	s     *Service
	tests checkTests
	// vmRef is the VM the results name (nil for a new VM).
	vmRef *types.ManagedObjectReference
	// source is the existing VM, nil for a new one.
	source *mo.VirtualMachine
	pool   *mo.ResourcePool
	hosts  []*mo.HostSystem
	// shape returns the VM as it would be on a host, or the error that
	// keeps it from being so; nil means source as it is.
	shape func(h *mo.HostSystem) (*mo.VirtualMachine, error)
	// fallback is the hardware tested when shape fails.
	fallback vmHardware
	// datastores are where the VM's files would be; nil means the VM's.
	datastores []types.ManagedObjectReference
	// poweredOn says whether the VM would run (resource tests apply).
	poweredOn bool
	// sourceErrs are the problems of the VM itself, reported for every host.
	sourceErrs []error
}

// run tests every host and returns a result per host.
func (c *vmCheck) run() []types.CheckResult {
	out := make([]types.CheckResult, 0, len(c.hosts))
	for _, h := range c.hosts {
		out = append(out, c.onHost(h))
	}
	return out
}

// onHost tests host h.
func (c *vmCheck) onHost(h *mo.HostSystem) types.CheckResult {
	r := &checkReport{res: types.CheckResult{Vm: c.vmRef, Host: refp(h.Self)}}
	vm, hw := c.source, c.fallback
	if c.shape != nil {
		trial, err := c.shape(h)
		if err != nil {
			r.fail(err)
		}
		vm = trial
	}
	if vm != nil {
		hw = hardwareOf(vm)
	}
	if c.tests[types.CheckTestTypeSourceTests] {
		for _, err := range c.sourceErrs {
			r.fail(err)
		}
	}
	if c.tests[types.CheckTestTypeHostTests] {
		hostProblems(r, h, hw)
	}
	if vm == nil {
		return r.res
	}
	if c.tests[types.CheckTestTypeDatastoreTests] {
		dss := c.datastores
		if dss == nil {
			dss = vm.Datastore
		}
		c.datastoreProblems(r, h, dss)
	}
	if c.tests[types.CheckTestTypeNetworkTests] {
		c.networkProblems(r, h, vm)
	}
	if c.tests[types.CheckTestTypeResourcePoolTests] && c.poweredOn {
		c.resourceProblems(r, h, vm)
	}
	return r.res
}

// checkReport collects a CheckResult's faults, each message once.
type checkReport struct{ res types.CheckResult }

func (r *checkReport) fail(err error) { r.res.Error = appendFault(r.res.Error, err) }
func (r *checkReport) warn(err error) { r.res.Warning = appendFault(r.res.Warning, err) }

func appendFault(list []types.LocalizedMethodFault, err error) []types.LocalizedMethodFault {
	f := localizedFault(err)
	for _, o := range list {
		if o.LocalizedMessage == f.LocalizedMessage {
			return list
		}
	}
	return append(list, *f)
}

// vmHardware is what the host tests look at.
type vmHardware struct {
	cpus    int32
	memMB   int64
	guest   string
	version string
}

func hardwareOf(vm *mo.VirtualMachine) vmHardware {
	c := vm.Config
	return vmHardware{cpus: c.Hardware.NumCPU, memMB: int64(c.Hardware.MemoryMB), guest: c.GuestId, version: c.Version}
}

// with returns hw changed by the settings spec sets.
func (hw vmHardware) with(spec *types.VirtualMachineConfigSpec) vmHardware {
	if spec.NumCPUs != 0 {
		hw.cpus = spec.NumCPUs
	}
	if spec.MemoryMB != 0 {
		hw.memMB = spec.MemoryMB
	}
	if spec.GuestId != "" {
		hw.guest = spec.GuestId
	}
	if spec.Version != "" {
		hw.version = spec.Version
	}
	return hw
}

// vmSourceProblems lists what keeps an existing VM from any operation.
func vmSourceProblems(vm *mo.VirtualMachine) []error {
	if cs := vm.Runtime.ConnectionState; cs != "" && cs != types.VirtualMachineConnectionStateConnected {
		return []error{vim.InvalidState("The virtual machine %s is %s; it must be connected.", vm.Name, cs)}
	}
	return nil
}

// powerOnProblems lists what keeps vm from powering on wherever it is.
func powerOnProblems(vm *mo.VirtualMachine) []error {
	switch {
	case vm.Config.Template:
		return []error{vim.NotSupported("%s is a template; templates cannot be powered on. Convert it to a virtual machine first (MarkAsVirtualMachine).", vm.Name)}
	case vmPoweredOn(vm):
		return []error{vim.InvalidPowerState(vm.Runtime.PowerState, types.VirtualMachinePowerStatePoweredOn)}
	}
	return nil
}

// hostProblems runs the host tests of hw on h.
func hostProblems(r *checkReport, h *mo.HostSystem, hw vmHardware) {
	if err := hostUsable(h); err != nil {
		r.fail(err)
	}
	if hw.version != "" {
		if _, err := hwVersion(hw.version); err != nil {
			r.fail(vim.NewFault(&types.VirtualHardwareVersionNotSupported{HostName: h.Name, Host: h.Self},
				"Host %s does not support virtual hardware version %s; it runs vmx-4 to vmx-%d.", h.Name, hw.version, maxHWVersion))
		}
	}
	if cpus := hostLogicalCPUs(h); cpus > 0 && hw.cpus > cpus {
		r.fail(vim.NewFault(&types.NotEnoughCpus{NumCpuDest: cpus, NumCpuVm: hw.cpus},
			"The vm requires %d CPUs, but host %s has %d logical CPUs; give it fewer virtual CPUs.", hw.cpus, h.Name, cpus))
	}
	const minMemMB = 4
	maxMem := esx.HostCapability.MaxSupportedVmMemory
	if h.Capability != nil && h.Capability.MaxSupportedVmMemory > 0 {
		maxMem = h.Capability.MaxSupportedVmMemory
	}
	if hw.memMB != 0 && (hw.memMB < minMemMB || hw.memMB > int64(maxMem)) {
		r.fail(vim.NewFault(&types.MemorySizeNotSupported{MemorySizeMB: int32(min(hw.memMB, 1<<31-1)), MinMemorySizeMB: minMemMB, MaxMemorySizeMB: maxMem},
			"The vm requires %d MB of memory, outside the range of %d to %d MB that host %s supports.", hw.memMB, minMemMB, maxMem, h.Name))
	}
	if hw.guest != "" && len(guestDescriptors([]string{hw.guest})) == 0 {
		r.warn(vim.NewFault(&types.UnsupportedGuest{InvalidVmConfig: types.InvalidVmConfig{Property: "guestId"}, UnsupportedGuestOS: hw.guest},
			"The guest OS %s is unsupported on host %s; choose a guest ID its environment browser lists.", hw.guest, h.Name))
	}
}

// hostLogicalCPUs returns the number of logical CPUs of h (0: unknown).
func hostLogicalCPUs(h *mo.HostSystem) int32 {
	if h.Hardware == nil {
		return 0
	}
	return int32(max(h.Hardware.CpuInfo.NumCpuThreads, h.Hardware.CpuInfo.NumCpuCores))
}

// datastoreProblems checks that h mounts every datastore of dss, with
// access.
func (c *vmCheck) datastoreProblems(r *checkReport, h *mo.HostSystem, dss []types.ManagedObjectReference) {
	for _, ref := range dss {
		ds := inventory.Get[mo.Datastore](c.s.reg, ref)
		if ds == nil {
			r.fail(vim.ManagedObjectNotFound(ref))
			continue
		}
		if !datastoreUsableFrom(ds, h) {
			r.fail(vim.NewFault(&types.DatastoreNotWritableOnHost{InvalidDatastore: types.InvalidDatastore{Datastore: &ds.Self, Name: ds.Name}, Host: h.Self},
				"The datastore '%s' is not accessible from host '%s'; choose a datastore the host mounts.", ds.Name, h.Name))
		}
	}
}

// datastoreUsableFrom reports whether h mounts ds and can reach it.
func datastoreUsableFrom(ds *mo.Datastore, h *mo.HostSystem) bool {
	if !ds.Summary.Accessible {
		return false
	}
	for _, m := range ds.Host {
		if m.Key.Value == h.Self.Value {
			mi := m.MountInfo
			return (mi.Mounted == nil || *mi.Mounted) && (mi.Accessible == nil || *mi.Accessible)
		}
	}
	return false
}

// networkProblems checks that h is connected to the network of every
// adapter of vm.
func (c *vmCheck) networkProblems(r *checkReport, h *mo.HostSystem, vm *mo.VirtualMachine) {
	env, err := c.s.newVMEnv(c.s.reg, h.Self)
	if err != nil {
		r.fail(err)
		return
	}
	for _, d := range vm.Config.Hardware.Device {
		nic, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		card := nic.GetVirtualEthernetCard()
		net, name := adapterNetwork(env, card)
		if name == "" || (net != nil && containsRef(h.Network, *net)) {
			continue
		}
		label := ""
		if card.DeviceInfo != nil {
			label = card.DeviceInfo.GetDescription().Label
		}
		connected := card.Connectable != nil && card.Connectable.Connected
		r.fail(vim.NewFault(&types.CannotAccessNetwork{CannotAccessVmDevice: types.CannotAccessVmDevice{Device: label, Backing: name, Connected: connected}, Network: net},
			"The network '%s' of %s is not accessible from host '%s'; connect the adapter to a network the host has.", name, label, h.Name))
	}
}

// adapterNetwork returns the network an adapter's backing names, as env's
// host resolves it (nil when it finds none), and the network's name ("" for
// backings without one).
func adapterNetwork(env *vmEnv, card *types.VirtualEthernetCard) (*types.ManagedObjectReference, string) {
	switch b := card.Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		if r, ok := env.network(b.DeviceName); ok {
			return &r, b.DeviceName
		}
		return b.Network, b.DeviceName
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		if pg, ok := env.portgroup(b.Port.PortgroupKey); ok {
			return &pg.Self, pg.Name
		}
		return nil, b.Port.PortgroupKey
	}
	return nil, ""
}

// resourceProblems checks that the pool and h have the CPU and memory vm
// reserves unreserved.
func (c *vmCheck) resourceProblems(r *checkReport, h *mo.HostSystem, vm *mo.VirtualMachine) {
	cpu, mem := vmReservation(vm)
	if rt := c.pool.Runtime; rt.Memory.MaxUsage > 0 && mem > rt.Memory.UnreservedForVm {
		r.fail(vim.NewFault(&types.InsufficientMemoryResourcesFault{Unreserved: rt.Memory.UnreservedForVm, Requested: mem},
			"The resource pool %s has %d MB of memory unreserved, less than the %d MB the virtual machine reserves.", c.pool.Name, rt.Memory.UnreservedForVm>>20, mem>>20))
	}
	if rt := c.pool.Runtime; rt.Cpu.MaxUsage > 0 && cpu > rt.Cpu.UnreservedForVm {
		r.fail(vim.NewFault(&types.InsufficientCpuResourcesFault{Unreserved: rt.Cpu.UnreservedForVm, Requested: cpu},
			"The resource pool %s has %d MHz of CPU unreserved, less than the %d MHz the virtual machine reserves.", c.pool.Name, rt.Cpu.UnreservedForVm, cpu))
	}
	hostMHz, hostMem, _, _ := hostCapacity(h)
	usedCPU, usedMem := c.hostReserved(h, vm.Self)
	if free := hostMem - usedMem; mem > free {
		r.fail(vim.NewFault(&types.InsufficientHostMemoryCapacityFault{Unreserved: free, Requested: mem, InsufficientHostCapacityFault: types.InsufficientHostCapacityFault{Host: refp(h.Self)}},
			"Host %s has %d MB of memory unreserved, less than the %d MB the virtual machine reserves; choose another host or lower the reservation.", h.Name, free>>20, mem>>20))
	}
	if free := int64(hostMHz) - usedCPU; cpu > free {
		r.fail(vim.NewFault(&types.InsufficientHostCpuCapacityFault{Unreserved: free, Requested: cpu, InsufficientHostCapacityFault: types.InsufficientHostCapacityFault{Host: refp(h.Self)}},
			"Host %s has %d MHz of CPU unreserved, less than the %d MHz the virtual machine reserves; choose another host or lower the reservation.", h.Name, free, cpu))
	}
}

// vmReservation returns vm's CPU (MHz) and memory (bytes) reservations.
func vmReservation(vm *mo.VirtualMachine) (cpu, mem int64) {
	if a := vm.Config.CpuAllocation; a != nil {
		cpu = int64Val(a.Reservation)
	}
	if a := vm.Config.MemoryAllocation; a != nil {
		mem = int64Val(a.Reservation) << 20
	}
	return cpu, mem
}

// hostReserved sums the reservations of the VMs running on h, but except.
func (c *vmCheck) hostReserved(h *mo.HostSystem, except types.ManagedObjectReference) (cpu, mem int64) {
	for _, r := range h.Vm {
		if r.Value == except.Value {
			continue
		}
		if vm := inventory.Get[mo.VirtualMachine](c.s.reg, r); vm != nil && vm.Config != nil && vmPoweredOn(vm) {
			vc, vmem := vmReservation(vm)
			cpu, mem = cpu+vc, mem+vmem
		}
	}
	return cpu, mem
}
