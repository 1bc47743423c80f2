package api

import (
	"context"
	"fmt"
	"reflect"
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

// reconfigVM is VirtualMachine.ReconfigVM_Task.
func (s *Service) reconfigVM(ctx *soap.Context, req *types.ReconfigVM_Task) (any, error) {
	spec := req.Spec
	ref, err := s.startVMTask(ctx, "VirtualMachine.reconfigure", func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.reconfigure(ctx, t.User, t.ChainID, vm, &spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.ReconfigVM_TaskResponse{Returnval: ref}, nil
}

// ReconfigureVM applies spec to the VM ref as ReconfigVM_Task does, and
// returns once the change is durable.
func (s *Service) ReconfigureVM(ctx context.Context, user string, ref types.ManagedObjectReference, spec types.VirtualMachineConfigSpec) error {
	_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.reconfigure(ctx, user, s.tasks.NextChainID(), vm, &spec)
	})
	return err
}

// reconfigure applies spec to vm (the published VM; the caller holds its
// lock): it prepares the new configuration, creates new disk files on the
// host, commits, then deletes the files of destroyed disks.
func (s *Service) reconfigure(ctx context.Context, user string, chain int32, vm *mo.VirtualMachine, spec *types.VirtualMachineConfigSpec) error {
	spec = vim.DeepCopy(spec)
	env, err := s.newVMEnv(s.reg, *vm.Runtime.Host)
	if err != nil {
		return err
	}
	next := vim.DeepCopy(vm)
	ch, err := s.applySpec(next, spec, env, false)
	if err != nil {
		return err
	}
	if spec.Name != "" && next.Name != vm.Name {
		if err := s.checkVMName(s.reg, *vm.Parent, next.Name, vm.Self); err != nil {
			return err
		}
	}
	drv, err := s.vmDriver(vm)
	if err != nil {
		return err
	}
	if err := drv.Reconfigure(ctx, vmDriverSpec(next)); err != nil {
		return driverFault(vm, err)
	}
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if spec.Name != "" && next.Name != vm.Name {
			if err := s.checkVMName(tx, *vm.Parent, next.Name, vm.Self); err != nil {
				return err
			}
		}
		return commitVMTxn(tx, next)
	})
	if err != nil {
		s.undoReconfigure(drv, vm, ch.created)
		return err
	}
	for _, f := range ch.destroyed {
		if err := drv.DeleteFile(ctx, f); err != nil {
			s.log.Warn("delete disk file", "vm", vm.Self.Value, "file", f, "err", err)
		}
	}
	s.saveVMX(ctx, vm.Self) // vmx.go
	s.postVMEvents(s.vmEventSpec(vm.Self, user, chain), &types.VmReconfiguredEvent{
		VmEvent: vmEvent(next.Config.Template), ConfigSpec: *spec,
	})
	return nil
}

// undoReconfigure returns the host to vm's configuration after a change
// failed to commit, deleting the disk files created for it.
func (s *Service) undoReconfigure(drv driver.Driver, vm *mo.VirtualMachine, created []driver.Disk) {
	ctx := context.Background()
	if err := drv.Reconfigure(ctx, vmDriverSpec(vm)); err != nil {
		s.log.Warn("restore vm on host", "vm", vm.Self.Value, "err", err)
	}
	for _, d := range created {
		if err := drv.DeleteFile(ctx, d.Path); err != nil {
			s.log.Warn("delete disk file", "vm", vm.Self.Value, "file", d.Path, "err", err)
		}
	}
}

// commitVMTxn replaces the VM's properties with next's, keeping what others
// maintain (the managed entity's: parent, recent tasks, permissions, custom
// values, alarms; but not its name), and updates the lists of the objects
// the VM joins or leaves.
func commitVMTxn(tx *inventory.Txn, next *mo.VirtualMachine) error {
	cur := inventory.Edit[mo.VirtualMachine](tx, next.Self)
	if cur == nil {
		return vim.ManagedObjectNotFound(next.Self)
	}
	from := vmLinks(cur)
	entity, customValue := cur.ManagedEntity, cur.Summary.CustomValue
	*cur = *vim.DeepCopy(next)
	name := cur.Name
	cur.ManagedEntity, cur.Summary.CustomValue = entity, customValue
	cur.Name = name
	relinkVMTxn(tx, cur.Self, from, vmLinks(cur))
	return nil
}

