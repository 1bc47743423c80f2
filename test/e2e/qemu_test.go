package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needQEMU skips t where QEMU is not installed.
func needQEMU(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install qemu-system-x86 qemu-utils); the qemu backend cannot run here", bin)
		}
	}
}

// buildGuestImage builds the guest ISO with `vireo guest build`, reusing
// the Debian packages cached in the user cache directory.
func buildGuestImage(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, vireoBin, "guest", "build", "-o", out).CombinedOutput()
	if err != nil {
		t.Fatalf("vireo guest build: %v\n%s", err, b)
	}
	iso := filepath.Join(out, "vireo-guest.iso")
	if _, err := os.Stat(iso); err != nil {
		t.Fatalf("no guest ISO: %v\n%s", err, b)
	}
	return iso
}

// killQEMUs kills the QEMU processes an agent's state directory names, so
// a failed test leaves none behind.
func killQEMUs(stateDir string) {
	pids, _ := filepath.Glob(filepath.Join(stateDir, "vms", "*", "qemu.pid"))
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestQEMUHostRealGuest adds a qemu agent and a sim agent, boots the guest
// image on the qemu host and follows it through agent and server restarts.
func TestQEMUHostRealGuest(t *testing.T) {
	needBinaries(t)
	needQEMU(t)
	iso := buildGuestImage(t)

	srv := startServer(t, serverConfig{args: []string{"--host-timeout", "5s"}})
	qds := t.TempDir()
	qa := startAgent(t, "127.0.0.1:0", "--backend", "qemu", "--name", "kvm-1", "--datastore", "qds="+qds, "--heartbeat", "1s")
	t.Cleanup(func() { killQEMUs(qa.stateDir) })
	sa := startAgent(t, "127.0.0.1:0", "--backend", "sim", "--name", "sim-1", "--datastore", "sds="+t.TempDir(), "--heartbeat", "1s")

	srv.govc(t, "datacenter.create", demoDC)
	srv.govc(t, "cluster.create", "-dc", demoDC, "C1")
	srv.govc(t, "host.add", "-hostname", qa.Addr, "-username", "root", "-password", agentPassword, "-noverify")
	srv.govc(t, "cluster.add", "-cluster", "/"+demoDC+"/host/C1", "-hostname", sa.Addr, "-username", "root", "-password", agentPassword, "-noverify")
	qhost := "/" + demoDC + "/host/" + qa.Addr + "/" + qa.Addr
	for _, h := range []string{qhost, "/" + demoDC + "/host/C1/" + sa.Addr} {
		if got := srv.collect(t, h, "runtime.connectionState"); got != "connected" {
			t.Fatalf("%s: connection state %q", h, got)
		}
	}

	// The guest image goes onto the qemu host's datastore through the
	// server, and boots in a new VM.
	srv.govc(t, "datastore.upload", "-ds", "qds", iso, "iso/vireo-guest.iso")
	if _, err := os.Stat(filepath.Join(qds, "iso", "vireo-guest.iso")); err != nil {
		t.Fatalf("the upload did not land in the agent's datastore: %v", err)
	}
	// A QEMU that cannot start (a disk file that is no disk image) fails
	// the power-on task with QEMU's reason; the VM stays off.
	bad := filepath.Join(t.TempDir(), "bad.vmdk")
	if err := os.WriteFile(bad, []byte("# Disk DescriptorFile\nthis is not a disk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.govc(t, "datastore.upload", "-ds", "qds", bad, "broken/broken.vmdk")
	srv.govc(t, "vm.create", "-host", qhost, "-ds", "qds", "-m", "128", "-disk", "broken/broken.vmdk", "-link=false", "-on=false", "broken")
	errOut := srv.govcFail(t, "vm.power", "-on", "broken")
	mustMatch(t, "power on with a bad disk", errOut, `broken\.vmdk`)
	if got := srv.collect(t, "/"+demoDC+"/vm/broken", "runtime.powerState"); got != "poweredOff" {
		t.Fatalf("a VM whose QEMU failed is %q", got)
	}

	srv.govc(t, "vm.create", "-host", qhost, "-ds", "qds", "-m", "256", "-c", "1", "-g", "otherLinux64Guest",
		"-iso", "iso/vireo-guest.iso", "-iso-datastore", "qds", "-net", "VM Network", "-on=false", "guest1")
	start := time.Now()
	srv.govc(t, "vm.power", "-on", "guest1")
	ip := strings.TrimSpace(srv.govc(t, "vm.ip", "-wait", "90s", "guest1"))
	t.Logf("guest reported IP %s %.1f s after power-on", ip, time.Since(start).Seconds())
	if ip != "10.0.2.15" {
		t.Fatalf("vm.ip = %q, want QEMU's user-mode address 10.0.2.15", ip)
	}
	vmPath := "/" + demoDC + "/vm/guest1"
	waitFor(t, "guest heartbeat", 60*time.Second, func() string {
		if got := srv.collect(t, vmPath, "guest.toolsRunningStatus"); got != "guestToolsRunning" {
			return "tools " + got
		}
		if got := srv.collect(t, vmPath, "guestHeartbeatStatus"); got != "green" {
			return "heartbeat " + got
		}
		return ""
	})
	if got := srv.collect(t, vmPath, "guest.hostName"); got == "" {
		t.Fatal("the guest reported no host name")
	}

	srv.govc(t, "vm.power", "-off", "guest1")
	if got := srv.collect(t, vmPath, "runtime.powerState"); got != "poweredOff" {
		t.Fatalf("power state after power off = %q", got)
	}
	srv.govc(t, "vm.power", "-on", "guest1")

	// The qemu agent dies; its VM keeps running under QEMU.
	qa.kill(t)
	srv.waitProp(t, "qemu host not responding", 30*time.Second, qhost, "runtime.connectionState", "notResponding")
	mustMatch(t, "events", srv.govc(t, "events", qhost), `is not responding`)
	qa.restart(t)
	waitFor(t, "qemu host reconnected", 30*time.Second, func() string {
		if got := srv.collect(t, qhost, "runtime.connectionState"); got != "connected" {
			return "state " + got
		}
		if got := srv.collect(t, vmPath, "runtime.connectionState"); got != "connected" {
			return "VM " + got
		}
		return ""
	})
	if got := srv.collect(t, vmPath, "runtime.powerState"); got != "poweredOn" {
		t.Fatalf("the VM after the agent restart is %q, want poweredOn (reattached)", got)
	}

	// The server restarts while the VM runs.
	srv.stop()
	srv2 := startServer(t, serverConfig{dataDir: srv.DataDir, args: []string{"--host-timeout", "5s"}})
	srv2.waitProp(t, "qemu host connected after a server restart", 30*time.Second, qhost, "runtime.connectionState", "connected")
	if got := srv2.collect(t, vmPath, "runtime.powerState"); got != "poweredOn" {
		t.Fatalf("the VM after the server restart is %q, want poweredOn", got)
	}
	if ip := strings.TrimSpace(srv2.govc(t, "vm.ip", "-wait", "60s", "guest1")); ip != "10.0.2.15" {
		t.Fatalf("vm.ip after the server restart = %q", ip)
	}
	srv2.govc(t, "vm.power", "-off", "guest1")
}
