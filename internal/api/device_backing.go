package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/vim"
)

// configureDisk fills an added or edited disk: capacity in both units, file
// name (new files are named after the VM: "[ds] vm/vm.vmdk", "vm_1.vmdk"),
// datastore and backing defaults. A disk with fileOperation create is
// queued for creation on the host.
func (e *deviceEditor) configureDisk(i int, spec *types.VirtualDeviceConfigSpec, disk, old *types.VirtualDisk) error {
	if disk.Backing == nil && old != nil {
		disk.Backing = old.Backing
	}
	fb, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
	if !ok {
		return vim.NewFault(&types.InvalidDeviceBacking{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)}},
			"Invalid configuration for device '%d': a virtual disk needs a file backing such as VirtualDiskFlatVer2BackingInfo.", i)
	}
	size, err := diskSize(i, disk, old)
	if err != nil {
		return err
	}
	disk.CapacityInBytes, disk.CapacityInKB = size, size/1024
	fi := fb.GetVirtualDeviceFileBackingInfo()
	queued := len(e.created)
	if old != nil {
		ofi := old.Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo()
		if fi.FileName == "" {
			fi.FileName = ofi.FileName
		}
		if fi.Datastore == nil {
			fi.Datastore = ofi.Datastore
		}
	} else if err := e.diskFile(i, spec, fi, size); err != nil {
		return err
	}
	if fi.FileName != "" && fi.Datastore == nil {
		ds, err := e.fileDatastore(fi.FileName)
		if err != nil {
			return err
		}
		fi.Datastore = &ds.Self
	}
	if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
		flatDefaults(b)
		if len(e.created) > queued {
			e.created[queued].Thin = *b.ThinProvisioned
		}
	}
	if disk.StorageIOAllocation == nil {
		disk.StorageIOAllocation = &types.StorageIOAllocationInfo{
			Limit:       types.NewInt64(-1),
			Shares:      &types.SharesInfo{Shares: 1000, Level: types.SharesLevelNormal},
			Reservation: types.NewInt32(0),
		}
	}
	return nil
}

// diskSize returns the capacity in bytes an added or edited disk asks for.
// An edit may grow a disk, never shrink it; of the two units, the one that
// changed wins.
func diskSize(i int, disk, old *types.VirtualDisk) (int64, error) {
	bytes, kb := disk.CapacityInBytes, disk.CapacityInKB
	if old == nil {
		if bytes != 0 && kb != 0 && bytes != kb*1024 {
			return 0, invalidDevice(i, "capacityInKB (%d) and capacityInBytes (%d) disagree", kb, bytes)
		}
		if bytes == 0 {
			bytes = kb * 1024
		}
		if bytes < 0 {
			return 0, invalidDevice(i, "the disk capacity %d is negative", bytes)
		}
		return bytes, nil
	}
	was := diskCapacityBytes(old)
	size := was
	switch {
	case bytes != 0 && bytes != old.CapacityInBytes:
		size = bytes
	case kb != 0 && kb != old.CapacityInKB:
		size = kb * 1024
	}
	if size < was {
		return 0, vim.NewFault(&types.InvalidDeviceOperation{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)}},
			"Invalid operation for device '%d': a disk cannot shrink (from %d KB to %d KB).", i, was/1024, size/1024)
	}
	return size, nil
}

