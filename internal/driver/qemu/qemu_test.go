package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bootSpec is a VM with an empty disk and, in its CD-ROM drive, an ISO that
// boots program.
func bootSpec(t *testing.T, h *testHost, id string, program []byte) driver.VMSpec {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(h.cfg.Datastores["ds1"], "iso"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeBootISO(t, filepath.Join(h.cfg.Datastores["ds1"], "iso", id+".iso"), program)
	return driver.VMSpec{
		ID: id, Name: id, Dir: "[ds1] " + id, NumCPU: 1, MemoryMB: 64, GuestID: "otherGuest",
		Disks: []driver.Disk{{Path: "[ds1] " + id + "/" + id + ".vmdk", CapacityBytes: 16 << 20, Thin: true}},
		ISOs:  []string{"[ds1] iso/" + id + ".iso"},
		NICs:  []driver.NIC{{Network: "VM Network", MAC: "00:50:56:01:02:03"}},
	}
}

func (h *testHost) serial(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.cfg.StateDir, id, serialLog))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func power(t *testing.T, d *Driver, id string) driver.PowerState {
	t.Helper()
	st, err := d.State(testCtx(t), id)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	return st.PowerState
}

// TestBootISOAndGuestPowerOff boots an ISO from the CD-ROM past an empty
// disk, and sees the VM power off when its guest does.
func TestBootISOAndGuestPowerOff(t *testing.T) {
	h := newTestHost(t)
	d := h.open(t)
	ctx := testCtx(t)
	spec := bootSpec(t, h, "vm-bye", poweroffProgram("VIREO-BYE\r\n"))
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if format, err := imageFormat(filepath.Join(h.cfg.Datastores["ds1"], "vm-bye", "vm-bye.vmdk")); err != nil || format != "qcow2" {
		t.Errorf("new disk format %q, %v; want qcow2", format, err)
	}
	for boot := 1; boot <= 2; boot++ {
		if err := d.PowerOn(ctx, spec.ID); err != nil {
			t.Fatalf("PowerOn %d: %v", boot, err)
		}
		eventually(t, "the guest to power the VM off", func() bool { return power(t, d, spec.ID) == driver.PoweredOff })
		if n := strings.Count(h.serial(t, spec.ID), "VIREO-BYE"); n != boot {
			t.Fatalf("after boot %d the serial log holds the guest's message %d times, want %d (appended across boots):\n%s",
				boot, n, boot, h.serial(t, spec.ID))
		}
	}
	if pid := readPid(filepath.Join(h.cfg.StateDir, spec.ID)); pid != 0 {
		t.Errorf("pid file of a powered-off VM names %d", pid)
	}
}

// TestSuspendResumesWhereItLeft suspends a running guest and resumes it:
// the guest goes on without booting again. A power-off and power-on then
// boots it afresh.
func TestSuspendResumesWhereItLeft(t *testing.T) {
	h := newTestHost(t)
	d := h.open(t)
	ctx := testCtx(t)
	spec := bootSpec(t, h, "vm-tick", tickerProgram("VIREO-BOOT\r\n"))
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	dots := func() int { return strings.Count(h.serial(t, spec.ID), ".") }
	eventually(t, "the guest to tick", func() bool { return dots() >= 3 })
	boot := mustState(t, d, spec.ID).BootTime

	if err := d.Suspend(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(h.cfg.StateDir, spec.ID, savedState)
	if _, err := os.Stat(saved); err != nil {
		t.Fatalf("no saved state after Suspend: %v", err)
	}
	before := dots()
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatalf("resume: %v", err)
	}
	eventually(t, "the resumed guest to tick", func() bool { return dots() > before+3 })
	if n := strings.Count(h.serial(t, spec.ID), "VIREO-BOOT"); n != 1 {
		t.Fatalf("the guest booted %d times across suspend and resume, want once", n)
	}
	if _, err := os.Stat(saved); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("saved state left after resume: %v", err)
	}
	if got := mustState(t, d, spec.ID).BootTime; !got.Equal(boot) {
		t.Errorf("boot time after resume %v, want %v", got, boot)
	}

	if err := d.PowerOff(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a second boot", func() bool { return strings.Count(h.serial(t, spec.ID), "VIREO-BOOT") == 2 })
}

