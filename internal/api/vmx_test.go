package api

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestVMXEscape(t *testing.T) {
	for _, s := range []string{"", "plain", `a "quoted" |pipe|`, "line1\nline2\ttab", "unicode ✓ 1|2"} {
		if got := vmxUnescape(vmxEscape(s)); got != s {
			t.Errorf("round trip of %q = %q", s, got)
		}
	}
	if got := vmxEscape("a\"b\n"); got != "a|22b|0A" {
		t.Errorf("vmxEscape = %q, want ESX's |XX escapes", got)
	}
}

func TestVMXUUID(t *testing.T) {
	const id = "421a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
	got := vmxUUID(id)
	if want := "42 1a 2b 3c 4d 5e 6f 70-81 92 a3 b4 c5 d6 e7 f8"; got != want {
		t.Errorf("vmxUUID = %q, want %q", got, want)
	}
	if back := parseVMXUUID(got); back != id {
		t.Errorf("parseVMXUUID(%q) = %q, want %q", got, back, id)
	}
	if back := parseVMXUUID("not a uuid"); back != "" {
		t.Errorf("parseVMXUUID(junk) = %q, want empty", back)
	}
}

func TestVMXGuestOS(t *testing.T) {
	for id, want := range map[string]string{
		"otherGuest": "other", "otherGuest64": "other-64", "ubuntu64Guest": "ubuntu-64",
		"otherLinux64Guest": "otherlinux-64", "windows9_64Guest": "windows9-64", "rhel8_64Guest": "rhel8-64",
	} {
		if got := vmxGuestOS(id); got != want {
			t.Errorf("vmxGuestOS(%s) = %q, want %q", id, got, want)
		}
		if back := guestIDFromVMX(want); back != id {
			t.Errorf("guestIDFromVMX(%s) = %q, want %q", want, back, id)
		}
	}
	if got := guestIDFromVMX("no-such-os"); got != defaultGuestID {
		t.Errorf("unknown guestOS maps to %q, want %q", got, defaultGuestID)
	}
}

