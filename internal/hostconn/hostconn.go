// Package hostconn keeps the server's connections to its host agents: it
// logs in to an agent (internal/agentproto), remembers how to reach it in
// the store, follows its heartbeat stream, and declares the host not
// responding when the stream goes quiet. It hands each host's client to the
// API as the host's driver and reports what hosts say to an Observer.
package hostconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
)

// MetaPrefix prefixes the store settings holding each host's Record.
const MetaPrefix = "hostconn/"

// MetaKey is the store setting of host's Record.
func MetaKey(host types.ManagedObjectReference) string { return MetaPrefix + host.Value }

// Record is what the server keeps to reach a host agent.
type Record struct {
	// Address is the agent's host:port.
	Address string `json:"address"`
	// Thumbprint is the agent certificate's SHA-1 thumbprint the server
	// trusts.
	Thumbprint string `json:"thumbprint"`
	// Token authenticates the server to the agent (the role vCenter's
	// vpxuser account plays on ESX).
	Token string `json:"token"`
	// Disconnected is set while a user has the host disconnected.
	Disconnected bool `json:"disconnected,omitempty"`
	// local marks an in-process host (AttachLocal): never stored, never
	// declared not responding.
	local bool
}

// Encode returns r as stored.
func (r Record) Encode() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Observer receives what connected hosts report. Calls for one host never
// overlap.
type Observer interface {
	// HostConnection is called when a host becomes connected (its first
	// message after a (re)connection) or stops responding.
	HostConnection(ctx context.Context, host types.ManagedObjectReference, state types.HostSystemConnectionState)
	// HostReport is called with every message of a connected host.
	HostReport(ctx context.Context, host types.ManagedObjectReference, msg agentproto.Message)
}

// Config configures a Manager.
type Config struct {
	Registry *inventory.Registry
	Logger   *slog.Logger
	// Timeout is how long a host may stay silent before it is not
	// responding; zero means agentproto.HeartbeatTimeout.
	Timeout time.Duration
	// Retry is the pause between attempts to reopen a broken stream; zero
	// means 2 s.
	Retry time.Duration
}

// Manager holds the connections to every agent-backed host.
type Manager struct {
	cfg Config
	obs Observer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards hosts.
	mu    sync.Mutex
	hosts map[string]*conn
}

// conn is one host's connection.
type conn struct {
	ref    types.ManagedObjectReference
	client *agentproto.Client
	rec    Record
	// responding is false until the host's first message, and while it is
	// not responding; guarded by Manager.mu.
	responding bool
	// stop ends the host's monitor; nil while disconnected.
	stop context.CancelFunc
	done chan struct{}
	// obs serializes the observer calls of the stream and its watchdog.
	obs sync.Mutex
	// stats counts the host's messages; guarded by Manager.mu.
	stats Stats
}

// Stats describe the messages received from one host.
type Stats struct {
	// Messages counts the messages received since the server started.
	Messages uint64
	// LastLag and MaxLag are how late the last message and the latest
	// one ever arrived: receipt time minus the agent's send time (clock
	// skew between machines adds to it).
	LastLag, MaxLag time.Duration
	// LastSeen is when the last message arrived.
	LastSeen time.Time
}

// Stats returns host's message statistics.
func (m *Manager) Stats(host types.ManagedObjectReference) (Stats, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	hc, ok := m.hosts[host.Value]
	if !ok {
		return Stats{}, false
	}
	return hc.stats, true
}

// New returns a Manager. Call SetObserver, then Load, before serving.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = agentproto.HeartbeatTimeout
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, ctx: ctx, cancel: cancel, hosts: map[string]*conn{}}
}

// SetObserver sets who hears the hosts' reports.
func (m *Manager) SetObserver(o Observer) { m.obs = o }

// Load reads the stored records and starts following every host that is
// not disconnected. Hosts answer in the background.
func (m *Manager) Load(ctx context.Context) error {
	recs, err := m.cfg.Registry.MetaPrefix(ctx, MetaPrefix)
	if err != nil {
		return err
	}
	for key, raw := range recs {
		if raw == "" {
			continue
		}
		var rec Record
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return fmt.Errorf("hostconn: record %s: %w", key, err)
		}
		ref := types.ManagedObjectReference{Type: "HostSystem", Value: strings.TrimPrefix(key, MetaPrefix)}
		if m.cfg.Registry.Get(ref) == nil {
			continue // the host was removed; its record is left over
		}
		c := agentproto.NewClient(rec.Address, agentproto.DialOptions{Thumbprint: rec.Thumbprint})
		c.SetToken(rec.Token)
		m.attach(ref, c, rec)
	}
	return nil
}