// TestCorruptSavedState resumes from a damaged saved state: the error says
// why, the VM stays suspended, and powering it off discards the state.
func TestCorruptSavedState(t *testing.T) {
	h := newTestHost(t)
	d := h.open(t)
	ctx := testCtx(t)
	spec := bootSpec(t, h, "vm-corrupt-state", tickerProgram("VIREO-BOOT\r\n"))
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Suspend(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(h.cfg.StateDir, spec.ID, savedState)
	fi, err := os.Stat(saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(saved, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	err = d.PowerOn(ctx, spec.ID)
	if err == nil {
		t.Fatal("resumed from a truncated saved state")
	}
	t.Logf("PowerOn: %v", err)
	if !strings.Contains(err.Error(), filepath.Base(d.cfg.QEMUPath)+": ") {
		t.Errorf("error %q does not pass on QEMU's message", err)
	}
	if p := power(t, d, spec.ID); p != driver.Suspended {
		t.Errorf("after a failed resume the VM is %s, want suspended", p)
	}
	if err := d.PowerOff(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatalf("cold boot after discarding the state: %v", err)
	}
}

func mustState(t *testing.T, d *Driver, id string) driver.VMState {
	t.Helper()
	st, err := d.State(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStartFailure powers on VMs whose QEMU cannot start: the error carries
// QEMU's message, with datastore paths instead of host paths, and the VM
// stays powered off with no process left.
func TestStartFailure(t *testing.T) {
	h := newTestHost(t)
	d := h.open(t)
	ctx := testCtx(t)
	tests := []struct {
		name  string
		setup func(spec *driver.VMSpec, dir string)
		want  []string // substrings of the error
	}{
		{"corrupt disk", func(spec *driver.VMSpec, dir string) {
			p := filepath.Join(dir, spec.ID, spec.ID+".vmdk")
			if err := os.WriteFile(p, append([]byte("QFI\xfb"), make([]byte, 1020)...), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"[ds1] vm-corrupt/vm-corrupt.vmdk", "qcow2"}},
		{"missing ISO", func(spec *driver.VMSpec, dir string) {
			spec.ISOs = []string{"[ds1] iso/missing.iso"}
		}, []string{"[ds1] iso/missing.iso", "No such file"}},
		{"bad MAC address", func(spec *driver.VMSpec, dir string) {
			spec.NICs[0].MAC = "not-a-mac"
		}, []string{"mac"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := []string{"vm-corrupt", "vm-noiso", "vm-badmac"}[i]
			spec := bootSpec(t, h, id, poweroffProgram("X"))
			if err := d.Create(ctx, spec); err != nil {
				t.Fatal(err)
			}
			tt.setup(&spec, h.cfg.Datastores["ds1"])
			if err := d.Reconfigure(ctx, spec); err != nil {
				t.Fatal(err)
			}
			err := d.PowerOn(ctx, id)
			if err == nil {
				t.Fatal("PowerOn succeeded")
			}
			t.Logf("PowerOn: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("PowerOn error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), h.cfg.Datastores["ds1"]) {
				t.Errorf("PowerOn error %q shows a host path", err)
			}
			if p := power(t, d, id); p != driver.PoweredOff {
				t.Errorf("power state %s after a failed start", p)
			}
			killAll(t, h.cfg.StateDir) // logs any QEMU left behind
		})
	}
}

// TestQEMUDies kills a running QEMU behind the driver's back, while the
// agent runs and while it is down.
func TestQEMUDies(t *testing.T) {
	h := newTestHost(t)
	d := h.open(t)
	ctx := testCtx(t)
	spec := bootSpec(t, h, "vm-die", tickerProgram("X"))
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	pidOf := func() int { return readPid(filepath.Join(h.cfg.StateDir, spec.ID)) }

	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pidOf(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the killed VM to read poweredOff", func() bool { return power(t, d, spec.ID) == driver.PoweredOff })

	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	pid := pidOf()
	d.Close()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the QEMU to die", func() bool { return !alive(pid) })
	d = h.open(t)
	if p := power(t, d, spec.ID); p != driver.PoweredOff {
		t.Errorf("VM whose QEMU died while the agent was down reads %s, want poweredOff", p)
	}

	// A pid file naming another process is not adopted.
	if err := os.WriteFile(filepath.Join(h.cfg.StateDir, spec.ID, pidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	d = h.open(t)
	if p := power(t, d, spec.ID); p != driver.PoweredOff {
		t.Errorf("VM with a pid file naming a stranger reads %s, want poweredOff", p)
	}
}

// TestUsage reads the CPU and memory a running VM's QEMU uses.
func TestUsage(t *testing.T) {
	h := newTestHost(t)
	d := h.open(t)
	ctx := testCtx(t)
	spec := bootSpec(t, h, "vm-usage", tickerProgram("X"))
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	st := mustState(t, d, spec.ID)
	// Starting QEMU and the BIOS takes CPU time; QEMU maps tens of MB.
	if st.CPUUsageMHz <= 0 || st.MemoryUsageMB <= 0 {
		t.Errorf("usage of a running VM: %d MHz, %d MB; want both positive", st.CPUUsageMHz, st.MemoryUsageMB)
	}
	if info, _ := d.Info(ctx); st.CPUUsageMHz > int32(info.NumCPU)*info.CPUMHz {
		t.Errorf("usage %d MHz exceeds the host's %d x %d MHz", st.CPUUsageMHz, info.NumCPU, info.CPUMHz)
	}
}

func TestQEMUArgs(t *testing.T) {
	requireQEMU(t)
	dir := t.TempDir()
	d, err := New(Config{
		StateDir:   filepath.Join(dir, "state"),
		Datastores: map[string]string{"ds1": dir},
		Bridges:    map[string]string{"LAN": "br0"},
		Accel:      "tcg",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	raw := filepath.Join(dir, "raw,disk.vmdk")
	if err := os.WriteFile(raw, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	args, err := d.qemuArgs(driver.VMSpec{
		ID: "x", Name: "Web Server #1", NumCPU: 2, MemoryMB: 256,
		Disks: []driver.Disk{{Path: "[ds1] raw,disk.vmdk"}},
		ISOs:  []string{""},
		NICs:  []driver.NIC{{Network: "LAN", MAC: "00:50:56:00:00:01"}, {Network: "VM Network"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-smp 2", "-m 256", "-accel tcg",
		"file=" + strings.ReplaceAll(raw, ",", ",,") + ",format=raw,if=none,id=disk0",
		"virtio-blk-pci,drive=disk0,bootindex=1",
		"-drive if=none,id=cd0,media=cdrom,readonly=on -device ide-cd,drive=cd0,bootindex=2",
		"-netdev bridge,id=net0,br=br0 -device virtio-net-pci,netdev=net0,mac=00:50:56:00:00:01",
		"-netdev user,id=net1 -device virtio-net-pci,netdev=net1",
		"name=opt/org.vireo/hostname,string=web-server-1",
		"socket,id=guestchan,path=guest.sock,server=on,wait=off",
		"virtserialport,bus=vser0.0,chardev=guestchan,name=org.vireo.guest.0",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("QEMU arguments lack %q:\n%s", want, line)
		}
	}
	args, err = d.qemuArgs(driver.VMSpec{ID: "x", Name: "vm", MemoryMB: 64, Identity: &driver.GuestIdentity{HostName: "web01"}})
	if err != nil || !slices.Contains(args, "name=opt/org.vireo/hostname,string=web01") {
		t.Errorf("a customized host name is not passed to the guest: %v, %v", args, err)
	}
	if _, err := d.qemuArgs(driver.VMSpec{ID: "x", MemoryMB: 64, Disks: []driver.Disk{{Path: "[gone] a.vmdk"}}}); !errors.Is(err, driver.ErrDatastoreNotFound) {
		t.Errorf("disk on an unknown datastore: %v, want ErrDatastoreNotFound", err)
	}
}

func TestImageFormat(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		head, want string
	}{
		{"KDMV\x01\x00\x00\x00", "vmdk"},
		{"# Disk DescriptorFile\nversion=1\n", "vmdk"},
		{"QFI\xfb\x00\x00\x00\x03", "qcow2"},
		{"\xeb\x63\x90 a boot sector", "raw"},
		{"", "raw"},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(p, []byte(tt.head), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := imageFormat(p); err != nil || got != tt.want {
			t.Errorf("imageFormat(%q) = %q, %v; want %q", tt.head, got, err, tt.want)
		}
	}
}

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{
		"Web Server #1": "web-server-1",
		"db_01.prod":    "db-01-prod",
		"--x--":         "x",
		"ÜBER":          "ber",
	} {
		if got := hostName(in); got != want {
			t.Errorf("hostName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := hostName(strings.Repeat("a", 80)); len(got) != 63 {
		t.Errorf("hostName of 80 letters has %d, want 63", len(got))
	}
}

func TestInfo(t *testing.T) {
	h := newTestHost(t)
	d := h.open(t)
	info, err := d.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "qemu-test" || info.UUID == "" || info.CPUModel == "" || info.NumCores <= 0 || info.NumCores > info.NumCPU {
		t.Errorf("Info = %+v", info)
	}
	names := []string{}
	for _, ds := range info.Datastores {
		names = append(names, ds.Name)
	}
	if !slices.Equal(names, []string{"ds1", "ds2"}) {
		t.Errorf("datastores %v, want [ds1 ds2] in order", names)
	}
}
