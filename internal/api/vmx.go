package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/vim"
)

// A VM's configuration file (.vmx) is what lets a VM be registered again
// from its files alone (RegisterVM_Task), as an ESX host does: after an
// unregister, on another server sharing the datastore, or from a copy of
// its directory. Vireo writes one whenever a VM's configuration changes,
// in VMware's format (key = "value" lines), through the host's driver.Files.
//
// The keys are ESX's (displayName, memSize, numvcpus, guestOS, uuid.bios,
// vc.uuid, scsi0.virtualDev, scsi0:0.fileName, ethernet0.networkName,
// ethernet0.generatedAddress, ...), and every extraConfig entry is a line
// of its own, as on ESX. What ESX keeps in a disk's descriptor instead
// (provisioning, disk UUID) is written under the disk's prefix with a
// "vireo." infix: Vireo's disks are flat files without a descriptor.
//
// Devices round-trip when they are SCSI, SATA, NVMe and USB controllers,
// disks, CD-ROMs, floppies and network adapters; other devices (serial and
// parallel ports, TPM, passthrough) are not written.

// vmxFile is a parsed configuration file: its entries in file order, keys
// compared without case as ESX does.
type vmxFile struct {
	keys []string          // original spelling, in order
	vals map[string]string // lower-cased key -> value
}

func newVMXFile() *vmxFile { return &vmxFile{vals: map[string]string{}} }

// set adds or replaces an entry.
func (f *vmxFile) set(key, val string) {
	lk := strings.ToLower(key)
	if _, ok := f.vals[lk]; !ok {
		f.keys = append(f.keys, key)
	}
	f.vals[lk] = val
}

// get returns the value of key.
func (f *vmxFile) get(key string) (string, bool) {
	v, ok := f.vals[strings.ToLower(key)]
	return v, ok
}

// str returns the value of key, or "".
func (f *vmxFile) str(key string) string {
	v, _ := f.get(key)
	return v
}

// flag returns the boolean value of key ("TRUE", "true", "1"); false when
// missing.
func (f *vmxFile) flag(key string) bool {
	switch strings.ToLower(f.str(key)) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// num returns the integer value of key, or def when missing or invalid.
func (f *vmxFile) num(key string, def int64) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(f.str(key)), 10, 64)
	if err != nil {
		return def
	}
	return n
}

// bytes renders the file.
func (f *vmxFile) bytes() []byte {
	var b bytes.Buffer
	for _, k := range f.keys {
		fmt.Fprintf(&b, "%s = \"%s\"\n", k, vmxEscape(f.vals[strings.ToLower(k)]))
	}
	return b.Bytes()
}

var vmxLineRE = regexp.MustCompile(`^\s*([^=\s]+)\s*=\s*(.*?)\s*$`)

// parseVMX reads a configuration file. Blank lines and comments (#) are
// skipped; values may be quoted, with ESX's |XX escapes.
func parseVMX(data []byte) (*vmxFile, error) {
	f := newVMXFile()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := vmxLineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not a key = \"value\" entry", n, line)
		}
		val := m[2]
		if strings.HasPrefix(val, `"`) {
			end := strings.LastIndex(val, `"`)
			if end == 0 {
				return nil, fmt.Errorf("line %d: unterminated quoted value", n)
			}
			val = val[1:end]
		}
		f.set(m[1], vmxUnescape(val))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// vmxEscape encodes a value as ESX does: control characters, '"' and '|'
