package api

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/vim"
)

// vmGetter reads managed objects; *inventory.Registry (published objects) and
// *inventory.Txn (a transaction's view) both are one.
type vmGetter interface {
	Get(types.ManagedObjectReference) mo.Reference
}

// vmEnv resolves the datastores and networks a VM's configuration names, as
// the VM's host sees them.
type vmEnv struct {
	objs vmGetter
	host *mo.HostSystem
	dc   *mo.Datacenter // nil when the host is outside any datacenter
}

// newVMEnv returns the environment of a VM on host.
func (s *Service) newVMEnv(objs vmGetter, host types.ManagedObjectReference) (*vmEnv, error) {
	h := inventory.Get[mo.HostSystem](objs, host)
	if h == nil {
		return nil, vim.ManagedObjectNotFound(host)
	}
	return &vmEnv{objs: objs, host: h, dc: datacenterOf(s.reg, host)}, nil
}

// datastore returns the datastore named name that the host mounts. path is
// the datastore path being resolved, for the fault's message.
func (e *vmEnv) datastore(name, dsPath string) (*mo.Datastore, error) {
	for _, r := range e.host.Datastore {
		ds := inventory.Get[mo.Datastore](e.objs, r)
		if ds == nil || ds.Name != name {
			continue
		}
		for _, m := range ds.Host {
			if m.Key.Value == e.host.Self.Value && m.MountInfo.Accessible != nil && !*m.MountInfo.Accessible {
				return nil, vim.NewFault(&types.InvalidDatastore{Datastore: &ds.Self, Name: name},
					"The datastore '%s' is not accessible from host '%s'.", name, e.host.Name)
			}
		}
		return ds, nil
	}
	if e.dc != nil {
		for _, r := range e.dc.Datastore {
			if ds := inventory.Get[mo.Datastore](e.objs, r); ds != nil && ds.Name == name {
				return nil, vim.NewFault(&types.InvalidDatastore{Datastore: &ds.Self, Name: name},
					"The datastore '%s' is not mounted on host '%s'; choose a datastore the host mounts.", name, e.host.Name)
			}
		}
	}
	return nil, vim.NewFault(&types.InvalidDatastorePath{DatastorePath: dsPath},
		"Invalid datastore path '%s': datastore '%s' not found.", dsPath, name)
}

// network returns the standard network (port group) named name that the host
// is connected to.
func (e *vmEnv) network(name string) (types.ManagedObjectReference, bool) {
	for _, r := range e.host.Network {
		if n, ok := e.objs.Get(r).(*mo.Network); ok && n.Name == name {
			return n.Self, true
		}
	}
	return types.ManagedObjectReference{}, false
}

// portgroup returns the distributed port group with key that the host is a
// member of (or, failing that, any of the datacenter's).
func (e *vmEnv) portgroup(key string) (*mo.DistributedVirtualPortgroup, bool) {
	lists := [][]types.ManagedObjectReference{e.host.Network}
	if e.dc != nil {
		lists = append(lists, e.dc.Network)
	}
	for _, l := range lists {
		for _, r := range l {
			if pg, ok := e.objs.Get(r).(*mo.DistributedVirtualPortgroup); ok && (pg.Key == key || pg.Config.Key == key || pg.Self.Value == key) {
				return pg, true
			}
		}
	}
	return nil, false
}

var dsPathRE = regexp.MustCompile(`^\[([^\]]+)\]\s*(.*)$`)

// splitDSPath splits "[ds] dir/file" into "ds" and "dir/file".
func splitDSPath(p string) (ds, rel string, ok bool) {
	m := dsPathRE.FindStringSubmatch(strings.TrimSpace(p))
	if m == nil {
		return "", "", false
	}
	return m[1], strings.TrimSpace(m[2]), true
}

// dsPath joins a datastore name and a relative path as "[ds] rel".
func dsPath(ds, rel string) string {
	if rel == "" {
		return "[" + ds + "]"
	}
	return "[" + ds + "] " + rel
}

