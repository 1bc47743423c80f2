package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/driver/drivertest"
)

// requireQEMU skips the test unless QEMU and qemu-img are installed.
func requireQEMU(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: install qemu-system-x86 and qemu-utils to test the qemu driver", tool)
		}
	}
}

// testHost is a QEMU host in a temporary directory, whose QEMUs are killed
// when the test ends.
type testHost struct {
	cfg     Config
	drivers []*Driver
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	requireQEMU(t)
	dir := t.TempDir()
	h := &testHost{cfg: Config{
		Name:     "qemu-test",
		StateDir: filepath.Join(dir, "state"),
		Datastores: map[string]string{
			"ds1": filepath.Join(dir, "ds1"),
			"ds2": filepath.Join(dir, "ds2"),
		},
		Networks: []string{"VM Network"},
	}}
	for _, ds := range h.cfg.Datastores {
		if err := os.MkdirAll(ds, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range h.drivers {
			d.Close()
		}
		killAll(t, h.cfg.StateDir)
	})
	return h
}

// open starts a driver instance on the host's state, closing the previous
// one as an exiting agent would.
func (h *testHost) open(t *testing.T) *Driver {
	t.Helper()
	if n := len(h.drivers); n > 0 {
		h.drivers[n-1].Close()
	}
	d, err := New(h.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.drivers = append(h.drivers, d)
	return d
}

// killAll kills the QEMUs of the VMs under stateDir that still run, so no
// test leaves a process behind.
func killAll(t *testing.T, stateDir string) {
	pids, _ := filepath.Glob(filepath.Join(stateDir, "*", pidFile))
	for _, p := range pids {
		dir := filepath.Dir(p)
		pid := readPid(dir)
		if !isVMProcess(pid, filepath.Base(dir)) {
			continue
		}
		t.Logf("killing the QEMU of %s left running (pid %d)", filepath.Base(dir), pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for deadline := time.Now().Add(10 * time.Second); alive(pid) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestConformance(t *testing.T) {
	requireQEMU(t)
	drivertest.Run(t, func(t *testing.T) (driver.Driver, drivertest.Env) {
		h := newTestHost(t)
		d := h.open(t)
		return d, drivertest.Env{
			Datastores: h.cfg.Datastores,
			Networks:   h.cfg.Networks,
			Restart:    func(t *testing.T) driver.Driver { return h.open(t) },
		}
	})
}