func TestParseVMX(t *testing.T) {
	f, err := parseVMX([]byte("# comment\n\n.encoding = \"UTF-8\"\nDisplayName = \"a|22b\"\nmemsize=\"64\"\nnumvcpus = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.str("displayName"); got != `a"b` {
		t.Errorf("displayName = %q (keys are case-insensitive, values unescaped)", got)
	}
	if f.num("memSize", 0) != 64 || f.num("numvcpus", 0) != 2 {
		t.Errorf("memSize/numvcpus = %d/%d", f.num("memSize", 0), f.num("numvcpus", 0))
	}
	for _, bad := range []string{"no equals sign\n", "key = \"unterminated\n"} {
		if _, err := parseVMX([]byte(bad)); err == nil {
			t.Errorf("parseVMX(%q) succeeded", bad)
		}
	}
}

// vmxTestVM returns a VM with the devices the configuration file keeps.
func vmxTestVM() *mo.VirtualMachine {
	unit := func(n int32) *int32 { return &n }
	scsi := &types.ParaVirtualSCSIController{}
	scsi.Key, scsi.BusNumber, scsi.SharedBus = 1000, 0, types.VirtualSCSISharingNoSharing
	sata := &types.VirtualAHCIController{}
	sata.Key, sata.BusNumber = 15000, 0
	ide := &types.VirtualIDEController{}
	ide.Key = 200
	disk := func(key, ctrl int32, u int32, file string, thin, eager bool) *types.VirtualDisk {
		d := &types.VirtualDisk{CapacityInBytes: 1 << 30}
		d.Key, d.ControllerKey, d.UnitNumber = key, ctrl, unit(u)
		d.Backing = &types.VirtualDiskFlatVer2BackingInfo{
			VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file},
			DiskMode:                     "persistent", ThinProvisioned: types.NewBool(thin), EagerlyScrub: types.NewBool(eager),
			Uuid: "6000C291-1111-2222-3333-444455556666",
		}
		return d
	}
	cd := &types.VirtualCdrom{}
	cd.Key, cd.ControllerKey, cd.UnitNumber = 3000, 200, unit(0)
	cd.Backing = &types.VirtualCdromIsoBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: "[iso] images/boot.iso"}}
	cd.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: true}
	nic := &types.VirtualVmxnet3{}
	nic.Key, nic.AddressType, nic.MacAddress = 4000, "assigned", "00:50:56:80:01:02"
	nic.Backing = &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"}}
	nic.Connectable = &types.VirtualDeviceConnectInfo{StartConnected: false}
	dvs := &types.VirtualE1000{}
	dvs.Key, dvs.AddressType, dvs.MacAddress = 4001, "manual", "00:11:22:33:44:55"
	dvs.Backing = &types.VirtualEthernetCardDistributedVirtualPortBackingInfo{Port: types.DistributedVirtualSwitchPortConnection{
		SwitchUuid: "50 1a", PortgroupKey: "dvportgroup-9",
	}}
	vm := &mo.VirtualMachine{Config: &types.VirtualMachineConfigInfo{
		Name: "web/01", GuestId: "ubuntu64Guest", Version: "vmx-19", Annotation: "line1\nline \"2\"", Firmware: "efi",
		Uuid: "421a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", InstanceUuid: "501a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8",
		CpuHotAddEnabled: types.NewBool(true),
		Files:            types.VirtualMachineFileInfo{VmPathName: "[ds1] web/web.vmx"},
		Hardware: types.VirtualHardware{NumCPU: 4, NumCoresPerSocket: 2, MemoryMB: 2048, Device: []types.BaseVirtualDevice{
			ide, scsi, sata, disk(2000, 1000, 0, "[ds1] web/web.vmdk", true, false),
			disk(16001, 15000, 1, "[ds2] data/web_1.vmdk", false, true), cd, nic, dvs,
		}},
		ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "guestinfo.a", Value: "1"}, &types.OptionValue{Key: "nvram", Value: "web.nvram"}},
	}}
	return vm
}

func TestVMXRoundTrip(t *testing.T) {
	vm := vmxTestVM()
	data := encodeVMX(vm)
	text := string(data)
	for _, line := range []string{
		`displayName = "web/01"`, `memSize = "2048"`, `numvcpus = "4"`, `guestOS = "ubuntu-64"`, `virtualHW.version = "19"`,
		`uuid.bios = "42 1a 2b 3c 4d 5e 6f 70-81 92 a3 b4 c5 d6 e7 f8"`, `scsi0.virtualDev = "pvscsi"`,
		`scsi0:0.fileName = "web.vmdk"`, `sata0:1.fileName = "/vmfs/volumes/ds2/data/web_1.vmdk"`,
		`ethernet0.networkName = "VM Network"`, `ethernet0.addressType = "vpx"`, `ethernet0.generatedAddress = "00:50:56:80:01:02"`,
		`ethernet1.address = "00:11:22:33:44:55"`, `ethernet1.dvs.portgroupId = "dvportgroup-9"`, `guestinfo.a = "1"`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("configuration file lacks %s:\n%s", line, text)
		}
	}
	sizes := map[string]int64{"[ds1] web/web.vmdk": 10 << 20, "[ds2] data/web_1.vmdk": 20 << 20}
	cfg, err := decodeVMX(data, "[ds1] web/web.vmx", func(p string) (int64, error) {
		if n, ok := sizes[p]; ok {
			return n, nil
		}
		return 0, fs.ErrNotExist
	})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.spec
	c := vm.Config
	if s.Name != c.Name || s.GuestId != c.GuestId || s.NumCPUs != 4 || s.NumCoresPerSocket != 2 || s.MemoryMB != 2048 ||
		s.Version != c.Version || s.Annotation != c.Annotation || s.Firmware != "efi" || s.Uuid != c.Uuid ||
		s.InstanceUuid != c.InstanceUuid || !flagSet(s.CpuHotAddEnabled) {
		t.Errorf("decoded spec differs from the VM: %+v", s)
	}
	var kinds []string
	for _, ch := range s.DeviceChange {
		kinds = append(kinds, reflect.TypeOf(ch.GetVirtualDeviceConfigSpec().Device).Elem().Name())
	}
	want := []string{"ParaVirtualSCSIController", "VirtualAHCIController", "VirtualDisk", "VirtualCdrom", "VirtualDisk", "VirtualVmxnet3", "VirtualE1000"}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("devices %v, want %v", kinds, want)
	}
	d1 := s.DeviceChange[2].GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk)
	b1 := d1.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if b1.FileName != "[ds1] web/web.vmdk" || d1.CapacityInBytes != 10<<20 || !flagSet(b1.ThinProvisioned) || b1.Uuid == "" ||
		d1.ControllerKey != s.DeviceChange[0].GetVirtualDeviceConfigSpec().Device.GetVirtualDevice().Key || *d1.UnitNumber != 0 {
		t.Errorf("first disk: %+v backing %+v", d1, b1)
	}
	b2 := s.DeviceChange[4].GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if b2.FileName != "[ds2] data/web_1.vmdk" || flagSet(b2.ThinProvisioned) || !flagSet(b2.EagerlyScrub) {
		t.Errorf("second disk backing: %+v", b2)
	}
	cd := s.DeviceChange[3].GetVirtualDeviceConfigSpec().Device.(*types.VirtualCdrom)
	if iso, ok := cd.Backing.(*types.VirtualCdromIsoBackingInfo); !ok || iso.FileName != "[iso] images/boot.iso" || cd.ControllerKey != 200 {
		t.Errorf("CD-ROM: %+v", cd)
	}
	n0 := s.DeviceChange[5].GetVirtualDeviceConfigSpec().Device.(*types.VirtualVmxnet3)
	if n0.MacAddress != "00:50:56:80:01:02" || cfg.addressTypes[5] != "assigned" || n0.Connectable.StartConnected {
		t.Errorf("first NIC: %+v, address type %q", n0.VirtualEthernetCard, cfg.addressTypes[5])
	}
	n1 := s.DeviceChange[6].GetVirtualDeviceConfigSpec().Device.(*types.VirtualE1000)
	if b, ok := n1.Backing.(*types.VirtualEthernetCardDistributedVirtualPortBackingInfo); !ok || b.Port.PortgroupKey != "dvportgroup-9" || cfg.addressTypes[6] != "manual" {
		t.Errorf("second NIC: %+v", n1.VirtualEthernetCard)
	}
	extra := map[string]any{}
	for _, o := range s.ExtraConfig {
		extra[o.GetOptionValue().Key] = o.GetOptionValue().Value
	}
	if extra["guestinfo.a"] != "1" || extra["nvram"] != "web.nvram" || extra["scsi0:0.vireo.provisioning"] != nil || extra["displayName"] != nil {
		t.Errorf("extraConfig = %v, want the unknown keys only", extra)
	}
}

func TestDecodeVMXMissingDisk(t *testing.T) {
	data := encodeVMX(vmxTestVM())
	_, err := decodeVMX(data, "[ds1] web/web.vmx", func(string) (int64, error) { return 0, fs.ErrNotExist })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("decode with missing disks: %v, want fs.ErrNotExist", err)
	}
}