// vmDirOf returns the datastore path of the directory holding vmx, with a
// trailing slash ("[ds] vm/"), or "[ds] " for a file at the root.
func vmDirOf(vmx string) string {
	ds, rel, ok := splitDSPath(vmx)
	if !ok {
		return ""
	}
	dir := path.Dir(rel)
	if dir == "." || dir == "/" {
		return "[" + ds + "] "
	}
	return "[" + ds + "] " + dir + "/"
}

// vmDatastores lists the datastores vm has files on (configuration, disks,
// media), in order of first use.
func (e *vmEnv) vmDatastores(vm *mo.VirtualMachine) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	add := func(r *types.ManagedObjectReference) {
		if r != nil && r.Value != "" && !containsRef(out, *r) {
			out = append(out, *r)
		}
	}
	if ds, _, ok := splitDSPath(vm.Config.Files.VmPathName); ok {
		if d, err := e.datastore(ds, vm.Config.Files.VmPathName); err == nil {
			add(&d.Self)
		}
	}
	for _, d := range vm.Config.Hardware.Device {
		if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			add(b.GetVirtualDeviceFileBackingInfo().Datastore)
		}
	}
	return out
}

// vmNetworks lists the networks vm's adapters are connected to, in device
// order.
func (e *vmEnv) vmNetworks(vm *mo.VirtualMachine) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, d := range vm.Config.Hardware.Device {
		nic, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		var r *types.ManagedObjectReference
		switch b := nic.GetVirtualEthernetCard().Backing.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			r = b.Network
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			if pg, ok := e.portgroup(b.Port.PortgroupKey); ok {
				r = &pg.Self
			}
		}
		if r != nil && !containsRef(out, *r) {
			out = append(out, *r)
		}
	}
	return out
}

// deriveVM recomputes the properties of vm that follow from its
// configuration and runtime: the datastore and network lists, storage,
// layout, layoutEx and summary. Every change to a VM ends with it.
func (e *vmEnv) deriveVM(vm *mo.VirtualMachine, now time.Time) {
	vm.Name = vm.Config.Name
	vm.Datastore = e.vmDatastores(vm)
	vm.Network = e.vmNetworks(vm)
	vm.Config.DatastoreUrl = nil
	for _, r := range vm.Datastore {
		if ds := inventory.Get[mo.Datastore](e.objs, r); ds != nil {
			vm.Config.DatastoreUrl = append(vm.Config.DatastoreUrl, types.VirtualMachineConfigInfoDatastoreUrlPair{Name: ds.Name, Url: vmDatastoreURL(ds)})
		}
	}
	e.deriveLayout(vm, now)
	deriveSummary(vm)
}

// deriveSummary fills vm.summary from its other properties.
func deriveSummary(vm *mo.VirtualMachine) {
	c := vm.Config
	ref := vm.Self
	sum := &vm.Summary
	sum.Vm = &ref
	if ref.Value == "" {
		sum.Vm = nil
	}
	sum.Runtime = vim.DeepCopy(vm.Runtime)
	sum.OverallStatus = vm.OverallStatus
	var nics, disks int32
	for _, d := range c.Hardware.Device {
		switch d.(type) {
		case types.BaseVirtualEthernetCard:
			nics++
		case *types.VirtualDisk:
			disks++
		}
	}
	var cpuRes, memRes int32
	if c.CpuAllocation != nil && c.CpuAllocation.Reservation != nil {
		cpuRes = int32(*c.CpuAllocation.Reservation)
	}
	if c.MemoryAllocation != nil && c.MemoryAllocation.Reservation != nil {
		memRes = int32(*c.MemoryAllocation.Reservation)
	}
	sum.Config = types.VirtualMachineConfigSummary{
		Name:                c.Name,
		Template:            c.Template,
		VmPathName:          c.Files.VmPathName,
		MemorySizeMB:        c.Hardware.MemoryMB,
		CpuReservation:      cpuRes,
		MemoryReservation:   memRes,
		NumCpu:              c.Hardware.NumCPU,
		NumEthernetCards:    nics,
		NumVirtualDisks:     disks,
		Uuid:                c.Uuid,
		InstanceUuid:        c.InstanceUuid,
		GuestId:             c.GuestId,
		GuestFullName:       c.GuestFullName,
		Annotation:          c.Annotation,
		ManagedBy:           c.ManagedBy,
		InstallBootRequired: types.NewBool(false),
		TpmPresent:          types.NewBool(hasDevice[*types.VirtualTPM](c.Hardware.Device)),
		HwVersion:           c.Version,
	}
	g := vm.Guest
	sum.Guest = &types.VirtualMachineGuestSummary{
		GuestId:             c.GuestId,
		GuestFullName:       c.GuestFullName,
		ToolsStatus:         g.ToolsStatus,
		ToolsVersionStatus:  g.ToolsVersionStatus,
		ToolsVersionStatus2: g.ToolsVersionStatus2,
		ToolsRunningStatus:  g.ToolsRunningStatus,
		HostName:            g.HostName,
		IpAddress:           g.IpAddress,
		HwVersion:           c.Version,
	}
	if g.GuestFullName != "" {
		sum.Guest.GuestFullName = g.GuestFullName
	}
	sum.QuickStats.GuestHeartbeatStatus = vm.GuestHeartbeatStatus
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		sum.QuickStats = types.VirtualMachineQuickStats{GuestHeartbeatStatus: vm.GuestHeartbeatStatus}
	}
	if vm.Storage != nil {
		var st types.VirtualMachineStorageSummary
		for _, u := range vm.Storage.PerDatastoreUsage {
			st.Committed += u.Committed
			st.Uncommitted += u.Uncommitted
			st.Unshared += u.Unshared
		}
		st.Timestamp = vm.Storage.Timestamp
		sum.Storage = &st
	}
}

