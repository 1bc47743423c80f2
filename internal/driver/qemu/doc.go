// Package qemu is the driver backend that runs each VM as a
// qemu-system-x86_64 process, controlled over QMP (QEMU's JSON monitor
// protocol), in the manner of Nomad's qemu task driver. It uses KVM when
// /dev/kvm can be opened and software emulation (TCG) otherwise.
//
// # Files
//
// Each VM has a run directory, <StateDir>/<id>/, holding:
//
//	vm.json        the VM's definition, boot time and last QEMU arguments
//	qemu.pid       QEMU's pid, written by QEMU (-pidfile)
//	qmp.sock       the QMP monitor socket
//	guest.sock     the guest channel socket (virtio-serial port
//	               org.vireo.guest.0, see package guest)
//	serial.log     the serial console, appended to across boots
//	qemu.log       QEMU's own messages, appended to across boots
//	suspend.state  a suspended VM's saved state
//
// QEMU runs in the run directory and is given these names relative to it,
// because unix socket paths are limited to 107 bytes.
//
// # Disks
//
// Disks are image files at their datastore paths ("[ds] vm/vm.vmdk" is
// vm/vm.vmdk in the directory of datastore ds); the server owns the names,
// so they stay vSphere's. New disks are thin qcow2 images made with
// qemu-img, not VMDK:
//
//   - QEMU's vmdk driver blocks migration ("The vmdk format ... does not
//     support live migration"), and suspending a VM is a migration of its
//     state to a file; a VMDK-backed VM could not be suspended.
//   - qcow2 is QEMU's native format and its fastest growable one; it stays
//     thin on any file system (sparse raw files do not survive every copy
//     or NFS server), so a file's size is the space the disk really uses,
//     as vSphere's committed storage counts it.
//   - qcow2 backing files are the natural model for vSphere's delta disks
//     (snapshots, linked clones) when Vireo grows them.
//
// The price is that a file named .vmdk holds qcow2; qemu-img and QEMU read
// formats from the header, never from the name, and so does this driver:
// existing images open in the format their header shows — VMDK (a disk
// uploaded from vSphere boots, though it cannot be suspended), qcow2, or
// raw for anything else (the sim backend's sparse disk files, a flat image
// uploaded to the datastore). The format is always named to QEMU, never
// probed.
//
// Disks are virtio-blk devices, booted first in order; CD-ROMs (VMSpec.ISOs)
// are IDE drives booted after them. SeaBIOS moves on when a disk has no boot
// sector, so a VM with a new, empty disk and a bootable ISO boots the ISO,
// and once an OS is installed on the disk it boots the disk.
//
// # Networks
//
// Each NIC is a virtio-net device with the MAC address of its spec. On a
// network Config.Bridges maps to a host bridge, the NIC joins the bridge
// through qemu-bridge-helper (which must be set up: setuid, and the bridge
// allowed in /etc/qemu/bridge.conf); guests then get addresses from the
// bridged LAN and reach each other. Every other NIC uses QEMU's user-mode
// networking: the guest gets 10.0.2.15 from QEMU's DHCP and reaches
// outside through the host's own connections, without root or any host
// set-up, but guests cannot reach each other or be reached from outside.
// That is what runs in containers and CI; bridges are for real hosts.
//
// # Power
//
// PowerOn starts QEMU in a session of its own (setsid), so it outlives the
// agent: an agent restart never stops VMs. PowerOff is QMP quit (hard);
// Reset is system_reset. Suspend stops the guest, migrates its state into
// suspend.state through a file descriptor passed over QMP, and quits;
// PowerOn of a suspended VM starts QEMU with the same arguments and
// -incoming from that file, runs the guest and deletes the file. A guest
// that powers itself off makes QEMU exit, and the VM reads as poweredOff.
// ShutdownGuest and RebootGuest go through the guest agent (package guest)
// and fail with driver.ErrNoTools when no agent answers; there is no ACPI
// fallback, as vSphere needs VMware Tools for them too.
//
// # Restart
//
// New adopts the VMs of an existing state directory, as Nomad's
// RecoverTask does: a VM whose pid file names a live QEMU started for it
// (its environment carries VIREO_VM_ID) is reattached through qmp.sock and
// guest.sock and stays poweredOn; one whose QEMU died meanwhile reads as
// poweredOff, or suspended when it has a saved state.
//
// # Usage figures
//
// VMState.CPUUsageMHz is the QEMU process's CPU time (utime+stime from
// /proc/<pid>/stat) over the wall time since the previous reading (since
// the process started, at the first), scaled by the host's CPU clock;
// MemoryUsageMB is the process's resident set, guest RAM QEMU touched plus
// its own overhead (vSphere's consumed memory).
package qemu
