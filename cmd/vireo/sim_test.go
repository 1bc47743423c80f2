package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/model"
)

func TestEnvLine(t *testing.T) {
	tests := []struct {
		name string
		url  url.URL
		want string
	}{
		{"tls", url.URL{Scheme: "https", Host: "127.0.0.1:8989", Path: "/sdk", User: url.UserPassword("user", "pass")},
			"export GOVC_URL=https://user:pass@127.0.0.1:8989/sdk GOVC_SIM_PID=42\n"},
		{"plain http", url.URL{Scheme: "http", Host: "127.0.0.1:1234", Path: "/sdk", User: url.UserPassword("user", "pass")},
			"export GOVC_URL=http://user:pass@127.0.0.1:1234/sdk GOVC_SIM_PID=42\n"},
		{"escaped password", url.URL{Scheme: "https", Host: "127.0.0.1:1", Path: "/sdk", User: url.UserPassword("me", "p@ss")},
			"export GOVC_URL=https://me:p%40ss@127.0.0.1:1/sdk GOVC_SIM_PID=42\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := envLine(&tc.url, 42); got != tc.want {
				t.Errorf("envLine = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAnnounce(t *testing.T) {
	const line = "export GOVC_URL=https://user:pass@127.0.0.1:1/sdk GOVC_SIM_PID=1\n"
	t.Run("regular file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "env")
		if err := os.WriteFile(p, []byte("an older, longer line that must not survive\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := announce(p, line); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != line {
			t.Errorf("file holds %q, want %q", b, line)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		got := make(chan string, 1)
		go func() {
			b, err := os.ReadFile(p)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(b)
		}()
		if err := announce(p, line); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != line {
			t.Errorf("fifo reader got %q, want %q", s, line)
		}
	})
}

func TestSimFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want func(*simFlags)
	}{
		{"vcsim defaults", nil, func(f *simFlags) {}},
		{"model flags", []string{"-dc", "2", "-cluster", "3", "-host", "4", "-standalone-host", "0", "-vm", "5", "-pool", "1",
			"-ds", "2", "-pg", "0", "-folder", "1", "-autostart=false"}, func(f *simFlags) {
			f.model.Datacenter, f.model.Cluster, f.model.ClusterHost, f.model.Host, f.model.Machine = 2, 3, 4, 0, 5
			f.model.Pool, f.model.Datastore, f.model.Portgroup, f.model.Folder, f.model.Autostart = 1, 2, 0, 1, false
		}},
		{"server flags", []string{"-l", "127.0.0.1:0", "-E", "/tmp/x", "-tls=false", "-username", "u", "-password", "p", "-esx"}, func(f *simFlags) {
			f.listen, f.env, f.tls, f.username, f.password, f.esx = "127.0.0.1:0", "/tmp/x", false, "u", "p", true
		}},
		{"double dash", []string{"--vm", "7", "--data-dir", "/d"}, func(f *simFlags) { f.model.Machine, f.dataDir = 7, "/d" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got simFlags
			if err := newSimFlagSet(&got).Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			want := simFlags{model: model.VPX(), listen: "127.0.0.1:8989", env: "-", tls: true, apiVersion: "6.5", tunnel: -1}
			tc.want(&want)
			if got != want {
				t.Errorf("parsed\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestSimLogin(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ user, pass, want string }{
		{"", "", "user:pass"},
		{"", "ignored", "user:pass"},
		{"alice", "s3cret", "alice:s3cret"},
		{"alice", secret, "alice:from-file"},
	}
	for _, tc := range tests {
		u, err := simLogin(tc.user, tc.pass)
		if err != nil {
			t.Fatal(err)
		}
		if u.String() != tc.want {
			t.Errorf("simLogin(%q, %q) = %q, want %q", tc.user, tc.pass, u.String(), tc.want)
		}
	}
}

// startSim runs `vireo sim` in process with args as a test harness does:
// it waits for the line on a fifo given as -E and returns the URL in it and
// a function that stops the server and returns serveSim's error.
func startSim(t *testing.T, args ...string) (*url.URL, func() error) {
	t.Helper()
	env := filepath.Join(t.TempDir(), "env")
	if err := syscall.Mkfifo(env, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	var f simFlags
	if err := newSimFlagSet(&f).Parse(append([]string{"-l", "127.0.0.1:0", "-E", env}, args...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveSim(ctx, &f) }()
	lines := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(env) // blocks until the server writes and closes
		lines <- string(b)
	}()
	var line string
	select {
	case line = <-lines:
	case err := <-done:
		cancel()
		t.Fatalf("serveSim ended before announcing the server: %v", err)
	}
	stop := func() error {
		cancel()
		return <-done
	}
	m := regexp.MustCompile(`^export GOVC_URL=(\S+) GOVC_SIM_PID=(\d+)\n$`).FindStringSubmatch(line)
	if m == nil {
		stop()
		t.Fatalf("-E got %q, want vcsim's export line", line)
	}
	if m[2] != strconv.Itoa(os.Getpid()) {
		t.Errorf("GOVC_SIM_PID=%s, want %d", m[2], os.Getpid())
	}
	u, err := soap.ParseURL(m[1])
	if err != nil {
		stop()
		t.Fatal(err)
	}
	return u, stop
}

// TestServeSim logs in with the credentials of the -E line, finds vcsim's
// objects, and stops the server, which removes its temporary directory.
func TestServeSim(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	u, stop := startSim(t, "-standalone-host", "0", "-host", "1", "-vm", "1")
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		stop()
		t.Fatalf("login with %s: %v", u, err)
	}
	vm, err := find.NewFinder(c.Client).VirtualMachine(ctx, "/DC0/vm/DC0_C0_RP0_VM0")
	if err != nil {
		t.Error(err)
	} else if state, err := vm.PowerState(ctx); err != nil || state != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("DC0_C0_RP0_VM0 is %s (%v), want poweredOn", state, err)
	}
	bad := *u
	bad.User = url.UserPassword("user", "")
	if _, err := govmomi.NewClient(ctx, &bad, true); err == nil {
		t.Error("login with an empty password succeeded; vcsim refuses it")
	}
	if err := stop(); err != nil {
		t.Errorf("serveSim: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary directory not removed: %v", left)
	}
}

// TestServeSimDataDir builds a model into -data-dir once; the second start
// serves it as it is, changes included, and ignores the model flags.
func TestServeSimDataDir(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	u, stop := startSim(t, "-data-dir", dir, "-standalone-host", "0", "-host", "1", "-vm", "1")
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	vm, err := find.NewFinder(c.Client).VirtualMachine(ctx, "/DC0/vm/DC0_C0_RP0_VM0")
	if err == nil {
		var task *object.Task
		if task, err = vm.Rename(ctx, "renamed"); err == nil {
			err = task.Wait(ctx)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("serveSim: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}

	u, stop = startSim(t, "-data-dir", dir, "-vm", "5")
	defer stop()
	if c, err = govmomi.NewClient(ctx, u, true); err != nil {
		t.Fatal(err)
	}
	vms, err := find.NewFinder(c.Client).VirtualMachineList(ctx, "/DC0/vm/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 1 || vms[0].Name() != "renamed" {
		t.Errorf("reloaded VMs %v, want the one renamed VM", vms)
	}
}