// become |XX (hex).
func vmxEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '|' || c == 0x7f {
			fmt.Fprintf(&b, "|%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// vmxUnescape decodes |XX escapes.
func vmxUnescape(s string) string {
	if !strings.Contains(s, "|") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '|' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// vmxUUID renders a UUID as ESX writes uuid.bios and vc.uuid:
// "42 1a 2b 3c 4d 5e 6f 70-81 92 a3 b4 c5 d6 e7 f8".
func vmxUUID(s string) string {
	u, err := uuid.Parse(s)
	if err != nil {
		return s
	}
	hex := func(b []byte) string {
		parts := make([]string, len(b))
		for i, x := range b {
			parts[i] = fmt.Sprintf("%02x", x)
		}
		return strings.Join(parts, " ")
	}
	return hex(u[:8]) + "-" + hex(u[8:])
}

// parseVMXUUID reads a UUID in ESX's form (or the usual one); "" when s is
// not a UUID.
func parseVMXUUID(s string) string {
	compact := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
	u, err := uuid.Parse(compact)
	if err != nil {
		return ""
	}
	return u.String()
}

// vmxGuestOS maps a guest id to ESX's guestOS value: "otherGuest" is
// "other", "ubuntu64Guest" is "ubuntu-64", "windows9_64Guest" is
// "windows9-64".
func vmxGuestOS(id string) string {
	s := strings.ToLower(strings.Replace(id, "Guest", "", 1))
	s = strings.ReplaceAll(s, "_64", "-64")
	if strings.HasSuffix(s, "64") && !strings.HasSuffix(s, "-64") {
		s = strings.TrimSuffix(s, "64") + "-64"
	}
	return s
}

// guestIDFromVMX maps ESX's guestOS value back to a guest id: one whose
// vmxGuestOS is os, or the id itself when os is one, else otherGuest.
func guestIDFromVMX(os string) string {
	if os == "" {
		return defaultGuestID
	}
	for _, id := range types.VirtualMachineGuestOsIdentifier("").Values() {
		if string(id) == os || vmxGuestOS(string(id)) == strings.ToLower(os) {
			return string(id)
		}
	}
	for id := range guestFullNames {
		if id == os || vmxGuestOS(id) == strings.ToLower(os) {
			return id
		}
	}
	return defaultGuestID
}

// vmxNICDevs maps adapter types to ESX's ethernetN.virtualDev values.
var vmxNICDevs = []struct {
	dev string
	new func() types.BaseVirtualEthernetCard
}{
	{"e1000", func() types.BaseVirtualEthernetCard { return &types.VirtualE1000{} }},
	{"e1000e", func() types.BaseVirtualEthernetCard { return &types.VirtualE1000e{} }},
	{"vmxnet3", func() types.BaseVirtualEthernetCard { return &types.VirtualVmxnet3{} }},
	{"vrdma", func() types.BaseVirtualEthernetCard { return &types.VirtualVmxnet3Vrdma{} }},
	{"vmxnet2", func() types.BaseVirtualEthernetCard { return &types.VirtualVmxnet2{} }},
	{"vmxnet", func() types.BaseVirtualEthernetCard { return &types.VirtualVmxnet{} }},
	{"vlance", func() types.BaseVirtualEthernetCard { return &types.VirtualPCNet32{} }},
	{"sriov", func() types.BaseVirtualEthernetCard { return &types.VirtualSriovEthernetCard{} }},
}

// vmxSCSIDevs maps SCSI controller types to ESX's scsiN.virtualDev values.
var vmxSCSIDevs = []struct {
	dev string
	new func() types.BaseVirtualDevice
}{
	{"lsilogic", func() types.BaseVirtualDevice { return &types.VirtualLsiLogicController{} }},
	{"lsisas1068", func() types.BaseVirtualDevice { return &types.VirtualLsiLogicSASController{} }},
	{"pvscsi", func() types.BaseVirtualDevice { return &types.ParaVirtualSCSIController{} }},
	{"buslogic", func() types.BaseVirtualDevice { return &types.VirtualBusLogicController{} }},
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// vmxNICDev returns the virtualDev of an adapter.
func vmxNICDev(nic types.BaseVirtualEthernetCard) string {
	for _, d := range vmxNICDevs {
		if typeName(d.new()) == typeName(nic) {
			return d.dev
		}
	}
	return "e1000"
}

// vmxSCSIDev returns the virtualDev of a SCSI controller.
func vmxSCSIDev(c types.BaseVirtualDevice) string {
	for _, d := range vmxSCSIDevs {
		if typeName(d.new()) == typeName(c) {
			return d.dev
		}
	}
	return "lsilogic"
}

// vmxAddressTypes maps vim25 MAC address types to ESX's addressType.
var vmxAddressTypes = map[string]string{
	string(types.VirtualEthernetCardMacTypeAssigned):  "vpx",
	string(types.VirtualEthernetCardMacTypeGenerated): "generated",
	string(types.VirtualEthernetCardMacTypeManual):    "static",
}

func vmxBool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// encodeVMX renders vm's configuration file.
func encodeVMX(vm *mo.VirtualMachine) []byte {
	c := vm.Config
	f := newVMXFile()
	f.set(".encoding", "UTF-8")
	f.set("config.version", "8")
	f.set("virtualHW.version", strings.TrimPrefix(c.Version, "vmx-"))
	f.set("displayName", c.Name)
	f.set("guestOS", vmxGuestOS(c.GuestId))
	f.set("memSize", strconv.Itoa(int(c.Hardware.MemoryMB)))
	f.set("numvcpus", strconv.Itoa(int(c.Hardware.NumCPU)))
	if c.Hardware.NumCoresPerSocket > 0 {
		f.set("cpuid.coresPerSocket", strconv.Itoa(int(c.Hardware.NumCoresPerSocket)))
	}
	if c.Firmware != "" {
		f.set("firmware", c.Firmware)
	}
	if c.Annotation != "" {
		f.set("annotation", c.Annotation)
	}
	f.set("uuid.bios", vmxUUID(c.Uuid))
	f.set("vc.uuid", vmxUUID(c.InstanceUuid))
	for _, h := range []struct {
		key string
		on  *bool
	}{{"vcpu.hotadd", c.CpuHotAddEnabled}, {"vcpu.hotremove", c.CpuHotRemoveEnabled}, {"mem.hotadd", c.MemoryHotAddEnabled}} {
		if flagSet(h.on) {
			f.set(h.key, "TRUE")
		}
	}
	w := &vmxWriter{f: f, dir: vmDirOf(c.Files.VmPathName), devices: c.Hardware.Device}
	w.write()
	for _, o := range c.ExtraConfig {
		ov := o.GetOptionValue()
		f.set(ov.Key, fmt.Sprint(ov.Value))
	}
	return f.bytes()
}

// vmxWriter writes a VM's devices into a configuration file.
type vmxWriter struct {
	f       *vmxFile
	dir     string // the VM's directory, "[ds] vm/"
	devices []types.BaseVirtualDevice
}

func (w *vmxWriter) write() {
	nics := 0
	floppies := 0
	for _, d := range w.devices {
		switch x := d.(type) {
		case types.BaseVirtualSCSIController:
			p := "scsi" + strconv.Itoa(int(d.(vcontroller).GetVirtualController().BusNumber))
			w.f.set(p+".present", "TRUE")
			w.f.set(p+".virtualDev", vmxSCSIDev(d))
			w.f.set(p+".sharedBus", string(x.GetVirtualSCSIController().SharedBus))
		case types.BaseVirtualSATAController:
			w.f.set("sata"+strconv.Itoa(int(d.(vcontroller).GetVirtualController().BusNumber))+".present", "TRUE")
		case *types.VirtualNVMEController:
			w.f.set("nvme"+strconv.Itoa(int(x.BusNumber))+".present", "TRUE")
		case *types.VirtualUSBController:
			w.f.set("usb.present", "TRUE")
		case *types.VirtualUSBXHCIController:
			w.f.set("usb_xhci.present", "TRUE")
		case *types.VirtualDisk:
			w.disk(x)
		case *types.VirtualCdrom:
			w.cdrom(x)
		case *types.VirtualFloppy:
			w.floppy("floppy"+strconv.Itoa(floppies), x)
			floppies++
		case types.BaseVirtualEthernetCard:
			w.nic("ethernet"+strconv.Itoa(nics), x)
			nics++
		}
	}
}

// slot returns the "scsi0:1" prefix of a storage device, or "".
func (w *vmxWriter) slot(d *types.VirtualDevice) string {
	if d.UnitNumber == nil {
		return ""
	}
	for _, c := range w.devices {
		vc, ok := c.(vcontroller)
		if !ok || c.GetVirtualDevice().Key != d.ControllerKey {
			continue
		}
		var bus string
		switch controllerKind(c) {
		case ctrlSCSI:
			bus = "scsi"
		case ctrlSATA:
			bus = "sata"
		case ctrlNVMe:
			bus = "nvme"
		case ctrlIDE:
			bus = "ide"
		default:
			return ""
		}
		return fmt.Sprintf("%s%d:%d", bus, vc.GetVirtualController().BusNumber, *d.UnitNumber)
	}
	return ""
}

// fileName renders a datastore path as ESX does in a configuration file:
// relative to the VM's directory when in it, else /vmfs/volumes/ds/path.
func (w *vmxWriter) fileName(p string) string {
	if rel, ok := strings.CutPrefix(p, w.dir); ok && w.dir != "" && !strings.HasSuffix(w.dir, "] ") {
		return rel
	}
	if ds, rel, ok := splitDSPath(p); ok {
		return "/vmfs/volumes/" + ds + "/" + rel
	}
	return p
}

func (w *vmxWriter) connectable(p string, c *types.VirtualDeviceConnectInfo) {
	if c != nil {
		w.f.set(p+".startConnected", vmxBool(c.StartConnected))
	}
}

func (w *vmxWriter) disk(d *types.VirtualDisk) {
	p := w.slot(&d.VirtualDevice)
	fb, ok := d.Backing.(types.BaseVirtualDeviceFileBackingInfo)
	if p == "" || !ok {
		return
	}
	w.f.set(p+".present", "TRUE")
	w.f.set(p+".fileName", w.fileName(fb.GetVirtualDeviceFileBackingInfo().FileName))
	if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
		if b.DiskMode != "" {
			w.f.set(p+".mode", b.DiskMode)
		}
		prov := "lazyZeroedThick"
		switch {
		case flagSet(b.ThinProvisioned):
			prov = "thin"
		case flagSet(b.EagerlyScrub):
			prov = "eagerZeroedThick"
		}
		w.f.set(p+".vireo.provisioning", prov)
		if b.Uuid != "" {
			w.f.set(p+".vireo.uuid", b.Uuid)
		}
	}
}

func (w *vmxWriter) cdrom(d *types.VirtualCdrom) {
	p := w.slot(&d.VirtualDevice)
	if p == "" {
		return
	}
	w.f.set(p+".present", "TRUE")
	switch b := d.Backing.(type) {
	case *types.VirtualCdromIsoBackingInfo:
		w.f.set(p+".deviceType", "cdrom-image")
		w.f.set(p+".fileName", w.fileName(b.FileName))
	case *types.VirtualCdromRemotePassthroughBackingInfo:
		w.f.set(p+".deviceType", "atapi-cdrom")
		w.f.set(p+".clientDevice", "TRUE")
	case *types.VirtualCdromRemoteAtapiBackingInfo:
		w.f.set(p+".deviceType", "cdrom-raw")
		w.f.set(p+".clientDevice", "TRUE")
	case *types.VirtualCdromAtapiBackingInfo:
		w.f.set(p+".deviceType", "atapi-cdrom")
		w.f.set(p+".fileName", b.DeviceName)
	case *types.VirtualCdromPassthroughBackingInfo:
		w.f.set(p+".deviceType", "cdrom-raw")
		w.f.set(p+".fileName", b.DeviceName)
	default:
		w.f.set(p+".deviceType", "atapi-cdrom")
	}
	w.connectable(p, d.Connectable)
}

func (w *vmxWriter) floppy(p string, d *types.VirtualFloppy) {
	w.f.set(p+".present", "TRUE")
	switch b := d.Backing.(type) {
	case *types.VirtualFloppyImageBackingInfo:
		w.f.set(p+".fileType", "file")
		w.f.set(p+".fileName", w.fileName(b.FileName))
	case *types.VirtualFloppyDeviceBackingInfo:
		w.f.set(p+".fileType", "device")
		w.f.set(p+".fileName", b.DeviceName)
	default:
		w.f.set(p+".clientDevice", "TRUE")
	}
	w.connectable(p, d.Connectable)
}

func (w *vmxWriter) nic(p string, nic types.BaseVirtualEthernetCard) {
	c := nic.GetVirtualEthernetCard()
	w.f.set(p+".present", "TRUE")
	w.f.set(p+".virtualDev", vmxNICDev(nic))
	switch b := c.Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		w.f.set(p+".networkName", b.DeviceName)
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		w.f.set(p+".dvs.switchId", b.Port.SwitchUuid)
		w.f.set(p+".dvs.portgroupId", b.Port.PortgroupKey)
		if b.Port.PortKey != "" {
			w.f.set(p+".dvs.portId", b.Port.PortKey)
		}
	case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
		w.f.set(p+".opaqueNetwork.id", b.OpaqueNetworkId)
		w.f.set(p+".opaqueNetwork.type", b.OpaqueNetworkType)
	}
	at := vmxAddressTypes[c.AddressType]
	if at == "" {
		at = "vpx"
	}
	w.f.set(p+".addressType", at)
	if at == "static" {
		w.f.set(p+".address", c.MacAddress)
	} else {
		w.f.set(p+".generatedAddress", c.MacAddress)
	}
	if c.WakeOnLanEnabled != nil {
		w.f.set(p+".wakeOnPcktRcv", vmxBool(*c.WakeOnLanEnabled))
	}
	w.connectable(p, c.Connectable)
}

// vmxConfig is what a configuration file says about a VM: a config spec
// that CreateVM's path turns into the VM, and the MAC address types the
// spec cannot carry.
type vmxConfig struct {
	spec types.VirtualMachineConfigSpec
	// addressTypes maps the index of a network adapter's entry in
	// spec.DeviceChange to its address type; the entry itself is manual, so
	// the adapter keeps its MAC address.
	addressTypes map[int]string
}

// vmxDevicePrefixes are the keys of the devices decodeVMX understands; the
// other keys of a configuration file become extraConfig entries.
var (
	vmxCtrlRE    = regexp.MustCompile(`^(scsi|sata|nvme)(\d+)\.present$`)
	vmxSlotRE    = regexp.MustCompile(`^(scsi|sata|nvme|ide)(\d+):(\d+)\.present$`)
	vmxNICRE     = regexp.MustCompile(`^ethernet(\d+)\.present$`)
	vmxFloppyRE  = regexp.MustCompile(`^floppy(\d+)\.present$`)
	vmxDeviceKey = regexp.MustCompile(`^((scsi|sata|nvme|ide)\d+(:\d+)?|ethernet\d+|floppy\d+|usb|usb_xhci)\.`)
)

// vmxScalarKeys are the non-device keys decodeVMX reads.
var vmxScalarKeys = map[string]bool{
	".encoding": true, "config.version": true, "virtualhw.version": true, "displayname": true, "guestos": true,
	"memsize": true, "numvcpus": true, "cpuid.corespersocket": true, "firmware": true, "annotation": true,
	"uuid.bios": true, "vc.uuid": true, "vcpu.hotadd": true, "vcpu.hotremove": true, "mem.hotadd": true,
}

// decodeVMX turns the configuration file at vmxPath into a config spec.
// size returns the size of a disk file (its capacity).
func decodeVMX(data []byte, vmxPath string, size func(path string) (int64, error)) (*vmxConfig, error) {
	f, err := parseVMX(data)
	if err != nil {
		return nil, err
	}
	spec := types.VirtualMachineConfigSpec{
		Name:         f.str("displayName"),
		GuestId:      guestIDFromVMX(f.str("guestOS")),
		NumCPUs:      int32(f.num("numvcpus", defaultNumCPU)),
		MemoryMB:     f.num("memSize", defaultMemoryMB),
		Annotation:   f.str("annotation"),
		Firmware:     f.str("firmware"),
		Uuid:         parseVMXUUID(f.str("uuid.bios")),
		InstanceUuid: parseVMXUUID(f.str("vc.uuid")),
		Files:        &types.VirtualMachineFileInfo{VmPathName: vmxPath},
	}
	if n := f.num("cpuid.coresPerSocket", 0); n > 0 {
		spec.NumCoresPerSocket = int32(n)
	}
	if v := f.str("virtualHW.version"); v != "" {
		spec.Version = "vmx-" + v
	}
	if f.flag("vcpu.hotadd") {
		spec.CpuHotAddEnabled = types.NewBool(true)
	}
	if f.flag("vcpu.hotremove") {
		spec.CpuHotRemoveEnabled = types.NewBool(true)
	}
	if f.flag("mem.hotadd") {
		spec.MemoryHotAddEnabled = types.NewBool(true)
	}
	r := &vmxReader{f: f, dir: vmDirOf(vmxPath), size: size, ctrls: map[string]int32{}, out: &vmxConfig{addressTypes: map[int]string{}}}
	if err := r.read(); err != nil {
		return nil, err
	}
	spec.DeviceChange = r.changes
	for _, k := range f.keys {
		lk := strings.ToLower(k)
		if vmxScalarKeys[lk] || r.used[lk] {
			continue
		}
		spec.ExtraConfig = append(spec.ExtraConfig, &types.OptionValue{Key: k, Value: f.vals[lk]})
	}
	r.out.spec = spec
	return r.out, nil
}

// vmxReader turns the device entries of a configuration file into
// deviceChange add entries.
type vmxReader struct {
	f       *vmxFile
	dir     string
	size    func(string) (int64, error)
	ctrls   map[string]int32 // "scsi0" -> placeholder key
	changes []types.BaseVirtualDeviceConfigSpec
	used    map[string]bool // lower-cased keys consumed
	out     *vmxConfig
	nextKey int32
}

func (r *vmxReader) add(d types.BaseVirtualDevice, op types.VirtualDeviceConfigSpecFileOperation) {
	r.changes = append(r.changes, &types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: op, Device: d,
	})
}

func (r *vmxReader) key() int32 {
	r.nextKey--
	return r.nextKey
}

// take marks the keys of prefix p (and the given sub-keys) as read.
func (r *vmxReader) take(p string, subs ...string) {
	for _, s := range subs {
		r.used[strings.ToLower(p+"."+s)] = true
	}
}

// matches returns the submatches of the present devices' keys matching
// re, in the order of the keys vCenter gives such devices (see vmxOrder),
// so that devices keep their keys and labels.
func (r *vmxReader) matches(re *regexp.Regexp) [][]string {
	var out [][]string
	for _, k := range r.f.keys {
		if m := re.FindStringSubmatch(strings.ToLower(k)); m != nil && r.f.flag(k) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return vmxOrder(out[i][1:]) < vmxOrder(out[j][1:]) })
	return out
}

