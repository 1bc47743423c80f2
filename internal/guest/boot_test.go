package guest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireBootTools skips the test unless this machine can build and boot
// the guest image.
func requireBootTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM under QEMU (tens of seconds); skipped with -short")
	}
	for _, tool := range []string{"qemu-system-x86_64", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: install qemu-system-x86 and apt/dpkg to boot the guest image", tool)
		}
	}
	if _, err := exec.LookPath("xorriso"); err != nil {
		if _, err := exec.LookPath("genisoimage"); err != nil {
			t.Skip("neither xorriso nor genisoimage found: install one to master the guest ISO")
		}
	}
	if out, err := exec.Command("apt-get", "download", "--print-uris", "busybox-static").CombinedOutput(); err != nil {
		t.Skipf("apt-get download cannot locate Debian packages here (run apt-get update?): %v: %s", err, out)
	}
}

// vm is a QEMU process booted from the guest image.
type vm struct {
	cmd     *exec.Cmd
	sock    string // the guest channel
	monitor string // the human monitor (HMP)
	serial  string // the serial console log
}

// bootVM starts QEMU on the ISO under software emulation with the guest
// channel as the qemu driver sets it up.
func bootVM(t *testing.T, img Image, hostName string) *vm {
	dir := t.TempDir()
	sock := filepath.Join(dir, "guest.sock")
	serial := filepath.Join(dir, "serial.log")
	monitor := filepath.Join(dir, "monitor.sock")
	cmd := exec.Command("qemu-system-x86_64",
		"-accel", "tcg", "-m", "256", "-nodefaults", "-display", "none",
		"-serial", "file:"+serial,
		"-cdrom", img.ISO, "-boot", "d",
		"-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=guestchan,path="+sock+",server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=guestchan,name="+PortName,
		"-fw_cfg", "name="+FwCfgHostName+",string="+hostName,
		"-monitor", "unix:"+monitor+",server=on,wait=off",
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() || testing.Verbose() {
			log, _ := os.ReadFile(serial)
			t.Logf("QEMU stderr:\n%s\nserial log:\n%s", stderr.String(), log)
		}
	})
	return &vm{cmd: cmd, sock: sock, monitor: monitor, serial: serial}
}

// waitExit waits for QEMU to exit by itself, as it does on a guest power-off.
func (v *vm) waitExit(t *testing.T) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- v.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("QEMU exited with %v after the guest powered off, want 0", err)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("QEMU still runs %v after the guest was told to power off", stepTimeout)
	}
}

// bootAndDial boots a VM and waits for its first heartbeat.
func bootAndDial(t *testing.T, ctx context.Context, img Image, hostName string) (*vm, *Conn) {
	t.Helper()
	start := time.Now()
	v := bootVM(t, img, hostName)
	c := dialWhenReady(t, ctx, v.sock)
	waitFor(t, ctx, c, "a heartbeat", func(s Status) bool { return s.Running })
	t.Logf("boot to first heartbeat under TCG: %v", time.Since(start).Round(100*time.Millisecond))
	return v, c
}