// vmSpecChange is what applying a config spec needs done on the host.
type vmSpecChange struct {
	// created lists the disk files to create before the change commits;
	// destroyed those to delete after it committed.
	created   []driver.Disk
	destroyed []string
}

// applySpec applies spec to vm, a private copy, as ReconfigVM_Task (or,
// with creating set, CreateVM_Task) does, and recomputes its derived
// properties. It checks the spec against the VM's state first and changes
// nothing on error.
func (s *Service) applySpec(vm *mo.VirtualMachine, spec *types.VirtualMachineConfigSpec, env *vmEnv, creating bool) (*vmSpecChange, error) {
	c := vm.Config
	if !creating {
		if spec.ChangeVersion != "" && spec.ChangeVersion != c.ChangeVersion {
			return nil, vim.NewFault(&types.ConcurrentAccess{},
				"Cannot complete operation due to concurrent modification by another operation: the spec's changeVersion %s is not the virtual machine's %s.",
				spec.ChangeVersion, c.ChangeVersion)
		}
		if c.Template && !templateEdit(spec) {
			return nil, vim.NotSupported("%s is a template; a template can only be renamed or annotated. Convert it to a virtual machine first (MarkAsVirtualMachine).", vm.Name)
		}
		if spec.InstanceUuid != "" && spec.InstanceUuid != c.InstanceUuid {
			return nil, vim.InvalidArgument("instanceUuid", "The instance UUID of an existing virtual machine cannot be changed.")
		}
	}
	poweredOn := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	if err := checkHardware(c, spec, poweredOn && !creating); err != nil {
		return nil, err
	}
	if err := applyScalars(c, spec, creating); err != nil {
		return nil, err
	}
	if spec.Name != "" {
		rename := vmName
		if !creating {
			rename = vmNewName // vm_provision.go
		}
		name, err := rename(spec.Name)
		if err != nil {
			return nil, err
		}
		c.Name = name
	}
	e := &deviceEditor{
		env: env, vmx: c.Files.VmPathName, poweredOn: poweredOn,
		newMAC:  func() string { return s.vms.newMAC(s.inventoryMACs) },
		useMAC:  func(m string) bool { return s.vms.useMAC(m, s.inventoryMACs) },
		devices: c.Hardware.Device,
	}
	if err := e.apply(spec.DeviceChange); err != nil {
		return nil, err
	}
	c.Hardware.Device = e.devices
	if b := c.BootOptions; b != nil && b.EfiSecureBootEnabled != nil && *b.EfiSecureBootEnabled && c.Firmware != string(types.GuestOsDescriptorFirmwareTypeEfi) {
		return nil, vim.NewFault(&types.InvalidVmConfig{Property: "bootOptions.efiSecureBootEnabled"},
			"Secure boot needs EFI firmware; set firmware to efi as well.")
	}
	now := s.now()
	c.ChangeVersion = changeVersion(now)
	c.Modified = now
	env.deriveVM(vm, now)
	return &vmSpecChange{created: e.created, destroyed: e.destroyed}, nil
}

// templateEdit reports whether spec changes only what a template allows:
// its name and annotation.
func templateEdit(spec *types.VirtualMachineConfigSpec) bool {
	allowed := types.VirtualMachineConfigSpec{Name: spec.Name, Annotation: spec.Annotation, ChangeVersion: spec.ChangeVersion}
	return reflect.DeepEqual(*spec, allowed)
}

