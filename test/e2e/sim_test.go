//go:build unix

package e2e

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSimDropIn starts `vireo sim` the way govc's own test suite starts
// vcsim (a fifo for -E), reads the announced GOVC_URL, browses the
// vcsim-shaped inventory with govc and stops the server with SIGTERM.
func TestSimDropIn(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "env")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "sim.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(vireoBin, "sim", "-l", "127.0.0.1:0", "-E", fifo)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("vireo sim output:\n%s", b)
		}
	})

	// Opening the fifo blocks until the server opens it to announce itself.
	lines := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			lines <- ""
			return
		}
		defer f.Close()
		line, _ := bufio.NewReader(f).ReadString('\n')
		lines <- line
	}()
	var line string
	select {
	case line = <-lines:
	case <-exited:
		t.Fatalf("vireo sim exited before announcing itself: %v", waitErr)
	case <-time.After(2 * time.Minute):
		t.Fatal("vireo sim announced nothing on -E within 2 minutes")
	}
	env := map[string]string{}
	for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "export ")) {
		if k, v, ok := strings.Cut(f, "="); ok {
			env[k] = v
		}
	}
	if !strings.HasPrefix(env["GOVC_URL"], "https://") || !strings.HasSuffix(env["GOVC_URL"], "/sdk") || env["GOVC_SIM_PID"] == "" {
		t.Fatalf("-E line %q, want export GOVC_URL=https://user:pass@host:port/sdk GOVC_SIM_PID=N", line)
	}

	govc := exec.Command(govcBin, "ls", "/DC0/vm", "/DC0/host/DC0_C0")
	govc.Env = append(os.Environ(), "GOVC_URL="+env["GOVC_URL"], "GOVC_INSECURE=1", "GOVMOMI_HOME="+filepath.Join(dir, "govmomi"))
	out, err := govc.CombinedOutput()
	if err != nil {
		t.Fatalf("govc ls: %v\n%s", err, out)
	}
	for _, want := range []string{"/DC0/vm/DC0_H0_VM0", "/DC0/vm/DC0_C0_RP0_VM0", "/DC0/host/DC0_C0/DC0_C0_H0", "/DC0/host/DC0_C0/Resources"} {
		mustContainLine(t, "govc ls", string(out), want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		var exit *exec.ExitError
		if waitErr != nil && !errors.As(waitErr, &exit) {
			t.Errorf("vireo sim after SIGTERM: %v", waitErr)
		}
	case <-time.After(time.Minute):
		t.Error("vireo sim did not exit within a minute of SIGTERM")
	}
}
