package api

import (
	"reflect"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// vcontroller is a device that is a controller (types.BaseVirtualController
// does not include types.BaseVirtualDevice).
type vcontroller interface {
	types.BaseVirtualDevice
	GetVirtualController() *types.VirtualController
}

// ctrlKind classifies controllers by the buses they provide.
type ctrlKind int

const (
	ctrlNone ctrlKind = iota
	ctrlIDE
	ctrlSCSI
	ctrlSATA
	ctrlNVMe
	ctrlPCI
	ctrlPS2
	ctrlSIO
	ctrlUSB
)

// ctrlInfo holds vCenter's numbering for one kind of controller.
type ctrlInfo struct {
	name string
	// keyBase is the key of the controller on bus 0; bus n has keyBase+n.
	keyBase int32
	// maxBus is the number of controllers of the kind a VM may have (0: one
	// per controller type, as USB).
	maxBus int32
	// units is the number of unit numbers per controller.
	units int32
	// devBase and devStride number the storage devices on the controller:
	// devBase + bus*devStride + unit.
	devBase, devStride int32
	// base marks the controllers every VM has.
	base bool
}

var controllerInfos = map[ctrlKind]ctrlInfo{
	ctrlIDE:  {name: "IDE", keyBase: 200, maxBus: 2, units: 2, devBase: 3000, devStride: 2, base: true},
	ctrlSCSI: {name: "SCSI", keyBase: 1000, maxBus: 4, units: 16, devBase: 2000, devStride: 16},
	ctrlSATA: {name: "SATA", keyBase: 15000, maxBus: 4, units: 30, devBase: 16000, devStride: 30},
	ctrlNVMe: {name: "NVMe", keyBase: 31000, maxBus: 4, units: 15, devBase: 32000, devStride: 64},
	ctrlPCI:  {name: "PCI", keyBase: 100, maxBus: 1, units: 64, base: true},
	ctrlPS2:  {name: "PS2", keyBase: 300, maxBus: 1, units: 2, base: true},
	ctrlSIO:  {name: "SIO", keyBase: 400, maxBus: 1, units: 4, base: true},
	ctrlUSB:  {name: "USB", keyBase: 7000, units: 20},
}

func (k ctrlKind) name() string { return controllerInfos[k].name }

// controllerKind returns the kind of controller d is, or ctrlNone.
func controllerKind(d types.BaseVirtualDevice) ctrlKind {
	switch d.(type) {
	case *types.VirtualIDEController:
		return ctrlIDE
	case types.BaseVirtualSCSIController:
		return ctrlSCSI
	case types.BaseVirtualSATAController:
		return ctrlSATA
	case *types.VirtualNVMEController:
		return ctrlNVMe
	case *types.VirtualPCIController:
		return ctrlPCI
	case *types.VirtualPS2Controller:
		return ctrlPS2
	case *types.VirtualSIOController:
		return ctrlSIO
	case *types.VirtualUSBController:
		return ctrlUSB
	case *types.VirtualUSBXHCIController:
		return ctrlUSB
	}
	return ctrlNone
}

// isController reports whether d is a controller.
func isController(d types.BaseVirtualDevice) bool {
	_, ok := d.(vcontroller)
	return ok
}

// controllerKindsFor lists the controllers d may attach to, in order of
// preference when the spec names none; nil for devices on no controller.
func controllerKindsFor(d types.BaseVirtualDevice) []ctrlKind {
	switch d.(type) {
	case *types.VirtualDisk:
		return []ctrlKind{ctrlSCSI, ctrlSATA, ctrlNVMe, ctrlIDE}
	case *types.VirtualCdrom:
		return []ctrlKind{ctrlIDE, ctrlSATA}
	case types.BaseVirtualEthernetCard, *types.VirtualMachineVideoCard, *types.VirtualMachineVMCIDevice,
		types.BaseVirtualSCSIController, types.BaseVirtualSATAController, *types.VirtualNVMEController,
		*types.VirtualUSBController, *types.VirtualUSBXHCIController, types.BaseVirtualSoundCard,
		*types.VirtualPCIPassthrough:
		return []ctrlKind{ctrlPCI}
	case *types.VirtualFloppy, *types.VirtualSerialPort, *types.VirtualParallelPort:
		return []ctrlKind{ctrlSIO}
	case *types.VirtualKeyboard, *types.VirtualPointingDevice:
		return []ctrlKind{ctrlPS2}
	case *types.VirtualUSB:
		return []ctrlKind{ctrlUSB}
	}
	return nil
}

func hasKind(kinds []ctrlKind, k ctrlKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// unitRange returns the unit numbers [first, limit) controller c offers
// dev. On the PCI bus network adapters start at 7 and controllers at 3, as
// vCenter numbers them; SIO ports are numbered per type.
func unitRange(c vcontroller, dev types.BaseVirtualDevice) (first, limit int32) {
	kind := controllerKind(c)
	limit = controllerInfos[kind].units
	switch kind {
	case ctrlPCI:
		switch dev.(type) {
		case types.BaseVirtualEthernetCard:
			first = 7
		case vcontroller:
			first = 3
		}
	case ctrlSIO:
		switch dev.(type) {
		case *types.VirtualFloppy:
			limit = 2
		case *types.VirtualParallelPort:
			limit = 3
		}
	}
	return first, limit
}

// isStorageDevice reports whether d is numbered by controller bus and unit.
func isStorageDevice(d types.BaseVirtualDevice) bool {
	switch d.(type) {
	case *types.VirtualDisk, *types.VirtualCdrom:
		return true
	}
	return false
}

// deviceKeyBase returns the first key of the range vCenter gives devices
// like d that are not numbered by bus and unit.
func deviceKeyBase(d types.BaseVirtualDevice) int32 {
	switch d.(type) {
	case types.BaseVirtualEthernetCard:
		return 4000
	case types.BaseVirtualSoundCard:
		return 5000
	case *types.VirtualFloppy:
		return 8000
	case *types.VirtualSerialPort:
		return 9000
	case *types.VirtualParallelPort:
		return 10000
	case *types.VirtualTPM:
		return 11000
	case *types.VirtualMachineVMCIDevice:
		return 12000
	case *types.VirtualPCIPassthrough:
		return 13000
	case *types.VirtualUSB:
		return 17000
	case *types.VirtualWDT:
		return 18000
	case *types.VirtualPrecisionClock:
		return 19000
	case *types.VirtualMachineVideoCard:
		return 500
	case *types.VirtualKeyboard:
		return 600
	case *types.VirtualPointingDevice:
		return 700
	}
	return 20000
}

// isSystemDevice reports whether d is a device vCenter does not let a VM
// lose: its base controllers and built-in devices.
func isSystemDevice(d types.BaseVirtualDevice) bool {
	switch d.(type) {
	case *types.VirtualPCIController, *types.VirtualPS2Controller, *types.VirtualSIOController,
		*types.VirtualIDEController, *types.VirtualKeyboard, *types.VirtualPointingDevice,
		*types.VirtualMachineVideoCard, *types.VirtualMachineVMCIDevice:
		return true
	}
	return false
}

// isConnectable reports whether d has a connection state.
func isConnectable(d types.BaseVirtualDevice) bool {
	switch d.(type) {
	case types.BaseVirtualEthernetCard, *types.VirtualCdrom, *types.VirtualFloppy, *types.VirtualSerialPort,
		*types.VirtualParallelPort, *types.VirtualUSB, types.BaseVirtualSoundCard:
		return true
	}
	return false
}

// labelPrefix returns the label of d's kind, and whether labels are
// numbered ("Hard disk 1"; controllers by bus: "SCSI controller 0").
func labelPrefix(d types.BaseVirtualDevice) (string, bool) {
	switch d.(type) {
	case *types.VirtualDisk:
		return "Hard disk", true
	case types.BaseVirtualEthernetCard:
		return "Network adapter", true
	case *types.VirtualCdrom:
		return "CD/DVD drive", true
	case *types.VirtualFloppy:
		return "Floppy drive", true
	case *types.VirtualSerialPort:
		return "Serial port", true
	case *types.VirtualParallelPort:
		return "Parallel port", true
	case *types.VirtualUSB:
		return "USB device", true
	case types.BaseVirtualSoundCard:
		return "Sound card", false
	case *types.VirtualPCIPassthrough:
		return "PCI device", true
	case *types.VirtualIDEController:
		return "IDE", true
	case types.BaseVirtualSCSIController:
		return "SCSI controller", true
	case types.BaseVirtualSATAController:
		return "SATA controller", true
	case *types.VirtualNVMEController:
		return "NVME controller", true
	case *types.VirtualPCIController:
		return "PCI controller", true
	case *types.VirtualPS2Controller:
		return "PS2 controller", true
	case *types.VirtualSIOController:
		return "SIO controller", true
	case *types.VirtualUSBController:
		return "USB controller", false
	case *types.VirtualUSBXHCIController:
		return "USB xHCI controller", false
	case *types.VirtualTPM:
		return "Virtual TPM", false
	case *types.VirtualWDT:
		return "Virtual Watchdog Timer", false
	case *types.VirtualPrecisionClock:
		return "Virtual Precision Clock", false
	case *types.VirtualMachineVideoCard:
		return "Video card ", false
	case *types.VirtualKeyboard:
		return "Keyboard ", false
	case *types.VirtualPointingDevice:
		return "Pointing device", false
	case *types.VirtualMachineVMCIDevice:
		return "VMCI device", false
	}
	return deviceTypeName(d), false
}

// deviceLabel returns d's label, or its kind's when it has none.
func deviceLabel(d types.BaseVirtualDevice) string {
	if di := d.GetVirtualDevice().DeviceInfo; di != nil && di.GetDescription().Label != "" {
		return di.GetDescription().Label
	}
	p, _ := labelPrefix(d)
	return strings.TrimSpace(p)
}

// deviceTypeName returns d's vim type name ("VirtualDisk").
func deviceTypeName(d types.BaseVirtualDevice) string {
	return reflect.TypeOf(d).Elem().Name()
}

// scsiSummaries are vCenter's summaries of SCSI controller types.
var scsiSummaries = map[string]string{
	"VirtualLsiLogicController":    "LSI Logic",
	"VirtualLsiLogicSASController": "LSI Logic SAS",
	"ParaVirtualSCSIController":    "VMware paravirtual SCSI",
	"VirtualBusLogicController":    "BusLogic",
}

// deviceSummary returns vCenter's summary of d, whose label is label.
func deviceSummary(d types.BaseVirtualDevice, label string) string {
	switch x := d.(type) {
	case *types.VirtualDisk:
		return formatKB(diskCapacityBytes(x) / 1024)
	case types.BaseVirtualEthernetCard:
		switch b := x.GetVirtualEthernetCard().Backing.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			return b.DeviceName
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			return "DVSwitch: " + b.Port.SwitchUuid
		case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
			return "nsx.LogicalSwitch: " + b.OpaqueNetworkId
		}
	case *types.VirtualCdrom:
		switch b := x.Backing.(type) {
		case *types.VirtualCdromIsoBackingInfo:
			return "ISO " + b.FileName
		case *types.VirtualCdromRemotePassthroughBackingInfo:
			return "Remote device"
		case *types.VirtualCdromRemoteAtapiBackingInfo:
			return "Remote ATAPI"
		case *types.VirtualCdromAtapiBackingInfo:
			return "ATAPI " + b.DeviceName
		case *types.VirtualCdromPassthroughBackingInfo:
			return "Passthrough " + b.DeviceName
		}
	case *types.VirtualFloppy:
		switch b := x.Backing.(type) {
		case *types.VirtualFloppyImageBackingInfo:
			return "Image " + b.FileName
		case *types.VirtualFloppyDeviceBackingInfo:
			return "Device " + b.DeviceName
		case *types.VirtualFloppyRemoteDeviceBackingInfo:
			return "Remote " + b.DeviceName
		}
	case *types.VirtualSerialPort:
		switch b := x.Backing.(type) {
		case *types.VirtualSerialPortFileBackingInfo:
			return "File " + b.FileName
		case *types.VirtualSerialPortURIBackingInfo:
			return "Remote " + b.ServiceURI
		case *types.VirtualSerialPortPipeBackingInfo:
			return "Pipe " + b.PipeName
		case *types.VirtualSerialPortDeviceBackingInfo:
			return "Device " + b.DeviceName
		}
	case *types.VirtualParallelPort:
		switch b := x.Backing.(type) {
		case *types.VirtualParallelPortFileBackingInfo:
			return "File " + b.FileName
		case *types.VirtualParallelPortDeviceBackingInfo:
			return "Device " + b.DeviceName
		}
	case types.BaseVirtualSCSIController:
		if s, ok := scsiSummaries[deviceTypeName(d)]; ok {
			return s
		}
	case types.BaseVirtualSATAController:
		return "AHCI"
	case *types.VirtualUSBController:
		if x.AutoConnectDevices != nil && *x.AutoConnectDevices {
			return "Auto connect Enabled"
		}
		return "Auto connect Disabled"
	}
	return strings.TrimSpace(label)
}

// configureController fills a controller's defaults.
func configureController(c vcontroller) {
	switch x := c.(type) {
	case types.BaseVirtualSCSIController:
		sc := x.GetVirtualSCSIController()
		if sc.SharedBus == "" {
			sc.SharedBus = types.VirtualSCSISharingNoSharing
		}
		if sc.ScsiCtlrUnitNumber == 0 {
			sc.ScsiCtlrUnitNumber = 7
		}
		if sc.HotAddRemove == nil {
			sc.HotAddRemove = types.NewBool(true)
		}
	case *types.VirtualUSBController:
		if x.AutoConnectDevices == nil {
			x.AutoConnectDevices = types.NewBool(true)
		}
		if x.EhciEnabled == nil {
			x.EhciEnabled = types.NewBool(true)
		}
	case *types.VirtualUSBXHCIController:
		if x.AutoConnectDevices == nil {
			x.AutoConnectDevices = types.NewBool(true)
		}
	}
}
