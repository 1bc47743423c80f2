// Package guest is Vireo's real guest: a tiny Linux image built from Debian
// packages, the agent that runs inside it, and the host end of the channel
// between the two.
//
// # The guest channel
//
// Each VM has a virtio-serial port named PortName ("org.vireo.guest.0").
// QEMU exposes it on the host as a unix socket in server mode:
//
//	-device virtio-serial-pci,id=vser0
//	-chardev socket,id=guestchan,path=RUNDIR/guest.sock,server=on,wait=off
//	-device virtserialport,bus=vser0.0,chardev=guestchan,name=org.vireo.guest.0
//
// Dial connects to that socket and returns a Conn. Messages are
// newline-delimited JSON objects with a "type" field. The guest sends a
// heartbeat every second (host name, IP addresses, the last application
// heartbeat) and a result for every request; the host sends shutdown,
// reboot and exec requests, each with an id the result echoes. Conn.Status
// says whether heartbeats are arriving (within HeartbeatTimeout). QEMU
// accepts one client at a time and keeps the guest running when it goes
// away, so a restarted host agent simply Dials again.
//
// The guest takes its host name from the QEMU option
// -fw_cfg name=opt/org.vireo/hostname,string=NAME (FwCfgHostName), else from
// vireo.hostname=NAME on the kernel command line (direct boot), else it is
// "vireo-guest". The guest's NIC must be virtio-net (the cloud kernel has
// no e1000 driver); with QEMU user networking it gets 10.0.2.15 by DHCP.
// Pressing the ACPI power button (QMP system_powerdown) powers it off
// cleanly even without the channel.
//
// # Application heartbeats
//
// Software in the guest sends an application heartbeat (vSphere's
// application monitoring) by running AppHeartbeatCommand
// ("/bin/vireo-app-heartbeat", optionally with green, red or gray), or by
// writing that word to /run/vireo-guest/app-heartbeat itself. The agent
// reports the file's modification time and word in every heartbeat;
// Status.AppHeartbeat and Status.AppStatus carry them. The host can run the
// command through Exec as well.
//
// # Exec
//
// The agent runs only commands on its allow list (AllowedCommands): a few
// read-only busybox applets (uname, hostname, uptime, cat of /proc files,
// ip listings, ps, dmesg, echo, true, false) and the application heartbeat
// command, each for at most 30 s with output capped at 256 KiB. Anything
// else is refused with an error naming the list.
//
// # The image
//
// Build fetches Debian packages with apt-get download into a cache (the
// kernel that linux-image-cloud-amd64 depends on, busybox-static, isolinux,
// syslinux-common), unpacks them with dpkg-deb -x and writes:
//
//   - vireo-guest.iso: isolinux boots the kernel and initramfs at once with
//     Cmdline; boot it as a CD-ROM with SeaBIOS. Mastered with xorriso or
//     genisoimage; no root and no loop devices.
//   - vireo-guest.vmlinuz and vireo-guest.initrd.gz, for qemu -kernel and
//     -initrd when direct boot is preferred.
//
// The initramfs (a gzipped newc cpio written by this package) is the whole
// guest: /init, busybox, the agent binary, and the virtio, fw_cfg and ACPI
// button modules, decompressed at build time and loaded in dependency order
// (read from each module's .modinfo) by init with finit_module. The
// guest needs at least 128 MiB of memory.
//
// # Which binary is the agent
//
// By default the agent is the binary that runs Build: the vireo executable,
// which dispatches `vireo guest init` and `vireo guest agent` to AgentMain
// when AgentEnv is set (tests call RunIfAgent in TestMain). That way
// `vireo guest build` works on a machine with no Go toolchain, and the agent
// always speaks the protocol of the host that built it. When the binary is
// dynamically linked (cgo), its ELF interpreter and shared libraries are
// copied from the build machine into the image; its DWARF debug information
// is stripped when binutils' strip is present.
//
// The price is boot time under software emulation: QEMU's TCG translates
// every instruction the first time it runs, and the vireo binary's package
// initialization (govmomi's type registry above all) costs about three
// seconds there, where it takes milliseconds under KVM. cmd/vireo-guest is
// a dedicated 3 MB agent for when that matters:
//
//	CGO_ENABLED=0 go build -o vireo-guest ./cmd/vireo-guest
//	vireo guest build -agent ./vireo-guest
//
// Measured on a shared two-core machine under TCG, QEMU start to first
// heartbeat took 4 to 6 s with a small agent and 7 to 9 s with the vireo
// binary.
//
// Inside the guest, /init (a busybox shell script) execs the agent binary
// as PID 1 in "init" mode: it mounts /proc, /sys, /dev, /run and /tmp,
// installs the busybox applets, loads the modules, sets the host name,
// starts the agent as a child (restarting it if it dies), runs busybox
// udhcpc on every NIC, watches the power button and reaps orphans. The
// agent opens the port found through /sys/class/virtio-ports/*/name and
// serves the host. Both print their progress to the serial console
// (console=ttyS0), so a VM's serial log shows its boot and heartbeat state.
package guest
