// Package session keeps the API sessions: who is logged in, since when, from
// where, and when an idle session expires.
package session

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// DefaultIdleTimeout is how long an unused session lives (vCenter's default
// API session timeout is 30 minutes).
const DefaultIdleTimeout = 30 * time.Minute

// Session is one logged-in client. Fields other than those guarded by mu are
// immutable after creation.
type Session struct {
	Key       string
	UserName  string
	FullName  string
	LoginTime time.Time
	IPAddress string
	UserAgent string
	Locale    string

	// mu guards lastActive and callCount.
	mu         sync.Mutex
	lastActive time.Time
	callCount  int64
	// Values holds per-session state of other packages (views, collectors),
	// keyed by the owning package; guarded by mu.
	values map[any]any
}

// Info returns the session as vim25 UserSession.
func (s *Session) Info() types.UserSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return types.UserSession{
		Key:            s.Key,
		UserName:       s.UserName,
		FullName:       s.FullName,
		LoginTime:      s.LoginTime,
		LastActiveTime: s.lastActive,
		Locale:         s.Locale,
		MessageLocale:  s.Locale,
		IpAddress:      s.IPAddress,
		UserAgent:      s.UserAgent,
		CallCount:      s.callCount,
	}
}

// CallCount returns how many calls the session has made.
func (s *Session) CallCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callCount
}

// Value returns the value stored under key by Store, or nil.
func (s *Session) Value(key any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key]
}

// StoreValue sets the value under key.
func (s *Session) StoreValue(key, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[any]any{}
	}
	s.values[key] = v
}

// Manager holds the live sessions. It is safe for concurrent use.
type Manager struct {
	now  func() time.Time
	idle time.Duration

	// mu guards sessions.
	mu       sync.Mutex
	sessions map[string]*Session
	onEnd    []func(*Session)
}

// NewManager returns a Manager whose sessions expire after idle without a
// call. now is the clock.
func NewManager(now func() time.Time, idle time.Duration) *Manager {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &Manager{now: now, idle: idle, sessions: map[string]*Session{}}
}

// OnEnd registers fn to be called when a session ends (logout or expiry).
func (m *Manager) OnEnd(fn func(*Session)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onEnd = append(m.onEnd, fn)
}

// Create starts a session for user.
func (m *Manager) Create(user, fullName, ip, agent, locale string) *Session {
	var b [16]byte
	_, _ = rand.Read(b[:])
	now := m.now()
	s := &Session{
		Key: hex.EncodeToString(b[:]), UserName: user, FullName: fullName,
		LoginTime: now, IPAddress: ip, UserAgent: agent, Locale: locale, lastActive: now,
	}
	if s.Locale == "" {
		s.Locale = "en"
	}
	m.mu.Lock()
	m.sessions[s.Key] = s
	m.mu.Unlock()
	return s
}

// Touch returns the live session with key and records a call on it; ok is
// false when there is none or it has expired (an expired session is ended).
func (m *Manager) Touch(key string) (*Session, bool) {
	now := m.now()
	m.mu.Lock()
	s := m.sessions[key]
	m.mu.Unlock()
	if s == nil {
		return nil, false
	}
	s.mu.Lock()
	expired := now.Sub(s.lastActive) > m.idle
	if !expired {
		s.lastActive = now
		s.callCount++
	}
	s.mu.Unlock()
	if expired {
		m.End(key)
		return nil, false
	}
	return s, true
}

// Get returns the live session with key without recording a call.
func (m *Manager) Get(key string) (*Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	return s, ok
}

// End terminates the session with key, if any, and reports whether it existed.
func (m *Manager) End(key string) bool {
	m.mu.Lock()
	s := m.sessions[key]
	delete(m.sessions, key)
	hooks := m.onEnd
	m.mu.Unlock()
	if s == nil {
		return false
	}
	for _, fn := range hooks {
		fn(s)
	}
	return true
}

// List returns the live sessions.
func (m *Manager) List() []*Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s)
	}
	return out
}

// Expire ends every session idle for longer than the timeout. The owner calls
// it periodically.
func (m *Manager) Expire() {
	now := m.now()
	var dead []string
	m.mu.Lock()
	for k, s := range m.sessions {
		s.mu.Lock()
		if now.Sub(s.lastActive) > m.idle {
			dead = append(dead, k)
		}
		s.mu.Unlock()
	}
	m.mu.Unlock()
	for _, k := range dead {
		m.End(k)
	}
}
