package hostconn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/agent"
	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/driver/sim"
	"github.com/vireo-project/vireo/internal/hostconn"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/store/sqlite"
)

// recorder is an Observer that keeps what it hears.
type recorder struct {
	mu      sync.Mutex
	states  []types.HostSystemConnectionState
	reports int
	changed chan struct{}
}

func (r *recorder) HostConnection(_ context.Context, _ types.ManagedObjectReference, s types.HostSystemConnectionState) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) HostReport(context.Context, types.ManagedObjectReference, agentproto.Message) {
	r.mu.Lock()
	r.reports++
	r.mu.Unlock()
}

func (r *recorder) wait(t *testing.T, want types.HostSystemConnectionState) {
	t.Helper()
	select {
	case <-r.changed:
	case <-time.After(30 * time.Second):
		t.Fatalf("no connection change to %s", want)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := r.states[len(r.states)-1]; got != want {
		t.Fatalf("connection state = %s, want %s", got, want)
	}
}

// pausable serves an agent, or answers nothing while paused.
type pausable struct {
	h      http.Handler
	paused atomic.Bool
}

func (p *pausable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.paused.Load() {
		http.Error(w, "paused", http.StatusServiceUnavailable)
		return
	}
	p.h.ServeHTTP(w, r)
}

func TestManagerFollowsHeartbeats(t *testing.T) {
	ctx := context.Background()
	d, err := sim.New(sim.Config{Name: "h", Datastores: map[string]string{"ds": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Driver: d, Password: "pw", HeartbeatInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := &pausable{h: a}
	srv := httptest.NewTLSServer(p)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	thumb := agentproto.Thumbprint(srv.Certificate().Raw)

	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := inventory.New(st)
	if err := reg.Load(ctx); err != nil {
		t.Fatal(err)
	}
	m := hostconn.New(hostconn.Config{Registry: reg, Timeout: 300 * time.Millisecond, Retry: 50 * time.Millisecond})
	defer m.Close()
	rec := &recorder{changed: make(chan struct{}, 16)}
	m.SetObserver(rec)

	if _, _, err := m.Dial(ctx, addr, "", "root", "pw"); err == nil {
		t.Fatal("dial without the thumbprint succeeded")
	}
	c, res, err := m.Dial(ctx, addr, thumb, "root", "pw")
	if err != nil {
		t.Fatal(err)
	}
	host := types.ManagedObjectReference{Type: "HostSystem", Value: "host-1"}
	m.Attach(host, c, hostconn.Record{Address: addr, Thumbprint: thumb, Token: res.Token})
	if _, ok := m.Driver(host); !ok {
		t.Fatal("no driver for an attached host")
	}

	p.paused.Store(true)
	rec.wait(t, types.HostSystemConnectionStateNotResponding)
	if _, ok := m.Driver(host); ok {
		t.Fatal("a silent host still hands out its driver")
	}
	p.paused.Store(false)
	rec.wait(t, types.HostSystemConnectionStateConnected)
	if _, ok := m.Driver(host); !ok {
		t.Fatal("no driver once the host answers again")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec.mu.Lock()
		reports := rec.reports
		rec.mu.Unlock()
		if reports > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reports from a connected host")
		}
	}

	// Disconnect is stored; a new manager on the same store keeps the host
	// disconnected, and Reconnect brings it back with the stored token.
	if err := m.Disconnect(ctx, host); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Driver(host); ok {
		t.Fatal("a disconnected host hands out its driver")
	}
	if _, err := m.Reconnect(ctx, host, "", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Driver(host); !ok {
		t.Fatal("no driver after reconnect")
	}
	if err := m.Remove(ctx, host); err != nil {
		t.Fatal(err)
	}
	if m.Known(host) {
		t.Fatal("a removed host is still known")
	}
}