// dialWhenReady dials the socket QEMU creates shortly after it starts.
func dialWhenReady(t *testing.T, ctx context.Context, sock string) *Conn {
	t.Helper()
	for {
		c, err := Dial(ctx, sock)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if ctx.Err() != nil {
			t.Fatalf("guest channel socket never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls until ok holds for the guest's status.
func waitFor(t *testing.T, ctx context.Context, c *Conn, what string, ok func(Status) bool) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	for {
		s := c.Status()
		if ok(s) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("guest never reported %s; last status %+v", what, s)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stepTimeout bounds each wait for the guest: a boot takes seconds under
// TCG, but a machine busy with other tests can stretch it a lot.
const stepTimeout = 2 * time.Minute

func TestBootGuest(t *testing.T) {
	requireBootTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	img := testImage(t, ctx)

	const hostName = "boot-test-vm"
	v, c := bootAndDial(t, ctx, img, hostName)
	s := waitFor(t, ctx, c, "an IP address", func(s Status) bool { return s.Running && len(s.IPAddresses) > 0 })
	t.Logf("status with an address: %+v", s)
	if s.HostName != hostName || s.IPAddresses[0] != "10.0.2.15" {
		t.Errorf("status = %+v, want host name %s and address 10.0.2.15 (QEMU user networking)", s, hostName)
	}
	if !s.AppHeartbeat.IsZero() {
		t.Errorf("app heartbeat %v before any application sent one", s.AppHeartbeat)
	}

	r, err := c.Exec(ctx, "/bin/uname", []string{"-r"})
	if err != nil || r.ExitCode != 0 || img.KernelVersion != "" && strings.TrimSpace(r.Stdout) != img.KernelVersion {
		t.Errorf("Exec uname -r = %+v, %v; want exit 0 and %s", r, err, img.KernelVersion)
	}
	if _, err := c.Exec(ctx, "/bin/rm", []string{"-rf", "/"}); err == nil || !strings.Contains(err.Error(), "allow list") {
		t.Errorf("Exec of a command off the allow list: %v, want a refusal naming the allow list", err)
	}
	if r, err := c.Exec(ctx, "/bin/false", nil); err != nil || r.ExitCode != 1 {
		t.Errorf("Exec false = %+v, %v; want exit code 1", r, err)
	}

	if r, err := c.Exec(ctx, AppHeartbeatCommand, nil); err != nil || r.ExitCode != 0 {
		t.Fatalf("Exec %s = %+v, %v", AppHeartbeatCommand, r, err)
	}
	s = waitFor(t, ctx, c, "an application heartbeat", func(s Status) bool { return !s.AppHeartbeat.IsZero() })
	if s.AppStatus != AppStatusGreen {
		t.Errorf("app status %q, want %s", s.AppStatus, AppStatusGreen)
	}

	// The host agent restarts: a new connection picks the guest up.
	c.Close()
	c = dialWhenReady(t, ctx, v.sock)
	waitFor(t, ctx, c, "a heartbeat after reconnecting", func(s Status) bool { return s.Running })

	// A reboot keeps the channel; the guest comes back with a fresh uptime.
	before := uptime(t, ctx, c)
	if err := c.Reboot(ctx); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	rebootCtx, cancelReboot := context.WithTimeout(ctx, stepTimeout)
	defer cancelReboot()
	for {
		r, err := c.Exec(rebootCtx, "/bin/cat", []string{"/proc/uptime"})
		if err == nil && parseUptime(t, r.Stdout) < before {
			break
		}
		if rebootCtx.Err() != nil {
			t.Fatalf("guest did not come back from the reboot: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	waitFor(t, ctx, c, "heartbeats after the reboot", func(s Status) bool { return s.Running && len(s.IPAddresses) > 0 })

	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	v.waitExit(t)
	log, _ := os.ReadFile(v.serial)
	if !strings.Contains(string(log), "vireo-guest: agent: shutdown requested") {
		t.Errorf("serial log lacks the agent's shutdown line:\n%s", log)
	}
	<-c.Done()
	if err := c.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("channel error after QEMU exited: %v, want ErrClosed", err)
	}
}

func TestPowerButton(t *testing.T) {
	requireBootTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v, _ := bootAndDial(t, ctx, testImage(t, ctx), "power-button-vm")

	// What a host does when the guest channel is down: press the ACPI
	// power button.
	mon, err := net.Dial("unix", v.monitor)
	if err != nil {
		t.Fatalf("QEMU monitor: %v", err)
	}
	defer mon.Close()
	if _, err := mon.Write([]byte("system_powerdown\n")); err != nil {
		t.Fatalf("QEMU monitor: %v", err)
	}
	v.waitExit(t)
	log, _ := os.ReadFile(v.serial)
	if !strings.Contains(string(log), "power button pressed") {
		t.Errorf("serial log lacks init's power button line:\n%s", log)
	}
}

// uptime returns the guest's seconds since boot.
func uptime(t *testing.T, ctx context.Context, c *Conn) float64 {
	t.Helper()
	r, err := c.Exec(ctx, "/bin/cat", []string{"/proc/uptime"})
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("Exec cat /proc/uptime = %+v, %v", r, err)
	}
	return parseUptime(t, r.Stdout)
}

func parseUptime(t *testing.T, s string) float64 {
	t.Helper()
	f := strings.Fields(s)
	if len(f) == 0 {
		t.Fatalf("/proc/uptime is %q", s)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("/proc/uptime is %q: %v", s, err)
	}
	return v
}

// testImage builds the guest image with this test binary as the agent, or
// takes the ISO named by $VIREO_GUEST_ISO (e.g. one `vireo guest build`
// made, to test the vireo binary as the agent).
// The image is built once per test binary and shared.
func testImage(t *testing.T, ctx context.Context) Image {
	if iso := os.Getenv("VIREO_GUEST_ISO"); iso != "" {
		t.Logf("booting %s from $VIREO_GUEST_ISO", iso)
		return Image{ISO: iso}
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.err == nil && shared.img.ISO == "" {
		dir, err := os.MkdirTemp("", "vireo-guest-test-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		start := time.Now()
		shared.img, shared.err = Build(ctx, BuildOptions{OutputDir: dir, Log: testWriter{t}})
		t.Logf("image built in %v: %+v", time.Since(start).Round(time.Millisecond), shared.img)
	}
	if shared.err != nil {
		t.Fatalf("Build: %v", shared.err)
	}
	return shared.img
}

var shared struct {
	sync.Mutex
	dir string // removed by TestMain
	img Image
	err error
}

// testWriter sends build progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
