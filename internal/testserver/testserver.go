// Package testserver runs an in-process Vireo server with a logged-in
// govmomi client, for tests (as net/http/httptest does for handlers).
package testserver

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/vireo-project/vireo/internal/app"
)

// Admin credentials of every test server.
const (
	AdminUser     = "administrator@vsphere.local"
	AdminPassword = "vireo-test-pass"
)

// Server is a running test server.
type Server struct {
	*app.Server
	// DataDir is the server's data directory (a t.TempDir).
	DataDir string
	// Client is a govmomi client logged in as the administrator.
	Client *govmomi.Client
}

// Option adjusts the server's configuration.
type Option func(*app.Config)

// WithDataDir uses dir instead of a new temporary directory.
func WithDataDir(dir string) Option { return func(c *app.Config) { c.DataDir = dir } }

// WithClock sets the server's clock.
func WithClock(now func() time.Time) Option { return func(c *app.Config) { c.Now = now } }

// New starts a server on a loopback port and logs a client in; both are
// closed when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminPassword = AdminPassword
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("testserver: start: %v", err)
	}
	s := &Server{Server: srv, DataDir: cfg.DataDir}
	t.Cleanup(srv.Close)
	s.Client = s.Login(t, AdminUser, AdminPassword)
	return s
}

// Login returns a new govmomi client logged in as user.
func (s *Server) Login(t testing.TB, user, password string) *govmomi.Client {
	t.Helper()
	u, err := soap.ParseURL(s.URL())
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	u.User = url.UserPassword(user, password)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		t.Fatalf("testserver: login as %s: %v", user, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Logout(ctx)
	})
	return c
}