// vmxOrder returns the device key vCenter gives the device of a key's
// submatches: a controller ("scsi", "1"), a storage device ("ide", "1",
// "0") or a numbered device ("3").
func vmxOrder(m []string) int64 {
	n := make([]int64, len(m))
	for i, x := range m {
		n[i], _ = strconv.ParseInt(x, 10, 64)
	}
	kinds := map[string]ctrlKind{"ide": ctrlIDE, "scsi": ctrlSCSI, "sata": ctrlSATA, "nvme": ctrlNVMe}
	switch len(m) {
	case 2:
		return int64(controllerInfos[kinds[m[0]]].keyBase) + n[1]
	case 3:
		info := controllerInfos[kinds[m[0]]]
		return int64(info.devBase) + n[1]*int64(info.devStride) + n[2]
	}
	return n[0]
}

func (r *vmxReader) read() error {
	r.used = map[string]bool{}
	for _, m := range r.matches(vmxCtrlRE) {
		r.controller(m[1], m[2])
	}
	if r.f.flag("usb.present") {
		r.take("usb", "present")
		c := &types.VirtualUSBController{}
		c.Key = r.key()
		r.add(c, "")
	}
	if r.f.flag("usb_xhci.present") {
		r.take("usb_xhci", "present")
		c := &types.VirtualUSBXHCIController{}
		c.Key = r.key()
		r.add(c, "")
	}
	for _, m := range r.matches(vmxSlotRE) {
		if err := r.storage(m[1], m[2], m[3]); err != nil {
			return err
		}
	}
	for _, m := range r.matches(vmxFloppyRE) {
		r.floppyDev("floppy" + m[1])
	}
	for _, m := range r.matches(vmxNICRE) {
		if err := r.nicDev("ethernet" + m[1]); err != nil {
			return err
		}
	}
	return nil
}

