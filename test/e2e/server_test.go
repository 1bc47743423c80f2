package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/vim25/soap"
)

// Credentials every test server is started with.
const (
	adminUser     = "administrator@vsphere.local"
	adminPassword = "e2e-Secret!"
)

// readyLine is what `vireo serve` prints once it accepts connections.
const readyLine = "serving the vSphere API at "

// Names in the demo inventory (`vireo serve --demo`).
const (
	demoDC        = "Datacenter"
	demoCluster   = "/Datacenter/host/Cluster"
	demoPool      = "/Datacenter/host/Cluster/Resources"
	demoHost      = "esx-01.vireo.local"
	demoLocalDS   = "esx-01-local"
	demoSharedDS  = "shared-ds"
	demoNetwork   = "VM Network"
	demoHostCount = 3
)

// server is a `vireo serve` child process.
type server struct {
	// URL is the SDK URL it printed (https://127.0.0.1:PORT/sdk).
	URL     string
	DataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been waited for
	// govmomiHome keeps govc's session cache and debug files out of $HOME.
	govmomiHome string
}

// serverConfig says how to start a server.
type serverConfig struct {
	demo    bool
	dataDir string // "" makes a new one
	args    []string
}

// startServer starts `vireo serve` on a free loopback port and waits until it
// serves. The server is stopped when t ends.
func startServer(t testing.TB, cfg serverConfig) *server {
	t.Helper()
	needBinaries(t)
	s, err := launch(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop()
		if r := s.raceReport(); r != "" {
			t.Errorf("the server reported a data race:\n%s", r)
		}
		if t.Failed() {
			s.dumpLog(t)
		}
	})
	return s
}

// launch starts a server with its log and scratch files under dir.
func launch(cfg serverConfig, dir string) (*server, error) {
	s := &server{DataDir: cfg.dataDir, logPath: filepath.Join(dir, "vireo.log"), exited: make(chan struct{}),
		govmomiHome: filepath.Join(dir, "govmomi")}
	if s.DataDir == "" {
		s.DataDir = filepath.Join(dir, "data")
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", s.DataDir}
	if cfg.demo {
		args = append(args, "--demo")
	}
	args = append(args, cfg.args...)
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(vireoBin, args...)
	s.cmd.Env = append(os.Environ(), "VIREO_ADMIN_PASSWORD="+adminPassword)
	s.cmd.Stderr = logFile
	urls := make(chan string, 1)
	s.cmd.Stdout = &readyWriter{w: logFile, urls: urls}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start vireo: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	select {
	case s.URL = <-urls:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("vireo serve exited before serving (%v):\n%s", s.cmd.ProcessState, s.logTail(60))
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("vireo serve did not print %q within 2 minutes:\n%s", readyLine, s.logTail(60))
	}
}

// readyWriter copies the server's stdout to w and sends the URL of the
// ready line to urls.
type readyWriter struct {
	w    io.Writer
	urls chan<- string
	line []byte
}

func (r *readyWriter) Write(p []byte) (int, error) {
	r.line = append(r.line, p...)
	for {
		i := bytes.IndexByte(r.line, '\n')
		if i < 0 {
			break
		}
		if _, u, ok := strings.Cut(string(r.line[:i]), readyLine); ok {
			select {
			case r.urls <- strings.TrimSpace(u):
			default:
			}
		}
		r.line = r.line[i+1:]
	}
	return r.w.Write(p)
}

// stop ends the server with SIGTERM, then SIGKILL if it lingers.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *server) kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill vireo: %v", err)
	}
	<-s.exited
}

// running reports whether the process is still alive.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// raceReport returns the first data race report in the server's log (when
// it was built with VIREO_E2E_RACE=1), or "".
func (s *server) raceReport() string {
	b, _ := os.ReadFile(s.logPath)
	_, report, found := strings.Cut(string(b), "WARNING: DATA RACE")
	if !found {
		return ""
	}
	if end := strings.Index(report, "=================="); end >= 0 {
		report = report[:end]
	}
	return "WARNING: DATA RACE" + report
}

func (s *server) dumpLog(t testing.TB) {
	t.Logf("server log (%s), last lines:\n%s", s.logPath, s.logTail(40))
}

// logOnFailure prints the server's log tail if t fails; for tests that use a
// server they did not start.
func (s *server) logOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLog(t)
		}
	})
}

// client returns a govmomi client logged in as the administrator, logged out
// when t ends.
func (s *server) client(t testing.TB) *govmomi.Client {
	t.Helper()
	c, err := s.login(adminUser, adminPassword)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Logout(ctx)
	})
	return c
}

func (s *server) login(user, password string) (*govmomi.Client, error) {
	u, err := soap.ParseURL(s.URL)
	if err != nil {
		return nil, err
	}
	u.User = url.UserPassword(user, password)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return govmomi.NewClient(ctx, u, true)
}

// govcTimeout bounds one govc invocation.
const govcTimeout = 2 * time.Minute

// govcCmd returns a govc command against s with the administrator's
// credentials and the demo datacenter as default.
func (s *server) govcCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, govcBin, args...)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOVC_") && !strings.HasPrefix(kv, "GOVMOMI_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"GOVC_URL="+s.URL,
		"GOVC_USERNAME="+adminUser,
		"GOVC_PASSWORD="+adminPassword,
		"GOVC_INSECURE=1",
		"GOVC_DATACENTER="+demoDC,
		"GOVMOMI_HOME="+s.govmomiHome,
	)
	return cmd
}

// govcRun runs govc and returns its stdout, stderr and error.
func (s *server) govcRun(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), govcTimeout)
	defer cancel()
	cmd := s.govcCmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// govc runs govc and fails t unless it succeeds; it returns stdout.
func (s *server) govc(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := s.govcRun(args...)
	if err != nil {
		t.Fatalf("govc %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// govcFail runs govc, fails t if it succeeds, and returns its stderr.
func (s *server) govcFail(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := s.govcRun(args...)
	if err == nil {
		t.Fatalf("govc %s succeeded, want an error; stdout: %s", strings.Join(args, " "), out)
	}
	return errOut
}

// shared is the demo server that tests without special needs share.
var shared struct {
	once sync.Once
	srv  *server
	err  error
	dir  string
}

// demoServer returns the shared demo server, starting it on first use.
// Tests using it must not depend on inventory state other tests change:
// they create objects with names of their own.
func demoServer(t testing.TB) *server {
	t.Helper()
	needBinaries(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp(workDir, "shared-")
		if shared.err == nil {
			shared.srv, shared.err = launch(serverConfig{demo: true}, shared.dir)
		}
	})
	if shared.err != nil {
		t.Fatalf("shared demo server: %v", shared.err)
	}
	if !shared.srv.running() {
		t.Fatalf("shared demo server has exited:\n%s", shared.srv.logTail(40))
	}
	shared.srv.logOnFailure(t)
	return shared.srv
}

// stopShared stops the shared demo server and returns its data race
// report, if any.
func stopShared() string {
	if shared.srv == nil {
		return ""
	}
	shared.srv.stop()
	return shared.srv.raceReport()
}