// Close stops following every host.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// Dial connects to the agent at address, checks its certificate against
// thumbprint and logs in as user. It returns a ThumbprintError (an unknown
// or different certificate), an UnreachableError or ErrNotAuthenticated.
func (m *Manager) Dial(ctx context.Context, address, thumbprint, user, password string) (*agentproto.Client, agentproto.LoginResponse, error) {
	c := agentproto.NewClient(address, agentproto.DialOptions{Thumbprint: thumbprint})
	res, err := c.Login(ctx, agentproto.LoginRequest{User: user, Password: password})
	return c, res, err
}

// Known reports whether host is a remote agent's host (not in process).
func (m *Manager) Known(host types.ManagedObjectReference) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	hc, ok := m.hosts[host.Value]
	return ok && !hc.rec.local
}

// AttachLocal follows an in-process host's agent, whose client speaks the
// protocol without a network: its reports reach the observer as a remote
// host's do. Nothing is stored (the server attaches its in-process hosts
// again at every start) and the host is never declared not responding: it
// cannot fail apart from the server.
func (m *Manager) AttachLocal(host types.ManagedObjectReference, c *agentproto.Client) {
	m.Attach(host, c, Record{local: true})
}

// Record returns host's record.
func (m *Manager) Record(host types.ManagedObjectReference) (Record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.hosts[host.Value]
	if !ok {
		return Record{}, false
	}
	return c.rec, true
}

// Driver returns host's client while the host is connected and responding.
func (m *Manager) Driver(host types.ManagedObjectReference) (driver.Driver, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.hosts[host.Value]
	if !ok || c.rec.Disconnected || !c.responding {
		return nil, false
	}
	return c.client, true
}

// Attach starts following a host whose record the caller stored (with the
// host, in one transaction). The client must be logged in. The host counts
// as responding at once: its login just answered.
func (m *Manager) Attach(host types.ManagedObjectReference, c *agentproto.Client, rec Record) {
	m.attach(host, c, rec)
	m.mu.Lock()
	if hc := m.hosts[host.Value]; hc != nil && hc.client == c {
		hc.responding = true
	}
	m.mu.Unlock()
}

func (m *Manager) attach(host types.ManagedObjectReference, c *agentproto.Client, rec Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.hosts[host.Value]; old != nil && old.stop != nil {
		old.stop()
	}
	hc := &conn{ref: host, client: c, rec: rec}
	m.hosts[host.Value] = hc
	if !rec.Disconnected {
		m.start(hc)
	}
}

// start runs hc's monitor; m.mu is held.
func (m *Manager) start(hc *conn) {
	ctx, stop := context.WithCancel(m.ctx)
	hc.stop, hc.done = stop, make(chan struct{})
	m.wg.Add(1)
	go func() { // owned by m: stop or Close ends it
		defer m.wg.Done()
		defer close(hc.done)
		m.monitor(ctx, hc)
	}()
}

// Disconnect stops following host and stores that it is disconnected, so
// it stays so across restarts, until Reconnect.
func (m *Manager) Disconnect(ctx context.Context, host types.ManagedObjectReference) error {
	m.mu.Lock()
	hc, ok := m.hosts[host.Value]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("hostconn: %s is not an agent host", host.Value)
	}
	stop, done := hc.stop, hc.done
	hc.stop, hc.responding = nil, false
	hc.rec.Disconnected = true
	rec := hc.rec
	m.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return m.save(ctx, host, rec)
}

// Reconnect logs in to host's agent again, with root's password when
// given (the agent may have forgotten the server's token) and otherwise
// with the stored token, and follows it again. A thumbprint, when given,
// replaces the trusted one (a host whose certificate was renewed).
func (m *Manager) Reconnect(ctx context.Context, host types.ManagedObjectReference, user, password, thumbprint string) (agentproto.LoginResponse, error) {
	m.mu.Lock()
	hc, ok := m.hosts[host.Value]
	m.mu.Unlock()
	if !ok {
		return agentproto.LoginResponse{}, fmt.Errorf("hostconn: %s is not an agent host", host.Value)
	}
	rec := hc.rec
	if thumbprint != "" {
		rec.Thumbprint = agentproto.NormalizeThumbprint(thumbprint)
	}
	c := agentproto.NewClient(rec.Address, agentproto.DialOptions{Thumbprint: rec.Thumbprint})
	req := agentproto.LoginRequest{Token: rec.Token}
	if password != "" {
		req = agentproto.LoginRequest{User: user, Password: password}
	}
	res, err := c.Login(ctx, req)
	if err != nil {
		return res, err
	}
	rec.Token, rec.Disconnected = res.Token, false
	if err := m.save(ctx, host, rec); err != nil {
		return res, err
	}
	m.Attach(host, c, rec)
	return res, nil
}