func (r *vmxReader) controller(bus, n string) {
	p := bus + n
	num, _ := strconv.Atoi(n)
	var d types.BaseVirtualDevice
	switch bus {
	case "scsi":
		r.take(p, "present", "virtualDev", "sharedBus")
		d = vmxSCSIDevs[0].new()
		for _, s := range vmxSCSIDevs {
			if strings.EqualFold(s.dev, r.f.str(p+".virtualDev")) {
				d = s.new()
			}
		}
		sc := d.(types.BaseVirtualSCSIController).GetVirtualSCSIController()
		sc.SharedBus = types.VirtualSCSISharing(r.f.str(p + ".sharedBus"))
		if sc.SharedBus == "" {
			sc.SharedBus = types.VirtualSCSISharingNoSharing
		}
	case "sata":
		r.take(p, "present")
		d = &types.VirtualAHCIController{}
	case "nvme":
		r.take(p, "present")
		d = &types.VirtualNVMEController{}
	}
	vc := d.(vcontroller).GetVirtualController()
	vc.BusNumber = int32(num)
	vc.Key = r.key()
	r.ctrls[p] = vc.Key
	r.add(d, "")
}

// path resolves a file name of the configuration file to a datastore path.
func (r *vmxReader) path(name string) string {
	if rest, ok := strings.CutPrefix(name, "/vmfs/volumes/"); ok {
		ds, rel, _ := strings.Cut(rest, "/")
		return dsPath(ds, rel)
	}
	if _, _, ok := splitDSPath(name); ok && strings.HasPrefix(name, "[") {
		return name
	}
	return r.dir + name
}