// checkHardware validates the CPU and memory a spec asks for, and the
// hot-plug rules of a running VM: CPUs may be added with cpuHotAddEnabled,
// removed with cpuHotRemoveEnabled, memory added with memoryHotAddEnabled;
// nothing else changes while it runs.
func checkHardware(c *types.VirtualMachineConfigInfo, spec *types.VirtualMachineConfigSpec, running bool) error {
	cpus, cores := c.Hardware.NumCPU, c.Hardware.NumCoresPerSocket
	if spec.NumCPUs != 0 {
		if spec.NumCPUs < 1 || spec.NumCPUs > maxNumCPU {
			return vim.InvalidArgument("numCPUs", "The number of virtual CPUs must be between 1 and %d; %d was given.", maxNumCPU, spec.NumCPUs)
		}
		cpus = spec.NumCPUs
	}
	if spec.NumCoresPerSocket != 0 {
		if spec.NumCoresPerSocket < 1 {
			return vim.InvalidArgument("numCoresPerSocket", "The number of cores per socket must be at least 1; %d was given.", spec.NumCoresPerSocket)
		}
		cores = spec.NumCoresPerSocket
	}
	if cores > 0 && cpus%cores != 0 {
		return vim.InvalidArgument("numCoresPerSocket", "The number of virtual CPUs (%d) must be a multiple of the number of cores per socket (%d).", cpus, cores)
	}
	if m := spec.MemoryMB; m != 0 {
		switch {
		case m < 4:
			return vim.InvalidArgument("memoryMB", "A virtual machine needs at least 4 MB of memory; %d MB was given.", m)
		case m%4 != 0:
			return vim.InvalidArgument("memoryMB", "The memory size must be a multiple of 4 MB; %d MB was given.", m)
		case m > maxMemoryMB:
			return vim.InvalidArgument("memoryMB", "The memory size must be at most %d MB; %d MB was given.", maxMemoryMB, m)
		}
	}
	if !running {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return vim.NewFault(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: types.VirtualMachinePowerStatePoweredOn},
			"The attempted operation cannot be performed in the current state (Powered on): "+format, args...)
	}
	switch {
	case cpus > c.Hardware.NumCPU && !flagSet(c.CpuHotAddEnabled):
		return refuse("CPU hot add is not enabled; power off the virtual machine to change its CPUs.")
	case cpus < c.Hardware.NumCPU && !flagSet(c.CpuHotRemoveEnabled):
		return refuse("CPU hot remove is not enabled; power off the virtual machine to remove CPUs.")
	case cores != c.Hardware.NumCoresPerSocket:
		return refuse("cores per socket change only while powered off.")
	case spec.MemoryMB != 0 && spec.MemoryMB < int64(c.Hardware.MemoryMB):
		return refuse("memory cannot be removed from a running virtual machine.")
	case spec.MemoryMB > int64(c.Hardware.MemoryMB) && !flagSet(c.MemoryHotAddEnabled):
		return refuse("memory hot add is not enabled; power off the virtual machine to add memory.")
	case changesBool(spec.CpuHotAddEnabled, c.CpuHotAddEnabled) || changesBool(spec.CpuHotRemoveEnabled, c.CpuHotRemoveEnabled) ||
		changesBool(spec.MemoryHotAddEnabled, c.MemoryHotAddEnabled):
		return refuse("hot-plug settings change only while powered off.")
	}
	return nil
}

func flagSet(b *bool) bool { return b != nil && *b }

// changesBool reports whether a spec's optional flag differs from the
// current value.
func changesBool(spec, cur *bool) bool { return spec != nil && *spec != flagSet(cur) }