func hasDevice[T types.BaseVirtualDevice](devices []types.BaseVirtualDevice) bool {
	for _, d := range devices {
		if _, ok := d.(T); ok {
			return true
		}
	}
	return false
}

// Sizes of the small files of a VM directory, as a new VM has them.
const (
	vmxFileSize        = 2670
	vmsdFileSize       = 0
	vmxfFileSize       = 262
	nvramFileSize      = 270840
	logFileSize        = 180000
	diskDescriptorSize = 520
)

// deriveLayout fills vm.layout, vm.layoutEx and vm.storage from the VM's
// files and disks.
func (e *vmEnv) deriveLayout(vm *mo.VirtualMachine, now time.Time) {
	c := vm.Config
	dir := vmDirOf(c.Files.VmPathName)
	base := strings.TrimSuffix(path.Base(c.Files.VmPathName), ".vmx")
	lx := &types.VirtualMachineFileLayoutEx{Timestamp: now}
	usage := map[string]*types.VirtualMachineUsageOnDatastore{}
	var order []string
	account := func(file string, committed, uncommitted int64) {
		ds, _, _ := splitDSPath(file)
		u := usage[ds]
		if u == nil {
			u = &types.VirtualMachineUsageOnDatastore{}
			usage[ds] = u
			order = append(order, ds)
		}
		u.Committed += committed
		u.Uncommitted += uncommitted
		u.Unshared += committed
	}
	addFile := func(name, typ string, size int64) int32 {
		key := int32(len(lx.File))
		lx.File = append(lx.File, types.VirtualMachineFileLayoutExFileInfo{
			Key: key, Name: name, Type: typ, Size: size, UniqueSize: size, Accessible: types.NewBool(true),
		})
		account(name, size, 0)
		return key
	}
	layout := &types.VirtualMachineFileLayout{}
	addFile(c.Files.VmPathName, "config", vmxFileSize)
	addFile(dir+base+".vmsd", "snapshotList", vmsdFileSize)
	addFile(dir+base+".vmxf", "extendedConfig", vmxfFileSize)
	addFile(dir+base+".nvram", "nvram", nvramFileSize)
	layout.ConfigFile = []string{base + ".vmsd", base + ".vmxf", base + ".nvram"}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff || vm.Runtime.BootTime != nil {
		addFile(dir+"vmware.log", "log", logFileSize)
		layout.LogFile = []string{"vmware.log"}
	}
	if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
		swap := dir + base + ".vswp"
		addFile(swap, "swap", int64(c.Hardware.MemoryMB)<<20)
		layout.SwapFile = swap
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
		name := b.GetVirtualDeviceFileBackingInfo().FileName
		size, thin := diskCapacityBytes(disk), isThin(disk)
		committed := size
		if thin {
			committed = 0
		}
		desc := addFile(name, "diskDescriptor", diskDescriptorSize)
		extent := addFile(strings.TrimSuffix(name, ".vmdk")+"-flat.vmdk", "diskExtent", committed)
		if thin {
			account(name, 0, size)
		}
		lx.Disk = append(lx.Disk, types.VirtualMachineFileLayoutExDiskLayout{
			Key:   disk.Key,
			Chain: []types.VirtualMachineFileLayoutExDiskUnit{{FileKey: []int32{desc, extent}}},
		})
		layout.Disk = append(layout.Disk, types.VirtualMachineFileLayoutDiskLayout{Key: disk.Key, DiskFile: []string{name}})
	}
	vm.LayoutEx = lx
	vm.Layout = layout
	st := &types.VirtualMachineStorageInfo{Timestamp: now}
	for _, name := range order {
		u := *usage[name]
		if ds, err := e.datastore(name, dsPath(name, "")); err == nil {
			u.Datastore = ds.Self
		}
		st.PerDatastoreUsage = append(st.PerDatastoreUsage, u)
	}
	vm.Storage = st
}