// diskFile resolves the file of a new disk. With fileOperation create, a
// missing file name or a directory gets a file named after the VM, and the
// file is queued for creation; otherwise the disk attaches an existing file.
func (e *deviceEditor) diskFile(i int, spec *types.VirtualDeviceConfigSpec, fi *types.VirtualDeviceFileBackingInfo, size int64) error {
	dsName, rel, ok := splitDSPath(fi.FileName)
	if !ok {
		if fi.FileName != "" {
			return vim.NewFault(&types.InvalidDatastorePath{DatastorePath: fi.FileName},
				"Invalid datastore path '%s'; use the form '[datastore] dir/file.vmdk'.", fi.FileName)
		}
		dsName = e.datastoreName(fi.Datastore)
	}
	if spec.FileOperation != types.VirtualDeviceConfigSpecFileOperationCreate {
		if rel == "" {
			return invalidDevice(i, "an existing disk needs its file name; to make a new disk, use fileOperation create")
		}
		return nil
	}
	if d, ok := spec.Device.(*types.VirtualDisk); ok {
		if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.Parent != nil {
			return vim.NotSupported("Invalid configuration for device '%d': delta disks (a new disk with a parent backing, as govc's -link makes) are not supported yet; attach the disk %s itself (govc: -link=false).", i, b.Parent.FileName)
		}
	}
	if size == 0 {
		return invalidDevice(i, "a new disk needs a capacity (capacityInKB or capacityInBytes)")
	}
	if rel == "" || !strings.HasSuffix(rel, ".vmdk") {
		fi.FileName = e.newDiskPath(dsName, rel)
	} else {
		fi.FileName = dsPath(dsName, rel)
		if e.diskPathUsed(fi.FileName) {
			return vim.NewFault(&types.FileAlreadyExists{FileFault: types.FileFault{File: fi.FileName}},
				"Cannot complete the operation because the file or folder %s already exists", fi.FileName)
		}
	}
	e.created = append(e.created, driver.Disk{Path: fi.FileName, CapacityBytes: size, Thin: true})
	return nil
}

// datastoreName returns the name of datastore ref, or of the VM's
// datastore when ref is nil or unknown.
func (e *deviceEditor) datastoreName(ref *types.ManagedObjectReference) string {
	if ref != nil {
		if ds := inventory.Get[mo.Datastore](e.env.objs, *ref); ds != nil {
			return ds.Name
		}
	}
	ds, _, _ := splitDSPath(e.vmx)
	return ds
}

// newDiskPath names a new disk file on datastore ds in directory dir (the
// VM's directory when empty): the VM's name, then name_1, name_2, ...
func (e *deviceEditor) newDiskPath(ds, dir string) string {
	_, vmxRel, _ := splitDSPath(e.vmx)
	base := strings.TrimSuffix(path.Base(vmxRel), ".vmx")
	if dir == "" {
		if d := path.Dir(vmxRel); d != "." {
			dir = d
		}
	}
	for n := 0; ; n++ {
		name := base + ".vmdk"
		if n > 0 {
			name = fmt.Sprintf("%s_%d.vmdk", base, n)
		}
		p := dsPath(ds, path.Join(dir, name))
		if !e.diskPathUsed(p) {
			return p
		}
	}
}

// diskPathUsed reports whether a disk of the VM, or one being created, has
// file p.
func (e *deviceEditor) diskPathUsed(p string) bool {
	for _, c := range e.created {
		if c.Path == p {
			return true
		}
	}
	for _, d := range e.devices {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok && b.GetVirtualDeviceFileBackingInfo().FileName == p {
				return true
			}
		}
	}
	return false
}

// fileDatastore resolves the datastore of a datastore path.
func (e *deviceEditor) fileDatastore(p string) (*mo.Datastore, error) {
	ds, _, ok := splitDSPath(p)
	if !ok {
		return nil, vim.NewFault(&types.InvalidDatastorePath{DatastorePath: p},
			"Invalid datastore path '%s'; use the form '[datastore] dir/file'.", p)
	}
	return e.env.datastore(ds, p)
}

// flatDefaults fills the unset flags of a flat disk backing as vCenter
// reports them, and gives it a UUID.
func flatDefaults(b *types.VirtualDiskFlatVer2BackingInfo) {
	if b.DiskMode == "" {
		b.DiskMode = string(types.VirtualDiskModePersistent)
	}
	for _, p := range []**bool{&b.ThinProvisioned, &b.EagerlyScrub, &b.WriteThrough, &b.Split, &b.DigestEnabled} {
		if *p == nil {
			*p = types.NewBool(false)
		}
	}
	if b.Sharing == "" {
		b.Sharing = string(types.VirtualDiskSharingSharingNone)
	}
	if b.Uuid == "" {
		b.Uuid = diskUUID()
	}
	if b.ContentId == "" {
		var c [16]byte
		_, _ = rand.Read(c[:])
		b.ContentId = hex.EncodeToString(c[:])
	}
}

// diskUUID returns a new virtual disk UUID in vCenter's form
// ("6000C29x-xxxx-xxxx-xxxx-xxxxxxxxxxxx").
func diskUUID() string {
	u := uuid.NewString()
	return "6000C2" + u[6:]
}

