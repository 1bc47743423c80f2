package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentPassword is root's password on every test agent.
const agentPassword = "root-Secret!"

// hostAgent is a `vireo host` child process.
type hostAgent struct {
	Addr     string // host:port it listens on
	stateDir string
	args     []string
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// startAgent starts `vireo host` with args (the listen address is added)
// and waits until it listens. It is stopped when t ends.
func startAgent(t *testing.T, listen string, args ...string) *hostAgent {
	t.Helper()
	needBinaries(t)
	dir := t.TempDir()
	a := &hostAgent{stateDir: filepath.Join(dir, "state"), args: args, logPath: filepath.Join(dir, "agent.log")}
	a.launch(t, listen)
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			t.Logf("agent log:\n%s", b)
		}
	})
	return a
}

const agentReady = "listening on "

func (a *hostAgent) launch(t *testing.T, listen string) {
	t.Helper()
	args := append([]string{"host", "--listen", listen, "--state-dir", a.stateDir}, a.args...)
	logFile, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(vireoBin, args...)
	a.cmd.Env = append(os.Environ(), "VIREO_HOST_PASSWORD="+agentPassword)
	a.cmd.Stderr = logFile
	pr, pw := io.Pipe()
	a.cmd.Stdout = pw
	a.exited = make(chan struct{})
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := a.exited
	go func() {
		_ = a.cmd.Wait()
		pw.Close()
		logFile.Close()
		close(exited)
	}()
	addrs := make(chan string, 1)
	go func() {
		var buf bytes.Buffer
		b := make([]byte, 4096)
		for {
			n, err := pr.Read(b)
			buf.Write(b[:n])
			logFile.Write(b[:n])
			if _, rest, ok := strings.Cut(buf.String(), agentReady); ok {
				if line, _, ok := strings.Cut(rest, "\n"); ok {
					select {
					case addrs <- strings.TrimSpace(line):
					default:
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case a.Addr = <-addrs:
	case <-exited:
		b, _ := os.ReadFile(a.logPath)
		t.Fatalf("vireo host exited before listening:\n%s", b)
	case <-time.After(time.Minute):
		t.Fatal("vireo host did not start listening within a minute")
	}
}

func (a *hostAgent) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

func (a *hostAgent) kill(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.exited
}

// restart starts the agent again on the same address and state directory.
func (a *hostAgent) restart(t *testing.T) {
	t.Helper()
	a.launch(t, a.Addr)
}

// waitFor polls fn every 250 ms until it returns "" or the deadline
// passes; it fails t with fn's last answer.
func waitFor(t *testing.T, what string, d time.Duration, fn func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := fn()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, d, msg)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitProp waits until property prop of the object at path reads want.
func (s *server) waitProp(t *testing.T, what string, d time.Duration, path, prop, want string) {
	t.Helper()
	waitFor(t, what, d, func() string {
		if got := s.collect(t, path, prop); got != want {
			return prop + " " + got
		}
		return ""
	})
}

// collect returns one property of an object through govc.
func (s *server) collect(t *testing.T, path, prop string) string {
	t.Helper()
	return strings.TrimSpace(s.govc(t, "collect", "-s", path, prop))
}

func TestHostAgents(t *testing.T) {
	srv := startServer(t, serverConfig{args: []string{"--host-timeout", "4s"}})
	shared, local := t.TempDir(), t.TempDir()
	agent := startAgent(t, "127.0.0.1:0", "--backend", "sim", "--name", "esx-a",
		"--datastore", "local-a="+local, "--datastore", "shared="+shared+",shared", "--heartbeat", "500ms")

	srv.govc(t, "datacenter.create", demoDC)
	srv.govc(t, "cluster.create", "-dc", demoDC, "C1")
	cluster := "/" + demoDC + "/host/C1"
	hostPath := cluster + "/" + agent.Addr

	// An unknown certificate is refused with its thumbprint; a wrong
	// password and an unreachable address get their faults.
	errOut := srv.govcFail(t, "cluster.add", "-cluster", cluster, "-hostname", agent.Addr, "-username", "root", "-password", agentPassword)
	mustMatch(t, "add without -noverify", errOut, `(?i)SSL certificate.*thumbprint=([0-9A-F]{2}:){19}[0-9A-F]{2}`)
	errOut = srv.govcFail(t, "cluster.add", "-cluster", cluster, "-hostname", agent.Addr, "-username", "root", "-password", "wrong", "-noverify")
	mustMatch(t, "add with a wrong password", errOut, `incorrect user name or password`)
	errOut = srv.govcFail(t, "cluster.add", "-cluster", cluster, "-hostname", "127.0.0.1:1", "-username", "root", "-password", agentPassword, "-thumbprint", "AA:BB")
	mustMatch(t, "add an unreachable host", errOut, `Cannot contact the specified host`)
	if out := srv.govc(t, "ls", cluster); strings.Contains(out, "127.0.0.1") {
		t.Fatalf("a failed add left a host behind:\n%s", out)
	}

	errOut = srv.govcFail(t, "cluster.add", "-cluster", cluster, "-hostname", agent.Addr, "-username", "root", "-password", agentPassword,
		"-thumbprint", "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33")
	mustMatch(t, "add with a mismatched thumbprint", errOut, `(?i)SSL certificate.*thumbprint=`)

	srv.govc(t, "cluster.add", "-cluster", cluster, "-hostname", agent.Addr, "-username", "root", "-password", agentPassword, "-noverify")
	if got := srv.collect(t, hostPath, "runtime.connectionState"); got != "connected" {
		t.Fatalf("connection state after add = %q", got)
	}
	errOut = srv.govcFail(t, "host.add", "-hostname", agent.Addr, "-username", "root", "-password", agentPassword, "-noverify")
	mustMatch(t, "add a managed host again", errOut, `already managed by this server`)
	mustContainLine(t, "datastores", srv.govc(t, "ls", "/"+demoDC+"/datastore"), "/"+demoDC+"/datastore/shared")
	// The host is described by its agent's facts.
	if got := srv.collect(t, hostPath, "summary.hardware.vendor"); got != "Vireo" {
		t.Fatalf("host vendor = %q, want the sim backend's %q", got, "Vireo")
	}

	// A VM on the agent's host: its disk lands in the agent's directory.
	srv.govc(t, "vm.create", "-host", hostPath, "-pool", cluster+"/Resources", "-ds", "shared", "-disk", "1MB", "-on=false", "web")
	if _, err := os.Stat(filepath.Join(shared, "web", "web.vmdk")); err != nil {
		t.Fatalf("the VM's disk is not on the agent's datastore: %v", err)
	}
	srv.govc(t, "vm.change", "-vm", "web", "-e", "vireo.workload=steady:40")
	errOut = srv.govcFail(t, "vm.change", "-vm", "web", "-e", "vireo.workload=sometimes")
	mustMatch(t, "an unknown workload profile", errOut, `workload profile "sometimes"`)
	srv.govc(t, "vm.power", "-on", "web")
	vmPath := "/" + demoDC + "/vm/web"

	// A datastore directory vanishes: the datastore turns inaccessible and a
	// VM cannot be created on it; nothing is left behind.
	if err := os.RemoveAll(local); err != nil {
		t.Fatal(err)
	}
	localPath := "/" + demoDC + "/datastore/local-a"
	srv.waitProp(t, "datastore inaccessible", 15*time.Second, localPath, "summary.accessible", "false")
	errOut = srv.govcFail(t, "vm.create", "-host", hostPath, "-pool", cluster+"/Resources", "-ds", "local-a", "-on=false", "lost")
	mustMatch(t, "create on a vanished datastore", errOut, `datastore 'local-a' is not accessible`)
	if out := srv.govc(t, "find", "/", "-type", "m", "-name", "lost"); strings.TrimSpace(out) != "" {
		t.Fatalf("a failed create left a VM behind: %s", out)
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	srv.waitProp(t, "datastore accessible again", 15*time.Second, localPath, "summary.accessible", "true")

	// A second VM the host will lose while its agent is down.
	srv.govc(t, "vm.create", "-host", hostPath, "-pool", cluster+"/Resources", "-ds", "shared", "-on=false", "lost-on-host")
	lostID := srv.collect(t, "/"+demoDC+"/vm/lost-on-host", "config.instanceUuid")

	// The agent dies: the host stops responding and the event is logged.
	agent.kill(t)
	srv.waitProp(t, "host not responding", 30*time.Second, hostPath, "runtime.connectionState", "notResponding")
	mustMatch(t, "events", srv.govc(t, "events", hostPath), `is not responding`)
	if got := srv.collect(t, vmPath, "runtime.connectionState"); got != "disconnected" {
		t.Fatalf("VM connection state on a silent host = %q, want disconnected", got)
	}
	srv.govcFail(t, "vm.power", "-off", "web")

	// It comes back without the second VM: connected, the first VM still
	// runs, the second is orphaned (never silently dropped).
	if err := os.Remove(filepath.Join(agent.stateDir, "vms", lostID+".json")); err != nil {
		t.Fatalf("remove the lost VM's state on the host: %v", err)
	}
	agent.restart(t)
	waitFor(t, "host connected again", 30*time.Second, func() string {
		if got := srv.collect(t, hostPath, "runtime.connectionState"); got != "connected" {
			return "state " + got
		}
		if got := srv.collect(t, vmPath, "runtime.connectionState"); got != "connected" {
			return "VM state " + got
		}
		return ""
	})
	if got := srv.collect(t, vmPath, "runtime.powerState"); got != "poweredOn" {
		t.Fatalf("VM power state after the agent restart = %q", got)
	}
	srv.waitProp(t, "lost VM orphaned", 15*time.Second, "/"+demoDC+"/vm/lost-on-host", "runtime.connectionState", "orphaned")

	// The server restarts while the VM runs: it is still running, and the
	// host reconnects on its own.
	srv.stop()
	srv2 := startServer(t, serverConfig{dataDir: srv.DataDir, args: []string{"--host-timeout", "4s"}})
	srv2.waitProp(t, "host connected after a server restart", 30*time.Second, hostPath, "runtime.connectionState", "connected")
	if got := srv2.collect(t, vmPath, "runtime.powerState"); got != "poweredOn" {
		t.Fatalf("VM power state after the server restart = %q", got)
	}
	// The agent's first message after the reconnect carries a performance
	// sample: the VM's steady:40 profile is 40% (±2) of one 2600 MHz vCPU.
	waitFor(t, "VM usage from the host's sample", 15*time.Second, func() string {
		got := srv2.collect(t, vmPath, "summary.quickStats.overallCpuUsage")
		if mhz, err := strconv.Atoi(got); err != nil || mhz < 988 || mhz > 1092 {
			return "overallCpuUsage " + got
		}
		return ""
	})
	srv2.govc(t, "vm.power", "-off", "web")

	// Disconnect and reconnect by hand.
	srv2.govc(t, "host.disconnect", hostPath)
	if got := srv2.collect(t, hostPath, "runtime.connectionState"); got != "disconnected" {
		t.Fatalf("state after disconnect = %q", got)
	}
	srv2.govc(t, "host.reconnect", hostPath)
	if got := srv2.collect(t, hostPath, "runtime.connectionState"); got != "connected" {
		t.Fatalf("state after reconnect = %q", got)
	}
	srv2.govc(t, "vm.power", "-on", "web")
	if got := srv2.collect(t, vmPath, "runtime.powerState"); got != "poweredOn" {
		t.Fatalf("power on after reconnect: %q", got)
	}

	// Removing the host (in maintenance mode, which a running VM refuses)
	// forgets its agent: the same agent can be added again.
	srv2.govcFail(t, "host.maintenance.enter", hostPath)
	srv2.govc(t, "vm.power", "-off", "web")
	srv2.govc(t, "host.maintenance.enter", hostPath)
	srv2.govc(t, "host.remove", hostPath)
	if out := srv2.govc(t, "ls", cluster); strings.Contains(out, agent.Addr) {
		t.Fatalf("the removed host is still listed:\n%s", out)
	}
	srv2.govc(t, "cluster.add", "-cluster", cluster, "-hostname", agent.Addr, "-username", "root", "-password", agentPassword, "-noverify")
	if got := srv2.collect(t, hostPath, "runtime.connectionState"); got != "connected" {
		t.Fatalf("state after adding the host again = %q", got)
	}
}