func (r *vmxReader) storage(bus, n, unit string) error {
	p := fmt.Sprintf("%s%s:%s", bus, n, unit)
	u, _ := strconv.Atoi(unit)
	dev := types.VirtualDevice{UnitNumber: types.NewInt32(int32(u))}
	if bus == "ide" {
		b, _ := strconv.Atoi(n)
		dev.ControllerKey = controllerInfos[ctrlIDE].keyBase + int32(b)
	} else {
		k, ok := r.ctrls[bus+n]
		if !ok {
			return fmt.Errorf("%s: no controller %s%s in the configuration", p, bus, n)
		}
		dev.ControllerKey = k
	}
	dev.Key = r.key()
	r.take(p, "present", "deviceType", "fileName", "startConnected", "clientDevice", "mode",
		"vireo.provisioning", "vireo.uuid")
	switch strings.ToLower(r.f.str(p + ".deviceType")) {
	case "cdrom-image", "atapi-cdrom", "cdrom-raw":
		r.cdromDev(p, dev)
		return nil
	}
	return r.diskDev(p, dev)
}

func (r *vmxReader) connectable(p string, dev *types.VirtualDevice) {
	start := true
	if _, ok := r.f.get(p + ".startConnected"); ok {
		start = r.f.flag(p + ".startConnected")
	}
	dev.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: start, AllowGuestControl: true}
}

