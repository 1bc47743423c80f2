//go:build linux

package guest

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runInit is PID 1.
func runInit() {
	logf("init: booting (kernel %s)", kernelRelease())
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/run", "tmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	} {
		_ = os.MkdirAll(m.dst, 0o755)
		if isMountPoint(m.dst) {
			continue // /init mounted it
		}
		if err := unix.Mount(m.src, m.dst, m.fs, unix.MS_NOSUID, ""); err != nil {
			logf("init: mount %s: %v", m.dst, err)
		}
	}
	run("/bin/busybox", "--install", "-s")
	loadModules()
	name := chooseHostName()
	if err := unix.Sethostname([]byte(name)); err != nil {
		logf("init: set host name %q: %v", name, err)
	}
	_ = os.MkdirAll(filepath.Dir(appHeartbeatFile), 0o755)
	run("ip", "link", "set", "lo", "up")

	self, err := os.Executable()
	if err != nil {
		logf("init: %v", err)
		return
	}
	// Same arguments as ours ("guest init"), ending in agent instead.
	agentArgs := append(slices.Clone(os.Args[1:len(os.Args)-1]), "agent")
	agent := start(self, agentArgs...)
	startDHCP(name)
	go watchPowerButton()
	logf("init: host name %s, agent started", name)
	reapForever(func(pid int) {
		if pid == agent {
			logf("init: agent exited; restarting it in 1 s")
			time.Sleep(time.Second)
			agent = start(self, agentArgs...)
		}
	})
}

// reapForever waits for every child, as PID 1 must (orphans are reparented
// to it), and tells onExit about each.
func reapForever(onExit func(pid int)) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == nil:
			onExit(pid)
		case errors.Is(err, unix.EINTR):
		default:
			time.Sleep(time.Second) // ECHILD: nothing to reap yet
		}
	}
}

// start starts a child with the console as its output and returns its pid,
// or 0 if it could not start. The child is reaped by reapForever.
func start(name string, args ...string) int {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		logf("init: start %s: %v", name, err)
		return 0
	}
	return cmd.Process.Pid
}

// run runs a setup command to completion, logging a failure. It is used
// only before reapForever starts, so its own Wait gets the exit status.
func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		logf("init: %s %s: %v", name, strings.Join(args, " "), err)
	}
}

// loadModules loads the kernel modules Build listed, in order.
func loadModules() {
	data, err := os.ReadFile(modulesList)
	if err != nil {
		logf("init: %v", err)
		return
	}
	for _, p := range strings.Fields(string(data)) {
		if err := loadModule(p); err != nil {
			logf("init: load module %s: %v", filepath.Base(p), err)
		}
	}
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// chooseHostName picks the guest's host name: QEMU's fw_cfg entry
// FwCfgHostName first, then vireo.hostname= on the kernel command line, then
// "vireo-guest".
func chooseHostName() string {
	if b, err := os.ReadFile(fwCfgHostName); err == nil {
		if n := sanitizeHostName(string(b)); n != "" {
			return n
		}
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if v, ok := strings.CutPrefix(f, "vireo.hostname="); ok {
				if n := sanitizeHostName(v); n != "" {
					return n
				}
			}
		}
	}
	return defaultHostName
}

// startDHCP runs busybox udhcpc on every network interface but loopback. It
// stays in the foreground (a child of init) to renew the lease; the script
// Build installs applies it.
func startDHCP(hostName string) {
	ifaces, err := os.ReadDir("/sys/class/net")
	if err != nil {
		logf("init: %v", err)
		return
	}
	for _, i := range ifaces {
		if i.Name() == "lo" {
			continue
		}
		start("/sbin/udhcpc", "-f", "-i", i.Name(), "-s", dhcpScript,
			"-T", "1", "-t", "5", "-A", "3", "-x", "hostname:"+hostName)
	}
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// isMountPoint reports whether dir is mounted on (its device differs from
// its parent's).
func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// watchPowerButton powers the guest off when the ACPI power button is
// pressed (QMP system_powerdown, what a host does when the guest channel is
// down), so a clean shutdown never depends on the agent. It reads the input
// events of the "Power Button" devices the button and evdev modules create.
func watchPowerButton() {
	devs, _ := filepath.Glob("/sys/class/input/event*/device/name")
	for _, n := range devs {
		name, _ := os.ReadFile(n)
		if strings.TrimSpace(string(name)) != "Power Button" {
			continue
		}
		dev := "/dev/input/" + filepath.Base(filepath.Dir(filepath.Dir(n)))
		go func() {
			f, err := os.Open(dev)
			if err != nil {
				logf("init: power button %s: %v", dev, err)
				return
			}
			defer f.Close()
			// struct input_event on 64-bit: 16 bytes of time, then u16
			// type, u16 code, s32 value.
			var ev [24]byte
			for {
				if _, err := io.ReadFull(f, ev[:]); err != nil {
					logf("init: power button %s: %v", dev, err)
					return
				}
				typ := binary.LittleEndian.Uint16(ev[16:])
				code := binary.LittleEndian.Uint16(ev[18:])
				value := int32(binary.LittleEndian.Uint32(ev[20:]))
				if typ == evKey && code == keyPower && value == 1 {
					logf("init: power button pressed; powering off")
					unix.Sync()
					if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
						logf("init: power off: %v", err)
					}
				}
			}
		}()
	}
}

// Linux input event codes (include/uapi/linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
)