// Remove stops following host and forgets it.
func (m *Manager) Remove(ctx context.Context, host types.ManagedObjectReference) error {
	m.mu.Lock()
	hc, ok := m.hosts[host.Value]
	delete(m.hosts, host.Value)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	if hc.stop != nil {
		hc.stop()
		<-hc.done
	}
	if hc.rec.local {
		return nil
	}
	return m.cfg.Registry.Update(ctx, func(tx *inventory.Txn) error {
		tx.SetMeta(MetaKey(host), "")
		return nil
	})
}

func (m *Manager) save(ctx context.Context, host types.ManagedObjectReference, rec Record) error {
	m.mu.Lock()
	if hc := m.hosts[host.Value]; hc != nil {
		hc.rec = rec
	}
	m.mu.Unlock()
	return m.cfg.Registry.Update(ctx, func(tx *inventory.Txn) error {
		tx.SetMeta(MetaKey(host), rec.Encode())
		return nil
	})
}

// count adds msg to hc's statistics.
func (m *Manager) count(hc *conn, msg agentproto.Message) {
	now := time.Now()
	lag := now.Sub(msg.Time)
	m.mu.Lock()
	defer m.mu.Unlock()
	st := &hc.stats
	st.Messages++
	st.LastLag, st.LastSeen = lag, now
	if lag > st.MaxLag {
		st.MaxLag = lag
	}
}

// setResponding records whether hc responds and tells the observer when
// that changed.
func (m *Manager) setResponding(ctx context.Context, hc *conn, ok bool) {
	m.mu.Lock()
	changed := hc.responding != ok && m.hosts[hc.ref.Value] == hc
	if changed {
		hc.responding = ok
	}
	m.mu.Unlock()
	if !changed || m.obs == nil {
		return
	}
	state := types.HostSystemConnectionStateConnected
	if !ok {
		state = types.HostSystemConnectionStateNotResponding
		m.cfg.Logger.Warn("host not responding", "host", hc.ref.Value, "address", hc.rec.Address)
	} else {
		m.cfg.Logger.Info("host responding", "host", hc.ref.Value, "address", hc.rec.Address)
	}
	hc.obs.Lock()
	defer hc.obs.Unlock()
	m.obs.HostConnection(ctx, hc.ref, state)
}

// monitor follows hc's stream until ctx ends, reopening it when it breaks.
// A watchdog declares the host not responding when no message arrived for
// the timeout, and closes a stream that went quiet so it is reopened.
func (m *Manager) monitor(ctx context.Context, hc *conn) {
	var (
		smu    sync.Mutex
		stream *agentproto.Stream
	)
	timeout := m.cfg.Timeout
	if hc.rec.local {
		timeout = 1<<63 - 1 // in-process hosts always respond
	}
	watchdog := time.AfterFunc(timeout, func() {
		m.setResponding(ctx, hc, false)
		smu.Lock()
		if stream != nil {
			stream.Close()
		}
		smu.Unlock()
	})
	defer watchdog.Stop()
	for ctx.Err() == nil {
		s, err := hc.client.Stream(ctx)
		if err != nil {
			if ctx.Err() == nil {
				m.cfg.Logger.Debug("host stream", "host", hc.ref.Value, "err", err)
			}
			if errors.Is(err, agentproto.ErrNotAuthenticated) {
				m.cfg.Logger.Warn("host refuses the server's token; reconnect it with root's password", "host", hc.ref.Value)
			}
			select {
			case <-ctx.Done():
			case <-time.After(m.cfg.Retry):
			}
			continue
		}
		smu.Lock()
		stream = s
		smu.Unlock()
		for {
			msg, err := s.Next()
			if err != nil {
				break
			}
			watchdog.Reset(timeout)
			m.count(hc, msg)
			m.setResponding(ctx, hc, true)
			if m.obs != nil {
				hc.obs.Lock()
				m.obs.HostReport(ctx, hc.ref, msg)
				hc.obs.Unlock()
			}
		}
		s.Close()
		smu.Lock()
		stream = nil
		smu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(m.cfg.Retry / 4):
		}
	}
}