func (r *vmxReader) cdromDev(p string, dev types.VirtualDevice) {
	cd := &types.VirtualCdrom{VirtualDevice: dev}
	name := r.f.str(p + ".fileName")
	switch {
	case strings.EqualFold(r.f.str(p+".deviceType"), "cdrom-image"):
		cd.Backing = &types.VirtualCdromIsoBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: r.path(name)}}
	case r.f.flag(p + ".clientDevice"):
		cd.Backing = &types.VirtualCdromRemotePassthroughBackingInfo{}
	default:
		cd.Backing = &types.VirtualCdromAtapiBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: name}}
	}
	r.connectable(p, &cd.VirtualDevice)
	r.add(cd, "")
}

func (r *vmxReader) diskDev(p string, dev types.VirtualDevice) error {
	name := r.f.str(p + ".fileName")
	if name == "" {
		return fmt.Errorf("%s: the disk has no fileName", p)
	}
	file := r.path(name)
	size, err := r.size(file)
	if err != nil {
		return fmt.Errorf("%s: disk file %s: %w", p, file, err)
	}
	b := &types.VirtualDiskFlatVer2BackingInfo{
		VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file},
		DiskMode:                     r.f.str(p + ".mode"),
		Uuid:                         r.f.str(p + ".vireo.uuid"),
	}
	switch r.f.str(p + ".vireo.provisioning") {
	case "eagerZeroedThick":
		b.ThinProvisioned, b.EagerlyScrub = types.NewBool(false), types.NewBool(true)
	case "lazyZeroedThick":
		b.ThinProvisioned, b.EagerlyScrub = types.NewBool(false), types.NewBool(false)
	default:
		b.ThinProvisioned = types.NewBool(true)
	}
	disk := &types.VirtualDisk{VirtualDevice: dev, CapacityInBytes: size}
	disk.Backing = b
	r.add(disk, "")
	return nil
}