// applyScalars applies the spec's settings other than devices and name.
func applyScalars(c *types.VirtualMachineConfigInfo, spec *types.VirtualMachineConfigSpec, creating bool) error {
	if err := checkEnums(spec); err != nil {
		return err
	}
	for _, id := range []struct {
		prop, val string
		dst       *string
	}{{"uuid", spec.Uuid, &c.Uuid}, {"instanceUuid", spec.InstanceUuid, &c.InstanceUuid}} {
		if id.val == "" {
			continue
		}
		if _, err := uuid.Parse(id.val); err != nil {
			return vim.InvalidArgument(id.prop, "%q is not a UUID; use the form 42xxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.", id.val)
		}
		*id.dst = strings.ToLower(id.val)
	}
	if creating && spec.Version != "" {
		if _, err := hwVersion(spec.Version); err != nil {
			return err
		}
		c.Version = spec.Version
	}
	if spec.GuestId != "" {
		c.GuestId, c.GuestFullName = spec.GuestId, guestFullName(spec.GuestId)
	}
	for _, f := range []struct {
		src string
		dst *string
	}{
		{spec.AlternateGuestName, &c.AlternateGuestName}, {spec.Annotation, &c.Annotation},
		{spec.LocationId, &c.LocationId}, {spec.NpivWorldWideNameType, &c.NpivWorldWideNameType},
		{spec.Firmware, &c.Firmware}, {spec.SwapPlacement, &c.SwapPlacement},
		{spec.MigrateEncryption, &c.MigrateEncryption}, {spec.FtEncryptionMode, &c.FtEncryptionMode},
		{spec.MotherboardLayout, &c.Hardware.MotherboardLayout}, {spec.MetroFtHostGroup, &c.MetroFtHostGroup},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	for _, f := range []struct {
		src *bool
		dst **bool
	}{
		{spec.NestedHVEnabled, &c.NestedHVEnabled}, {spec.VPMCEnabled, &c.VPMCEnabled},
		{spec.CpuHotAddEnabled, &c.CpuHotAddEnabled}, {spec.CpuHotRemoveEnabled, &c.CpuHotRemoveEnabled},
		{spec.MemoryHotAddEnabled, &c.MemoryHotAddEnabled}, {spec.GuestAutoLockEnabled, &c.GuestAutoLockEnabled},
		{spec.MemoryReservationLockedToMax, &c.MemoryReservationLockedToMax},
		{spec.MessageBusTunnelEnabled, &c.MessageBusTunnelEnabled}, {spec.ChangeTrackingEnabled, &c.ChangeTrackingEnabled},
		{spec.VAssertsEnabled, &c.VAssertsEnabled}, {spec.VirtualICH7MPresent, &c.Hardware.VirtualICH7MPresent},
		{spec.VirtualSMCPresent, &c.Hardware.VirtualSMCPresent}, {spec.RebootPowerOff, &c.RebootPowerOff},
		{spec.NpivTemporaryDisabled, &c.NpivTemporaryDisabled}, {spec.NpivOnNonRdmDisks, &c.NpivOnNonRdmDisks},
		{spec.SevEnabled, &c.SevEnabled}, {spec.PmemFailoverEnabled, &c.PmemFailoverEnabled},
		{spec.VmxStatsCollectionEnabled, &c.VmxStatsCollectionEnabled},
		{spec.VmOpNotificationToAppEnabled, &c.VmOpNotificationToAppEnabled},
		{spec.FixedPassthruHotPlugEnabled, &c.FixedPassthruHotPlugEnabled}, {spec.MetroFtEnabled, &c.MetroFtEnabled},
	} {
		if f.src != nil {
			v := *f.src
			*f.dst = &v
		}
	}
	if spec.NumCPUs != 0 {
		c.Hardware.NumCPU = spec.NumCPUs
		if c.CpuAllocation != nil && c.CpuAllocation.Shares != nil && c.CpuAllocation.Shares.Level != types.SharesLevelCustom {
			c.CpuAllocation.Shares.Shares = 1000 * spec.NumCPUs
		}
	}
	if spec.NumCoresPerSocket != 0 {
		c.Hardware.NumCoresPerSocket = spec.NumCoresPerSocket
		c.Hardware.AutoCoresPerSocket = types.NewBool(false)
	}
	if spec.MemoryMB != 0 {
		c.Hardware.MemoryMB = int32(spec.MemoryMB)
		if c.MemoryAllocation != nil && c.MemoryAllocation.Shares != nil && c.MemoryAllocation.Shares.Level != types.SharesLevelCustom {
			c.MemoryAllocation.Shares.Shares = 10 * int32(spec.MemoryMB)
		}
	}
	if spec.SimultaneousThreads != 0 {
		c.Hardware.SimultaneousThreads = spec.SimultaneousThreads
	}
	if spec.MaxMksConnections != 0 {
		c.MaxMksConnections = spec.MaxMksConnections
	}
	if spec.VmOpNotificationTimeout != 0 {
		c.VmOpNotificationTimeout = spec.VmOpNotificationTimeout
	}
	if spec.Files != nil {
		for _, f := range []struct {
			src string
			dst *string
		}{
			{spec.Files.SnapshotDirectory, &c.Files.SnapshotDirectory}, {spec.Files.SuspendDirectory, &c.Files.SuspendDirectory},
			{spec.Files.LogDirectory, &c.Files.LogDirectory},
		} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
	}
	applyStructs(c, spec)
	c.ExtraConfig = mergeOptions(c.ExtraConfig, spec.ExtraConfig)
	return nil
}

// applyStructs applies the spec's structured settings; fields a spec leaves
// unset keep their values.
func applyStructs(c *types.VirtualMachineConfigInfo, spec *types.VirtualMachineConfigSpec) {
	if spec.Tools != nil {
		if c.Tools == nil {
			c.Tools = &types.ToolsConfigInfo{}
		}
		mergeNonZero(c.Tools, spec.Tools)
	}
	if spec.Flags != nil {
		mergeNonZero(&c.Flags, spec.Flags)
	}
	if spec.PowerOpInfo != nil {
		mergeNonZero(&c.DefaultPowerOps, spec.PowerOpInfo)
	}
	if spec.BootOptions != nil {
		order := spec.BootOptions.BootOrder
		if c.BootOptions == nil {
			c.BootOptions = defaultBootOptions()
		}
		mergeNonZero(c.BootOptions, spec.BootOptions)
		// govc and others send the whole boot order, empty to clear it.
		c.BootOptions.BootOrder = order
	}
	if spec.CpuAllocation != nil {
		if c.CpuAllocation == nil {
			c.CpuAllocation = cpuAllocation(c.Hardware.NumCPU)
		}
		mergeNonZero(c.CpuAllocation, spec.CpuAllocation)
	}
	if spec.MemoryAllocation != nil {
		if c.MemoryAllocation == nil {
			c.MemoryAllocation = memoryAllocation(c.Hardware.MemoryMB)
		}
		mergeNonZero(c.MemoryAllocation, spec.MemoryAllocation)
	}
	if spec.LatencySensitivity != nil {
		c.LatencySensitivity = spec.LatencySensitivity
	}
	if spec.ManagedBy != nil {
		c.ManagedBy = spec.ManagedBy
		if spec.ManagedBy.ExtensionKey == "" {
			c.ManagedBy = nil
		}
	}
	for _, f := range []struct{ src, dst any }{
		{spec.ConsolePreferences, &c.ConsolePreferences}, {spec.CpuAffinity, &c.CpuAffinity},
		{spec.MemoryAffinity, &c.MemoryAffinity}, {spec.NetworkShaper, &c.NetworkShaper},
		{spec.ScheduledHardwareUpgradeInfo, &c.ScheduledHardwareUpgradeInfo}, {spec.SgxInfo, &c.SgxInfo},
		{spec.GuestMonitoringModeInfo, &c.GuestMonitoringModeInfo}, {spec.DeviceSwap, &c.DeviceSwap},
		{spec.Pmem, &c.Pmem}, {spec.DeviceGroups, &c.DeviceGroups}, {spec.RepConfig, &c.RepConfig},
	} {
		replaceIfSet(f.dst, f.src)
	}
	if len(spec.VcpuConfig) > 0 {
		c.VcpuConfig = spec.VcpuConfig
	}
	if len(spec.NpivNodeWorldWideName) > 0 {
		c.NpivNodeWorldWideName = spec.NpivNodeWorldWideName
	}
	if len(spec.NpivPortWorldWideName) > 0 {
		c.NpivPortWorldWideName = spec.NpivPortWorldWideName
	}
}

// checkEnums validates the spec's enumerated settings.
func checkEnums(spec *types.VirtualMachineConfigSpec) error {
	checks := []struct {
		prop, val string
		allowed   []string
	}{
		{"firmware", spec.Firmware, []string{"bios", "efi"}},
		{"swapPlacement", spec.SwapPlacement, []string{"inherit", "vmDirectory", "hostLocal"}},
		{"migrateEncryption", spec.MigrateEncryption, []string{"disabled", "opportunistic", "required"}},
		{"ftEncryptionMode", spec.FtEncryptionMode, []string{"ftEncryptionDisabled", "ftEncryptionOpportunistic", "ftEncryptionRequired"}},
	}
	if spec.LatencySensitivity != nil {
		checks = append(checks, struct {
			prop, val string
			allowed   []string
		}{"latencySensitivity.level", string(spec.LatencySensitivity.Level), []string{"low", "normal", "medium", "high", "custom"}})
	}
	for _, ch := range checks {
		if ch.val == "" {
			continue
		}
		ok := false
		for _, a := range ch.allowed {
			ok = ok || a == ch.val
		}
		if !ok {
			return vim.InvalidArgument(ch.prop, "%q is not a valid %s; use one of %s.", ch.val, ch.prop, strings.Join(ch.allowed, ", "))
		}
	}
	return nil
}

// mergeOptions applies extraConfig changes: a key with a value sets it, a
// key with an empty value removes it.
func mergeOptions(cur, changes []types.BaseOptionValue) []types.BaseOptionValue {
	for _, ch := range changes {
		o := ch.GetOptionValue()
		at := -1
		for i, c := range cur {
			if c.GetOptionValue().Key == o.Key {
				at = i
				break
			}
		}
		empty := o.Value == nil || fmt.Sprint(o.Value) == ""
		switch {
		case empty && at >= 0:
			cur = append(cur[:at:at], cur[at+1:]...)
		case empty:
		case at >= 0:
			cur[at] = &types.OptionValue{Key: o.Key, Value: o.Value}
		default:
			cur = append(cur, &types.OptionValue{Key: o.Key, Value: o.Value})
		}
	}
	return cur
}

// vmName checks and escapes a VM name as vCenter stores it: '%', '/' and
// '\' become %25, %2f and %5c; at most 80 characters.
func vmName(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", vim.NewFault(&types.InvalidName{Name: name}, "A virtual machine needs a name.")
	}
	esc := strings.NewReplacer("%", "%25", "/", "%2f", `\`, "%5c").Replace(name)
	if len([]rune(esc)) > 80 {
		return "", vim.NewFault(&types.InvalidName{Name: name}, "The name '%s' is longer than 80 characters.", name)
	}
	return esc, nil
}

// checkVMName fails with DuplicateName when another entity in folder than
// except is named name.
func (s *Service) checkVMName(objs vmGetter, folder types.ManagedObjectReference, name string, except types.ManagedObjectReference) error {
	f := inventory.Get[mo.Folder](objs, folder)
	if f == nil {
		return vim.ManagedObjectNotFound(folder)
	}
	for _, r := range f.ChildEntity {
		if r.Value == except.Value {
			continue
		}
		if e, ok := objs.Get(r).(mo.Entity); ok && e.Entity().Name == name {
			return vim.DuplicateName(name, r)
		}
	}
	return nil
}

// WorkloadOption is the VM option (extraConfig key) naming the workload
// profile a VM on a simulated host follows: idle (the default), steady:N,
// bursty or diurnal.
const WorkloadOption = "vireo.workload"

// vmDriverSpec returns what the host's driver needs to know of vm.
func vmDriverSpec(vm *mo.VirtualMachine) driver.VMSpec {
	c := vm.Config
	spec := driver.VMSpec{
		ID: vmInstanceID(vm), Name: c.Name, NumCPU: c.Hardware.NumCPU, MemoryMB: int64(c.Hardware.MemoryMB), GuestID: c.GuestId,
	}
	for _, o := range c.ExtraConfig {
		if ov := o.GetOptionValue(); ov.Key == WorkloadOption {
			spec.Workload, _ = ov.Value.(string)
		}
	}
	if dir := vmDirOf(c.Files.VmPathName); !strings.HasSuffix(dir, "] ") {
		spec.Dir = strings.TrimSuffix(dir, "/")
	}
	for _, d := range c.Hardware.Device {
		switch x := d.(type) {
		case *types.VirtualDisk:
			if b, ok := x.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				spec.Disks = append(spec.Disks, driver.Disk{
					Path: b.GetVirtualDeviceFileBackingInfo().FileName, CapacityBytes: diskCapacityBytes(x), Thin: isThin(x),
				})
			}
		case types.BaseVirtualEthernetCard:
			nic := x.GetVirtualEthernetCard()
			spec.NICs = append(spec.NICs, driver.NIC{Network: deviceSummary(d, ""), MAC: nic.MacAddress})
		case *types.VirtualCdrom:
			if b, ok := x.Backing.(*types.VirtualCdromIsoBackingInfo); ok && b.FileName != "" {
				spec.ISOs = append(spec.ISOs, b.FileName)
			}
		}
	}
	spec.Identity = guestIdentity(vm) // vm_customize.go
	return spec
}

// mergeNonZero copies onto dst the fields of src that are set: non-nil
// pointers, slices and interfaces, non-empty strings, non-zero numbers.
// dst and src point to values of the same struct type.
func mergeNonZero(dst, src any) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := 0; i < s.NumField(); i++ {
		if f := s.Field(i); d.Field(i).CanSet() && !f.IsZero() {
			d.Field(i).Set(reflect.ValueOf(vim.DeepCopy(f.Interface())).Convert(f.Type()))
		}
	}
}

// replaceIfSet sets *dst (dst is a **T) to a copy of src (a *T) unless src
// is nil.
func replaceIfSet(dst, src any) {
	s := reflect.ValueOf(src)
	if s.IsNil() {
		return
	}
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(vim.DeepCopy(src)))
}
