package api

import (
	"fmt"
	"reflect"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/vim"
)

// deviceEditor applies the deviceChange list of a VirtualMachineConfigSpec
// to a VM's devices as vCenter does: negative (placeholder) keys become new
// keys in vCenter's ranges, devices get unit numbers on their controllers,
// controllers list their devices, backings, labels and summaries are filled
// in, and the disk files to create (before the change commits) and to
// delete (after it commits) are collected.
//
// A deviceEditor is used once, by one goroutine.
type deviceEditor struct {
	env *vmEnv
	// vmx is the VM's vmPathName; new disks go into its directory.
	vmx string
	// poweredOn says whether the VM runs, which decides connection states.
	poweredOn bool
	// newMAC allocates a vCenter-assigned MAC address; useMAC records one a
	// client chose and reports whether it was free.
	newMAC func() string
	useMAC func(mac string) bool

	devices []types.BaseVirtualDevice
	// keys maps the keys controllers have in the change to their new keys.
	keys map[int32]int32
	// created lists the disk files to create; destroyed those to delete.
	created   []driver.Disk
	destroyed []string
}

// invalidDevice returns vCenter's fault for the deviceChange entry at index
// i, explained by the formatted message.
func invalidDevice(i int, format string, args ...any) *vim.Fault {
	return vim.NewFault(&types.InvalidDeviceSpec{DeviceIndex: int32(i)},
		"Invalid configuration for device '%d': %s", i, fmt.Sprintf(format, args...))
}