// configureNIC resolves a network adapter's backing and gives it a MAC
// address: vCenter assigns one ("00:50:56:8x:xx:xx", addressType assigned)
// unless the client sets addressType manual; an edit keeps the old one.
func (e *deviceEditor) configureNIC(i int, nic types.BaseVirtualEthernetCard, old types.BaseVirtualDevice) error {
	c := nic.GetVirtualEthernetCard()
	var oldMAC string
	if o, ok := old.(types.BaseVirtualEthernetCard); ok {
		oldMAC = o.GetVirtualEthernetCard().MacAddress
		if c.Backing == nil {
			c.Backing = o.GetVirtualEthernetCard().Backing
		}
	}
	if err := e.nicBacking(i, c); err != nil {
		return err
	}
	if c.AddressType == string(types.VirtualEthernetCardMacTypeManual) {
		hw, err := net.ParseMAC(c.MacAddress)
		if err != nil || len(hw) != 6 {
			return invalidDevice(i, "MAC address %q is not valid; use the form 00:50:56:00:00:01", c.MacAddress)
		}
		c.MacAddress = hw.String()
		if c.MacAddress != oldMAC {
			e.useMAC(c.MacAddress)
		}
	} else {
		if oldMAC != "" && (c.MacAddress == "" || c.MacAddress == oldMAC) {
			c.MacAddress = oldMAC
		} else {
			c.MacAddress = e.newMAC()
		}
		c.AddressType = string(types.VirtualEthernetCardMacTypeAssigned)
	}
	if c.WakeOnLanEnabled == nil {
		c.WakeOnLanEnabled = types.NewBool(true)
	}
	if c.ResourceAllocation == nil {
		c.ResourceAllocation = &types.VirtualEthernetCardResourceAllocation{
			Reservation: types.NewInt64(0),
			Share:       types.SharesInfo{Shares: 50, Level: types.SharesLevelNormal},
			Limit:       types.NewInt64(-1),
		}
	}
	return nil
}

// nicBacking resolves the network of an adapter's backing on the VM's host.
func (e *deviceEditor) nicBacking(i int, c *types.VirtualEthernetCard) error {
	bad := func(format string, args ...any) error {
		return vim.NewFault(&types.InvalidDeviceBacking{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)}},
			"Invalid configuration for device '%d': %s", i, fmt.Sprintf(format, args...))
	}
	switch b := c.Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		ref, ok := e.env.network(b.DeviceName)
		if !ok {
			return bad("network '%s' is not available on host %s", b.DeviceName, e.env.host.Name)
		}
		b.Network = &ref
		if b.UseAutoDetect == nil {
			b.UseAutoDetect = types.NewBool(false)
		}
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		pg, ok := e.env.portgroup(b.Port.PortgroupKey)
		if !ok {
			return bad("distributed port group '%s' is not available on host %s", b.Port.PortgroupKey, e.env.host.Name)
		}
		if b.Port.SwitchUuid == "" && pg.Config.DistributedVirtualSwitch != nil {
			if dvs, ok := e.env.objs.Get(*pg.Config.DistributedVirtualSwitch).(*mo.DistributedVirtualSwitch); ok {
				b.Port.SwitchUuid = dvs.Uuid
			} else if dvs, ok := e.env.objs.Get(*pg.Config.DistributedVirtualSwitch).(*mo.VmwareDistributedVirtualSwitch); ok {
				b.Port.SwitchUuid = dvs.Uuid
			}
		}
	case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
	case nil:
		return bad("a network adapter needs a backing such as VirtualEthernetCardNetworkBackingInfo")
	default:
		return bad("backing %T is not supported for network adapters", b)
	}
	return nil
}

// configureMedia resolves the datastore of a file-backed device other than
// a disk (an ISO image, a floppy image, a serial port's output file).
func (e *deviceEditor) configureMedia(i int, dev types.BaseVirtualDevice) error {
	if _, disk := dev.(*types.VirtualDisk); disk {
		return nil
	}
	fb, ok := dev.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo)
	if !ok {
		return nil
	}
	fi := fb.GetVirtualDeviceFileBackingInfo()
	if fi.FileName == "" {
		return invalidDevice(i, "the %s needs a file name in its backing", deviceTypeName(dev))
	}
	ds, err := e.fileDatastore(fi.FileName)
	if err != nil {
		return err
	}
	fi.Datastore = &ds.Self
	return nil
}
