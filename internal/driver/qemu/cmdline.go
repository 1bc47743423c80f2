package qemu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/guest"
)

// Files in a VM's run directory. QEMU runs in that directory and is given
// these relative names: socket paths have a maximum length, and a deep state
// directory would exceed it.
const (
	pidFile     = "qemu.pid"
	qmpSocket   = "qmp.sock"
	guestSocket = "guest.sock"
	serialLog   = "serial.log"
	// qemuLog collects QEMU's standard output and error across boots.
	qemuLog = "qemu.log"
	// savedState is a suspended VM's saved device and memory state.
	savedState = "suspend.state"
	recordFile = "vm.json"
)

// qemuArgs returns the arguments that start QEMU for spec, relative to the
// VM's run directory. Disks are virtio-blk devices booted first, in order;
// CD-ROMs are IDE drives booted after them. SeaBIOS moves on to the next
// device when a disk has no boot sector, so a VM with a new, empty disk
// boots its ISO, and one with an installed disk boots the disk.
func (d *Driver) qemuArgs(spec driver.VMSpec) ([]string, error) {
	if spec.MemoryMB <= 0 {
		return nil, fmt.Errorf("memory size %d MB is invalid", spec.MemoryMB)
	}
	cpus := max(spec.NumCPU, 1)
	args := []string{
		"-name", "guest=" + optEscape(spec.Name),
		"-nodefaults", "-no-user-config",
		"-machine", "pc",
		"-accel", d.cfg.Accel,
		"-smp", strconv.Itoa(int(cpus)),
		"-m", strconv.FormatInt(spec.MemoryMB, 10),
		"-display", "none", "-vga", "std",
		"-pidfile", pidFile,
		"-qmp", "unix:" + qmpSocket + ",server=on,wait=off",
		"-chardev", "file,id=serial0,path=" + serialLog + ",append=on",
		"-serial", "chardev:serial0",
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=guestchan,path=" + guestSocket + ",server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=guestchan,name=" + guest.PortName,
	}
	if d.cfg.Accel == "kvm" {
		args = append(args, "-cpu", "host")
	}
	name := spec.Name
	if spec.Identity != nil && spec.Identity.HostName != "" {
		name = spec.Identity.HostName // a guest customization's
	}
	if h := hostName(name); h != "" {
		args = append(args, "-fw_cfg", "name="+guest.FwCfgHostName+",string="+h)
	}
	boot := 1
	for i, disk := range spec.Disks {
		p, err := d.Resolve(disk.Path)
		if err != nil {
			return nil, err
		}
		format, err := imageFormat(p)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", disk.Path, driver.StripPath(err))
		}
		id := "disk" + strconv.Itoa(i)
		args = append(args,
			"-drive", "file="+optEscape(p)+",format="+format+",if=none,id="+id,
			"-device", "virtio-blk-pci,drive="+id+",bootindex="+strconv.Itoa(boot))
		boot++
	}
	for i, iso := range spec.ISOs {
		id := "cd" + strconv.Itoa(i)
		drive := "if=none,id=" + id + ",media=cdrom,readonly=on"
		if iso != "" {
			p, err := d.Resolve(iso)
			if err != nil {
				return nil, err
			}
			drive = "file=" + optEscape(p) + ",format=raw," + drive
		}
		args = append(args, "-drive", drive, "-device", "ide-cd,drive="+id+",bootindex="+strconv.Itoa(boot))
		boot++
	}
	for i, nic := range spec.NICs {
		id := "net" + strconv.Itoa(i)
		netdev := "user,id=" + id
		if br, ok := d.cfg.Bridges[nic.Network]; ok {
			netdev = "bridge,id=" + id + ",br=" + optEscape(br)
		}
		dev := "virtio-net-pci,netdev=" + id
		if nic.MAC != "" {
			dev += ",mac=" + optEscape(nic.MAC)
		}
		args = append(args, "-netdev", netdev, "-device", dev)
	}
	return args, nil
}

// optEscape escapes a value inside a QEMU option string, where a comma
// separates options and ",," stands for a comma.
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// hostName turns a VM's display name into a host name the guest can take:
// lower case letters, digits and hyphens, at most 63 of them.
func hostName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == ' ' || r == '.':
			b.WriteByte('-')
		}
	}
	h := strings.Trim(b.String(), "-")
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	return h
}
