package agent_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vireo-project/vireo/internal/agent"
	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/driver/sim"
)

type fixture struct {
	srv   *httptest.Server
	thumb string
	ds    string
	state string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ds: t.TempDir(), state: t.TempDir()}
	d, err := sim.New(sim.Config{Name: "esx-test", StateDir: filepath.Join(f.state, "vms"),
		Datastores: map[string]string{"ds1": f.ds}, Networks: []string{"VM Network"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Driver: d, Password: "secret", StateDir: f.state, HeartbeatInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewTLSServer(a)
	t.Cleanup(f.srv.Close)
	f.thumb = agentproto.Thumbprint(f.srv.Certificate().Raw)
	return f
}

func (f *fixture) client(thumb string) *agentproto.Client {
	return agentproto.NewClient(strings.TrimPrefix(f.srv.URL, "https://"), agentproto.DialOptions{Thumbprint: thumb, Transport: f.srv.Client().Transport})
}

func (f *fixture) tlsClient(thumb string) *agentproto.Client {
	return agentproto.NewClient(strings.TrimPrefix(f.srv.URL, "https://"), agentproto.DialOptions{Thumbprint: thumb})
}

func TestLoginChecksThumbprintAndPassword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	_, err := f.tlsClient("").Login(ctx, agentproto.LoginRequest{User: "root", Password: "secret"})
	var te *agentproto.ThumbprintError
	if !errors.As(err, &te) || te.Actual != f.thumb {
		t.Fatalf("login without a thumbprint: err = %v, want a ThumbprintError naming %s", err, f.thumb)
	}
	_, err = f.tlsClient("AA:BB").Login(ctx, agentproto.LoginRequest{User: "root", Password: "secret"})
	if !errors.As(err, &te) || te.Expected != "AA:BB" {
		t.Fatalf("login with a wrong thumbprint: err = %v", err)
	}
	_, err = f.tlsClient(f.thumb).Login(ctx, agentproto.LoginRequest{User: "root", Password: "wrong"})
	if !errors.Is(err, agentproto.ErrNotAuthenticated) {
		t.Fatalf("login with a wrong password: err = %v, want ErrNotAuthenticated", err)
	}
	c := f.tlsClient(strings.ToLower(f.thumb))
	res, err := c.Login(ctx, agentproto.LoginRequest{User: "root", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Host.Name != "esx-test" || len(res.Host.Datastores) != 1 || res.Token == "" {
		t.Fatalf("login answer = %+v", res)
	}

	// The token works for a new client, and for a new agent on the same
	// state directory (an agent restart).
	c2 := f.tlsClient(f.thumb)
	if _, err := c2.Login(ctx, agentproto.LoginRequest{Token: res.Token}); err != nil {
		t.Fatalf("login with the token: %v", err)
	}
	d, _ := sim.New(sim.Config{Name: "esx-test", Datastores: map[string]string{"ds1": f.ds}})
	a2, err := agent.New(agent.Config{Driver: d, StateDir: f.state})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewTLSServer(a2)
	defer srv2.Close()
	c3 := agentproto.NewClient(strings.TrimPrefix(srv2.URL, "https://"), agentproto.DialOptions{Transport: srv2.Client().Transport})
	if _, err := c3.Login(ctx, agentproto.LoginRequest{Token: res.Token}); err != nil {
		t.Fatalf("login with the token after a restart: %v", err)
	}
	if _, err := c3.Login(ctx, agentproto.LoginRequest{Token: "forged"}); !errors.Is(err, agentproto.ErrNotAuthenticated) {
		t.Fatalf("login with a forged token: err = %v", err)
	}
	// Calls without a login are refused.
	if _, err := f.client("").List(ctx); !errors.Is(err, agentproto.ErrNotAuthenticated) {
		t.Fatalf("list without login: err = %v", err)
	}
}

func loggedIn(t *testing.T, f *fixture) *agentproto.Client {
	t.Helper()
	c := f.client("")
	if _, err := c.Login(context.Background(), agentproto.LoginRequest{User: "root", Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommandsApplyOncePerOperationID(t *testing.T) {
	f := newFixture(t)
	c := loggedIn(t, f)
	ctx := context.Background()
	spec := driver.VMSpec{ID: "vm-a", Name: "a", Dir: "[ds1] a", NumCPU: 1, MemoryMB: 64,
		Disks: []driver.Disk{{Path: "[ds1] a/a.vmdk", CapacityBytes: 1 << 20, Thin: true}}}
	if err := c.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.ds, "a", "a.vmdk")); err != nil {
		t.Fatalf("disk not created on the datastore: %v", err)
	}
	if err := c.Create(ctx, spec); !errors.Is(err, driver.ErrVMExists) {
		t.Fatalf("second create: err = %v, want ErrVMExists", err)
	}
	on := agentproto.Command{OpID: "op-1", Op: agentproto.OpPowerOn, VM: "vm-a"}
	for i := 0; i < 2; i++ { // the retry gets the first answer
		if _, err := c.Do(ctx, on); err != nil {
			t.Fatalf("power on, attempt %d: %v", i+1, err)
		}
	}
	on.OpID = "op-2" // a new operation is applied, and refused
	_, err := c.Do(ctx, on)
	var pse *driver.PowerStateError
	if !errors.As(err, &pse) || pse.Current != driver.PoweredOn {
		t.Fatalf("power on a running VM: err = %v, want a PowerStateError from poweredOn", err)
	}
	st, err := c.State(ctx, "vm-a")
	if err != nil || st.PowerState != driver.PoweredOn {
		t.Fatalf("state = %+v, %v", st, err)
	}
	if _, err := c.State(ctx, "nope"); !errors.Is(err, driver.ErrVMNotFound) {
		t.Fatalf("state of an unknown VM: err = %v", err)
	}
	if _, err := c.Do(ctx, agentproto.Command{OpID: "x", Op: "explode"}); err == nil {
		t.Fatal("an unknown operation succeeded")
	}
}

func TestStreamSendsHelloThenHeartbeats(t *testing.T) {
	f := newFixture(t)
	c := loggedIn(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Create(ctx, driver.VMSpec{ID: "vm-b", Name: "b", Dir: "[ds1] b", NumCPU: 1, MemoryMB: 64}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var lastSample time.Time
	for i, want := range []string{agentproto.MessageHello, agentproto.MessageHeartbeat, agentproto.MessageHeartbeat} {
		m, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != want || m.Seq != uint64(i+1) || len(m.VMs) != 1 || m.VMs[0].ID != "vm-b" || m.Host == nil {
			t.Fatalf("message %d = %+v, want %s with vm-b and the host's facts", i+1, m, want)
		}
		// The first message opens a sample period; the next ones, sent
		// 20 ms apart, fall into the same period (unless a boundary
		// happens to pass, which the check allows).
		if i == 0 && (m.Sample == nil || !m.Sample.Time.Equal(m.Time.Truncate(agentproto.SamplePeriod))) {
			t.Fatalf("hello sample = %+v, want one for the period of %s", m.Sample, m.Time)
		}
		if m.Sample != nil {
			if i > 0 && !m.Sample.Time.After(lastSample) {
				t.Fatalf("message %d repeats the sample of %s", i+1, lastSample)
			}
			lastSample = m.Sample.Time
		}
	}
}

func TestFilesRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := loggedIn(t, f)
	ctx := context.Background()
	if err := c.Mkdir(ctx, "[ds1] iso", false); err != nil {
		t.Fatal(err)
	}
	w, err := c.CreateFile(ctx, "[ds1] iso/boot.iso")
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("vireo", 100000)
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := c.OpenFile(ctx, "[ds1] iso/boot.iso")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != data[5:] {
		t.Fatalf("read back %d bytes, err %v; want %d", len(b), err, len(data)-5)
	}
	if _, err := c.Stat(ctx, "[ds1] iso/none"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of a missing file: err = %v", err)
	}
	if _, err := c.ReadDir(ctx, "[nods] x"); !errors.Is(err, driver.ErrDatastoreNotFound) {
		t.Fatalf("unknown datastore: err = %v", err)
	}
	w, _ = c.CreateFile(ctx, "[ds1] missing/dir/file")
	_, _ = io.WriteString(w, "x")
	if err := w.Close(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write into a missing directory: err = %v", err)
	}
}

// TestInProcessTransport drives an agent without a socket, as the server's
// in-process hosts do.
func TestInProcessTransport(t *testing.T) {
	ds := t.TempDir()
	d, err := sim.New(sim.Config{Name: "local", Datastores: map[string]string{"ds1": ds}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Driver: d, Password: "pw", HeartbeatInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := agentproto.NewClient("local", agentproto.DialOptions{Transport: agent.Transport(a)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Login(ctx, agentproto.LoginRequest{User: "root", Password: "nope"}); !errors.Is(err, agentproto.ErrNotAuthenticated) {
		t.Fatalf("bad password: err = %v", err)
	}
	if _, err := c.Login(ctx, agentproto.LoginRequest{User: "root", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, driver.VMSpec{ID: "v", Name: "v", Dir: "[ds1] v", NumCPU: 1, MemoryMB: 32}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if m, err := s.Next(); err != nil || len(m.VMs) != 1 {
			t.Fatalf("message %d: %+v, %v", i, m, err)
		}
	}
	s.Close()
	w, err := c.CreateFile(ctx, "[ds1] v/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "hello")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(ds, "v", "notes.txt"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("file = %q, %v", b, err)
	}
}