func (r *vmxReader) floppyDev(p string) {
	r.take(p, "present", "fileType", "fileName", "startConnected", "clientDevice")
	fl := &types.VirtualFloppy{}
	fl.Key = r.key()
	switch r.f.str(p + ".fileType") {
	case "file":
		fl.Backing = &types.VirtualFloppyImageBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: r.path(r.f.str(p + ".fileName"))}}
	case "device":
		fl.Backing = &types.VirtualFloppyDeviceBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: r.f.str(p + ".fileName")}}
	default:
		fl.Backing = &types.VirtualFloppyRemoteDeviceBackingInfo{}
	}
	r.connectable(p, &fl.VirtualDevice)
	r.add(fl, "")
}

func (r *vmxReader) nicDev(p string) error {
	r.take(p, "present", "virtualDev", "networkName", "dvs.switchId", "dvs.portgroupId", "dvs.portId",
		"opaqueNetwork.id", "opaqueNetwork.type", "addressType", "address", "generatedAddress", "wakeOnPcktRcv", "startConnected")
	nic := vmxNICDevs[0].new()
	for _, d := range vmxNICDevs {
		if strings.EqualFold(d.dev, r.f.str(p+".virtualDev")) {
			nic = d.new()
		}
	}
	c := nic.GetVirtualEthernetCard()
	c.Key = r.key()
	switch {
	case r.f.str(p+".dvs.portgroupId") != "":
		c.Backing = &types.VirtualEthernetCardDistributedVirtualPortBackingInfo{Port: types.DistributedVirtualSwitchPortConnection{
			SwitchUuid: r.f.str(p + ".dvs.switchId"), PortgroupKey: r.f.str(p + ".dvs.portgroupId"), PortKey: r.f.str(p + ".dvs.portId"),
		}}
	case r.f.str(p+".opaqueNetwork.id") != "":
		c.Backing = &types.VirtualEthernetCardOpaqueNetworkBackingInfo{
			OpaqueNetworkId: r.f.str(p + ".opaqueNetwork.id"), OpaqueNetworkType: r.f.str(p + ".opaqueNetwork.type"),
		}
	default:
		c.Backing = &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{
			DeviceName: r.f.str(p + ".networkName"),
		}}
	}
	addrType := string(types.VirtualEthernetCardMacTypeAssigned)
	for vim, esx := range vmxAddressTypes {
		if strings.EqualFold(esx, r.f.str(p+".addressType")) {
			addrType = vim
		}
	}
	mac := r.f.str(p + ".generatedAddress")
	if addrType == string(types.VirtualEthernetCardMacTypeManual) {
		mac = r.f.str(p + ".address")
	}
	if mac != "" {
		c.AddressType, c.MacAddress = string(types.VirtualEthernetCardMacTypeManual), mac
		r.out.addressTypes[len(r.changes)] = addrType
	}
	if _, ok := r.f.get(p + ".wakeOnPcktRcv"); ok {
		c.WakeOnLanEnabled = types.NewBool(r.f.flag(p + ".wakeOnPcktRcv"))
	}
	r.connectable(p, &c.VirtualDevice)
	r.add(nic.(types.BaseVirtualDevice), "")
	return nil
}