// diskCapacityBytes returns a disk's capacity in bytes.
func diskCapacityBytes(d *types.VirtualDisk) int64 {
	if d.CapacityInBytes != 0 {
		return d.CapacityInBytes
	}
	return d.CapacityInKB * 1024
}

// isThin reports whether a disk is thin provisioned.
func isThin(d *types.VirtualDisk) bool {
	if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
		return b.ThinProvisioned != nil && *b.ThinProvisioned
	}
	return true
}

// vmListOf returns the list in o that holds VMs (a host's, pool's,
// datastore's or network's vm, a folder's childEntity), or nil.
func vmListOf(o mo.Reference) *[]types.ManagedObjectReference {
	switch x := o.(type) {
	case *mo.Folder:
		return &x.ChildEntity
	case *mo.HostSystem:
		return &x.Vm
	case *mo.ResourcePool:
		return &x.Vm
	case *mo.VirtualApp:
		return &x.Vm
	case *mo.Datastore:
		return &x.Vm
	case *mo.Network:
		return &x.Vm
	case *mo.DistributedVirtualPortgroup:
		return &x.Vm
	case *mo.OpaqueNetwork:
		return &x.Vm
	}
	return nil
}

// vmLinks returns the objects whose lists include vm: its folder, host,
// resource pool, datastores and networks.
func vmLinks(vm *mo.VirtualMachine) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	add := func(r *types.ManagedObjectReference) {
		if r != nil && r.Value != "" && !containsRef(out, *r) {
			out = append(out, *r)
		}
	}
	add(vm.Parent)
	add(vm.Runtime.Host)
	add(vm.ResourcePool)
	for i := range vm.Datastore {
		add(&vm.Datastore[i])
	}
	for i := range vm.Network {
		add(&vm.Network[i])
	}
	return out
}

// relinkVMTxn moves the VM ref from the lists of the objects in from to
// those of the objects in to: removed from objects only in from, added to
// objects only in to.
func relinkVMTxn(tx *inventory.Txn, ref types.ManagedObjectReference, from, to []types.ManagedObjectReference) {
	for _, r := range from {
		if containsRef(to, r) {
			continue
		}
		if o := tx.Get(r); o != nil {
			if l := vmListOf(o); l != nil && containsRef(*l, ref) {
				l = vmListOf(tx.Edit(r))
				*l = removeRef(*l, ref)
			}
		}
	}
	for _, r := range to {
		if containsRef(from, r) {
			continue
		}
		if o := tx.Get(r); o != nil {
			if l := vmListOf(o); l != nil && !containsRef(*l, ref) {
				l = vmListOf(tx.Edit(r))
				*l = append(*l, ref)
			}
		}
	}
}

// changeVersion returns a config.changeVersion for a change at t, in
// vCenter's form (an RFC 3339 time with microseconds).
func changeVersion(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// formatKB renders a capacity in KB with thousands separators, as vCenter's
// disk summaries do ("1,048,576 KB").
func formatKB(kb int64) string {
	s := fmt.Sprint(kb)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + " KB"
}
