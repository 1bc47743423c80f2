package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/guest"
)

// TestMain lets this test binary be the guest agent inside the image
// TestGuestAgent builds (guest.BuildOptions.Agent defaults to the running
// executable).
func TestMain(m *testing.M) {
	if os.Getenv(guest.AgentEnv) == "1" && len(os.Args) == 3 && os.Args[1] == "guest" {
		os.Exit(guest.AgentMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestGuestAgent boots the real guest image from its ISO past an empty disk
// and sees its agent report through the driver, across an agent restart,
// a guest reboot and a guest shutdown.
func TestGuestAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and boots the guest image (tens of seconds under TCG); skipped with -short")
	}
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the guest image is built from Debian packages", tool)
		}
	}
	h := newTestHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	isoDir := filepath.Join(h.cfg.Datastores["ds1"], "iso")
	img, err := guest.Build(ctx, guest.BuildOptions{OutputDir: isoDir})
	if err != nil {
		t.Skipf("the guest image cannot be built here: %v", err)
	}

	d := h.open(t)
	spec := driver.VMSpec{
		ID: "vm-guest", Name: "Guest VM", Dir: "[ds1] vm-guest", NumCPU: 1, MemoryMB: 256, GuestID: "otherLinux64Guest",
		Disks: []driver.Disk{{Path: "[ds1] vm-guest/vm-guest.vmdk", CapacityBytes: 64 << 20, Thin: true}},
		ISOs:  []string{"[ds1] iso/" + filepath.Base(img.ISO)},
		NICs:  []driver.NIC{{Network: "VM Network", MAC: "00:50:56:aa:bb:cc"}},
	}
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial log:\n%s", h.serial(t, spec.ID))
		}
	})
	start := time.Now()
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, d, spec.ID, "the guest's address", func(st driver.VMState) bool { return st.ToolsRunning && st.IPAddress != "" })
	t.Logf("boot to the guest's address under %s: %v", d.cfg.Accel, time.Since(start).Round(100*time.Millisecond))
	if st.HostName != "guest-vm" || st.IPAddress != "10.0.2.15" {
		t.Errorf("guest reports host name %q and address %q, want guest-vm and 10.0.2.15", st.HostName, st.IPAddress)
	}

	d = h.open(t) // an agent restart
	if p := power(t, d, spec.ID); p != driver.PoweredOn {
		t.Fatalf("after an agent restart the VM is %s", p)
	}
	waitState(t, d, spec.ID, "tools running after the restart", toolsRunning(true))

	if err := d.RebootGuest(ctx, spec.ID); err != nil {
		t.Fatalf("RebootGuest: %v", err)
	}
	eventually(t, "the guest to boot again", func() bool { return strings.Count(h.serial(t, spec.ID), "ISOLINUX") == 2 })
	waitState(t, d, spec.ID, "tools running after the reboot", toolsRunning(true))

	if err := d.ShutdownGuest(ctx, spec.ID); err != nil {
		t.Fatalf("ShutdownGuest: %v", err)
	}
	eventually(t, "the guest to shut down", func() bool { return power(t, d, spec.ID) == driver.PoweredOff })
}

func toolsRunning(want bool) func(driver.VMState) bool {
	return func(st driver.VMState) bool { return st.ToolsRunning == want }
}

// waitState polls the VM's state until ok holds.
func waitState(t *testing.T, d *Driver, id, what string, ok func(driver.VMState) bool) driver.VMState {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		st := mustState(t, d, id)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
	}
}