// vmFiles returns the driver.Files of the host vm runs on.
func (s *Service) vmFiles(vm *mo.VirtualMachine) (driver.Files, error) {
	drv, err := s.vmDriver(vm)
	if err != nil {
		return nil, err
	}
	return hostFiles(drv, vm.Runtime.Host.Value)
}

// hostFiles returns the file access of a host's driver, or NotSupported.
func hostFiles(drv driver.Driver, host string) (driver.Files, error) {
	f, ok := drv.(driver.Files)
	if !ok {
		return nil, vim.NotSupported("The host %s gives no access to its datastores' files.", host)
	}
	return f, nil
}

// writeVMX writes vm's configuration file through its host's driver,
// replacing the old one in one step (a new file moved over it).
func (s *Service) writeVMX(ctx context.Context, vm *mo.VirtualMachine) error {
	files, err := s.vmFiles(vm)
	if err != nil {
		return err
	}
	return writeFileAtomic(ctx, files, vm.Config.Files.VmPathName, encodeVMX(vm))
}

// saveVMX writes the configuration file of the VM ref as the inventory has
// it now, logging (not returning) a failure: the operation that changed
// the VM has succeeded, and the next change writes the file again.
func (s *Service) saveVMX(ctx context.Context, ref types.ManagedObjectReference) {
	vm, ok := s.reg.Get(ref).(*mo.VirtualMachine)
	if !ok || vm.Config == nil {
		return
	}
	if err := s.writeVMX(context.WithoutCancel(ctx), vm); err != nil {
		s.log.Warn("write vm configuration file", "vm", ref.Value, "file", vm.Config.Files.VmPathName, "err", err)
	}
}

// writeFileAtomic writes data to the datastore path p: to a temporary file
// next to it, then moved over p.
func writeFileAtomic(ctx context.Context, files driver.Files, p string, data []byte) error {
	tmp := p + ".tmp"
	w, err := files.CreateFile(ctx, tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := files.Move(ctx, tmp, p, true); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// readVMX reads and decodes the configuration file at vmxPath through
// files; disk capacities are the sizes of the disk files.
func readVMX(ctx context.Context, files driver.Files, vmxPath string) (*vmxConfig, error) {
	r, err := files.OpenFile(ctx, vmxPath)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, err
	}
	return decodeVMX(data, vmxPath, func(p string) (int64, error) {
		fi, err := files.Stat(ctx, p)
		if err != nil {
			return 0, err
		}
		if fi.IsDir {
			return 0, errors.New("is a directory")
		}
		return fi.Size, nil
	})
}