// apply applies changes. Controllers are added first, so devices may refer
// to a controller added anywhere in the list; the other entries apply in
// order. On error the editor's state is undefined.
func (e *deviceEditor) apply(changes []types.BaseVirtualDeviceConfigSpec) error {
	e.keys = map[int32]int32{}
	for i, c := range changes {
		spec := c.GetVirtualDeviceConfigSpec()
		if spec.Device == nil {
			return invalidDevice(i, "the device is missing")
		}
		if spec.Operation == types.VirtualDeviceConfigSpecOperationAdd && isController(spec.Device) {
			if err := e.addController(i, spec); err != nil {
				return err
			}
		}
	}
	for i, c := range changes {
		spec := c.GetVirtualDeviceConfigSpec()
		var err error
		switch spec.Operation {
		case types.VirtualDeviceConfigSpecOperationAdd:
			if !isController(spec.Device) {
				err = e.add(i, spec)
			}
		case types.VirtualDeviceConfigSpecOperationEdit:
			err = e.edit(i, spec)
		case types.VirtualDeviceConfigSpecOperationRemove:
			err = e.remove(i, spec)
		default:
			err = invalidDevice(i, "unknown operation %q; use add, edit or remove", spec.Operation)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// find returns the index of the device with key, or -1.
func (e *deviceEditor) find(key int32) int {
	for i, d := range e.devices {
		if d.GetVirtualDevice().Key == key {
			return i
		}
	}
	return -1
}

// controller returns the controller with key, or nil.
func (e *deviceEditor) controller(key int32) vcontroller {
	if i := e.find(key); i >= 0 {
		c, _ := e.devices[i].(vcontroller)
		return c
	}
	return nil
}

// freeKey returns the first unused key from base on.
func (e *deviceEditor) freeKey(base int32) int32 {
	k := base
	for e.find(k) >= 0 {
		k++
	}
	return k
}

// addController applies the add entry at index i of a controller: it gets
// a bus number and vCenter's key for it. Adding a base controller (IDE,
// PCI, PS2, SIO) on a bus the VM already has refers to the existing one, as
// ESX treats it.
func (e *deviceEditor) addController(i int, spec *types.VirtualDeviceConfigSpec) error {
	dev := spec.Device
	kind := controllerKind(dev)
	info := controllerInfos[kind]
	if kind == ctrlNone {
		info.keyBase = deviceKeyBase(dev) // a controller of a type Vireo does not number
	}
	vc := dev.(vcontroller).GetVirtualController()
	specKey := vc.Key
	if info.maxBus == 0 {
		// USB controllers: one of each type.
		for _, d := range e.devices {
			if reflect.TypeOf(d) == reflect.TypeOf(dev) {
				return invalidDevice(i, "the virtual machine already has a %s", deviceLabel(d))
			}
		}
		vc.BusNumber = 0
		vc.Key = e.freeKey(info.keyBase)
	} else {
		bus, taken := e.freeBus(kind, vc.BusNumber)
		if taken != nil && info.base {
			e.keys[specKey] = taken.Key
			return nil
		}
		if bus < 0 {
			return invalidDevice(i, "the virtual machine already has the maximum of %d %s controllers", info.maxBus, info.name)
		}
		vc.BusNumber = bus
		vc.Key = e.freeKey(info.keyBase + bus)
	}
	e.keys[specKey] = vc.Key
	vc.Device = nil
	if err := e.place(i, dev); err != nil {
		return err
	}
	if err := e.configure(i, spec, nil); err != nil {
		return err
	}
	e.devices = append(e.devices, dev)
	e.attach(dev)
	return nil
}

// freeBus returns want if no controller of kind uses it, else the first free
// bus (-1 when none); taken is the controller on want, if any.
func (e *deviceEditor) freeBus(kind ctrlKind, want int32) (bus int32, taken *types.VirtualController) {
	used := map[int32]*types.VirtualController{}
	for _, d := range e.devices {
		if controllerKind(d) == kind {
			vc := d.(vcontroller).GetVirtualController()
			used[vc.BusNumber] = vc
		}
	}
	max := controllerInfos[kind].maxBus
	if c, ok := used[want]; ok {
		taken = c
	} else if want >= 0 && want < max {
		return want, nil
	}
	for b := int32(0); b < max; b++ {
		if used[b] == nil {
			return b, taken
		}
	}
	return -1, taken
}

// add applies the add entry at index i of a device that is not a
// controller.
func (e *deviceEditor) add(i int, spec *types.VirtualDeviceConfigSpec) error {
	dev := spec.Device
	d := dev.GetVirtualDevice()
	if err := e.place(i, dev); err != nil {
		return err
	}
	d.Key = e.newKey(dev)
	if err := e.configure(i, spec, nil); err != nil {
		return err
	}
	e.devices = append(e.devices, dev)
	e.attach(dev)
	return nil
}

// edit applies an edit entry: the device in the spec replaces the VM's
// device with the same key.
func (e *deviceEditor) edit(i int, spec *types.VirtualDeviceConfigSpec) error {
	dev := spec.Device
	d := dev.GetVirtualDevice()
	at := e.find(d.Key)
	if at < 0 {
		return invalidDevice(i, "the virtual machine has no device with key %d", d.Key)
	}
	old := e.devices[at]
	if reflect.TypeOf(old) != reflect.TypeOf(dev) {
		return invalidDevice(i, "device %d is a %s; an edit cannot change the device type", d.Key, deviceLabel(old))
	}
	od := old.GetVirtualDevice()
	if c, ok := dev.(vcontroller); ok {
		vc, ovc := c.GetVirtualController(), old.(vcontroller).GetVirtualController()
		vc.BusNumber, vc.Device = ovc.BusNumber, ovc.Device
	}
	if d.ControllerKey == 0 {
		d.ControllerKey = od.ControllerKey
	}
	if d.UnitNumber == nil {
		d.UnitNumber = od.UnitNumber
	}
	moved := d.ControllerKey != od.ControllerKey || !sameUnit(d.UnitNumber, od.UnitNumber)
	e.detach(old)
	e.devices = append(e.devices[:at:at], e.devices[at+1:]...)
	if moved {
		if err := e.place(i, dev); err != nil {
			return err
		}
	}
	if err := e.configure(i, spec, old); err != nil {
		return err
	}
	e.devices = append(e.devices[:at], append([]types.BaseVirtualDevice{dev}, e.devices[at:]...)...)
	e.attach(dev)
	return nil
}

// remove applies a remove entry.
func (e *deviceEditor) remove(i int, spec *types.VirtualDeviceConfigSpec) error {
	key := spec.Device.GetVirtualDevice().Key
	at := e.find(key)
	if at < 0 {
		return invalidDevice(i, "the virtual machine has no device with key %d", key)
	}
	old := e.devices[at]
	if isSystemDevice(old) {
		return invalidDevice(i, "the %s cannot be removed", deviceLabel(old))
	}
	if c, ok := old.(vcontroller); ok && len(c.GetVirtualController().Device) > 0 {
		return invalidDevice(i, "the %s has devices attached (keys %v); remove them first",
			deviceLabel(old), c.GetVirtualController().Device)
	}
	if disk, ok := old.(*types.VirtualDisk); ok && spec.FileOperation == types.VirtualDeviceConfigSpecFileOperationDestroy {
		if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			e.destroyed = append(e.destroyed, b.GetVirtualDeviceFileBackingInfo().FileName)
		}
	}
	e.detach(old)
	e.devices = append(e.devices[:at:at], e.devices[at+1:]...)
	return nil
}

func sameUnit(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// place resolves dev's controller (mapping a key added in this change,
// choosing a default when it has none) and its unit number, checking both.
func (e *deviceEditor) place(i int, dev types.BaseVirtualDevice) error {
	d := dev.GetVirtualDevice()
	if k, ok := e.keys[d.ControllerKey]; ok && d.ControllerKey != 0 && (d.ControllerKey < 0 || e.find(d.ControllerKey) < 0) {
		d.ControllerKey = k
	}
	kinds := controllerKindsFor(dev)
	if d.ControllerKey == 0 {
		if len(kinds) == 0 {
			d.UnitNumber = nil
			return nil
		}
		c := e.pickController(dev, kinds)
		if c == nil {
			return invalidDevice(i, "no %s controller with a free slot; add a controller first", kinds[0].name())
		}
		d.ControllerKey = c.GetVirtualController().Key
		d.UnitNumber = nil
	}
	c := e.controller(d.ControllerKey)
	if c == nil {
		return invalidDevice(i, "device refers to controller key %d, which the virtual machine does not have", d.ControllerKey)
	}
	if len(kinds) > 0 && !hasKind(kinds, controllerKind(c)) {
		return invalidDevice(i, "a %s cannot be attached to %s", deviceTypeName(dev), deviceLabel(c))
	}
	if d.UnitNumber != nil {
		if !e.unitFree(c, dev, *d.UnitNumber) {
			return invalidDevice(i, "unit number %d of %s is taken or out of range", *d.UnitNumber, deviceLabel(c))
		}
		return nil
	}
	u, ok := e.freeUnit(c, dev)
	if !ok {
		return invalidDevice(i, "%s has no free unit number; add another controller", deviceLabel(c))
	}
	d.UnitNumber = &u
	return nil
}

// pickController returns the first controller of one of kinds (in order of
// preference) with a free unit for dev.
func (e *deviceEditor) pickController(dev types.BaseVirtualDevice, kinds []ctrlKind) vcontroller {
	for _, k := range kinds {
		for _, d := range e.devices {
			if controllerKind(d) != k {
				continue
			}
			c := d.(vcontroller)
			if _, ok := e.freeUnit(c, dev); ok {
				return c
			}
		}
	}
	return nil
}

// unitFree reports whether unit u of controller c can take dev.
func (e *deviceEditor) unitFree(c vcontroller, dev types.BaseVirtualDevice, u int32) bool {
	first, limit := unitRange(c, dev)
	if u < 0 || u >= limit || u < first && controllerKind(c) != ctrlPCI {
		return false
	}
	if sc, ok := c.(types.BaseVirtualSCSIController); ok && u == scsiUnit(sc) {
		return false
	}
	key := c.GetVirtualController().Key
	sio := controllerKind(c) == ctrlSIO
	for _, d := range e.devices {
		vd := d.GetVirtualDevice()
		if vd.ControllerKey != key || vd.UnitNumber == nil || *vd.UnitNumber != u {
			continue
		}
		if sio && reflect.TypeOf(d) != reflect.TypeOf(dev) {
			continue // SIO numbers units per device type (floppy A/B, COM1-4, LPT1-3)
		}
		return false
	}
	return true
}

// freeUnit returns the first free unit of controller c for dev.
func (e *deviceEditor) freeUnit(c vcontroller, dev types.BaseVirtualDevice) (int32, bool) {
	first, limit := unitRange(c, dev)
	for u := first; u < limit; u++ {
		if e.unitFree(c, dev, u) {
			return u, true
		}
	}
	return 0, false
}

func scsiUnit(sc types.BaseVirtualSCSIController) int32 {
	return sc.GetVirtualSCSIController().ScsiCtlrUnitNumber
}

// newKey returns vCenter's key for a new device placed on its controller:
// storage devices are numbered by controller bus and unit (SCSI 0:1 is
// 2001, IDE 1:0 is 3002), others take the first free key of their range.
func (e *deviceEditor) newKey(dev types.BaseVirtualDevice) int32 {
	d := dev.GetVirtualDevice()
	if c := e.controller(d.ControllerKey); c != nil && d.UnitNumber != nil && isStorageDevice(dev) {
		info := controllerInfos[controllerKind(c)]
		if info.devBase != 0 {
			k := info.devBase + c.GetVirtualController().BusNumber*info.devStride + *d.UnitNumber
			if e.find(k) < 0 {
				return k
			}
			return e.freeKey(info.devBase)
		}
	}
	return e.freeKey(deviceKeyBase(dev))
}

// attach adds dev's key to its controller's device list.
func (e *deviceEditor) attach(dev types.BaseVirtualDevice) {
	d := dev.GetVirtualDevice()
	if c := e.controller(d.ControllerKey); c != nil {
		vc := c.GetVirtualController()
		for _, k := range vc.Device {
			if k == d.Key {
				return
			}
		}
		vc.Device = append(vc.Device, d.Key)
	}
}

// detach removes dev's key from its controller's device list.
func (e *deviceEditor) detach(dev types.BaseVirtualDevice) {
	d := dev.GetVirtualDevice()
	if c := e.controller(d.ControllerKey); c != nil {
		vc := c.GetVirtualController()
		out := vc.Device[:0:0]
		for _, k := range vc.Device {
			if k != d.Key {
				out = append(out, k)
			}
		}
		vc.Device = out
	}
}

// configure fills in an added or edited device: backing, MAC, capacity,
// connection state, label and summary. old is the device an edit replaces.
func (e *deviceEditor) configure(i int, spec *types.VirtualDeviceConfigSpec, old types.BaseVirtualDevice) error {
	dev := spec.Device
	switch x := dev.(type) {
	case *types.VirtualDisk:
		oldDisk, _ := old.(*types.VirtualDisk)
		if err := e.configureDisk(i, spec, x, oldDisk); err != nil {
			return err
		}
	case types.BaseVirtualEthernetCard:
		if err := e.configureNIC(i, x, old); err != nil {
			return err
		}
	case vcontroller:
		configureController(x)
	}
	if err := e.configureMedia(i, dev); err != nil {
		return err
	}
	e.configureConnectable(dev, old)
	d := dev.GetVirtualDevice()
	desc := &types.Description{}
	if d.DeviceInfo != nil {
		desc = d.DeviceInfo.GetDescription()
	}
	if desc.Label == "" && old != nil && old.GetVirtualDevice().DeviceInfo != nil {
		desc.Label = old.GetVirtualDevice().DeviceInfo.GetDescription().Label
	}
	if desc.Label == "" {
		desc.Label = e.newLabel(dev)
	}
	desc.Summary = deviceSummary(dev, desc.Label)
	d.DeviceInfo = desc
	return nil
}

// configureConnectable gives connectable devices a connection state: a new
// one starts connected at power on; only a running VM's devices are
// connected.
func (e *deviceEditor) configureConnectable(dev types.BaseVirtualDevice, old types.BaseVirtualDevice) {
	d := dev.GetVirtualDevice()
	if !isConnectable(dev) {
		return
	}
	if d.Connectable == nil {
		if old != nil && old.GetVirtualDevice().Connectable != nil {
			c := *old.GetVirtualDevice().Connectable
			d.Connectable = &c
		} else {
			d.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: true, AllowGuestControl: true, Connected: e.poweredOn}
		}
	}
	c := d.Connectable
	if !e.poweredOn {
		c.Connected = false
	}
	switch {
	case c.Connected:
		c.Status = string(types.VirtualDeviceConnectInfoStatusOk)
	case c.Status == "" || !e.poweredOn:
		c.Status = string(types.VirtualDeviceConnectInfoStatusUntried)
	}
}

// newLabel returns the label of a new device: "Hard disk 2" takes the
// lowest number no other device of its kind uses.
func (e *deviceEditor) newLabel(dev types.BaseVirtualDevice) string {
	prefix, numbered := labelPrefix(dev)
	if !numbered {
		return prefix
	}
	if c, ok := dev.(vcontroller); ok {
		return fmt.Sprintf("%s %d", prefix, c.GetVirtualController().BusNumber)
	}
	used := map[string]bool{}
	for _, d := range e.devices {
		if di := d.GetVirtualDevice().DeviceInfo; di != nil {
			used[di.GetDescription().Label] = true
		}
	}
	for n := 1; ; n++ {
		l := fmt.Sprintf("%s %d", prefix, n)
		if !used[l] {
			return l
		}
	}
}
