package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/auth"
	"github.com/vireo-project/vireo/internal/dsfile"
	"github.com/vireo-project/vireo/internal/hostconn"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/store/sqlite"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/tlsutil"
)

// Server is a running Vireo server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *sqlite.Store
	reg      *inventory.Registry
	sessions *session.Manager
	users    *auth.Users
	tasks    *task.Manager
	svc      *api.Service
	hosts    *simHosts
	agents   *hostconn.Manager

	ln   net.Listener
	http *http.Server
	url  string
	cert tls.Certificate
	// tlsID serves cert, or the certificate that replaced it (in ESX mode
	// the host's InstallServerCertificate does); nil with PlainHTTP.
	tlsID *tlsutil.Identity
	// FirstRun is true when this start created the data directory's
	// inventory; AdminPassword is then the administrator's password.
	FirstRun      bool
	AdminPassword string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start opens the data directory, rebuilds the inventory and starts serving.
// The caller must Close the returned server.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("app: data directory: %w", err)
	}
	s := &Server{cfg: cfg, log: logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.store, err = sqlite.Open(ctx, cfg.DataDir); err != nil {
		return nil, err
	}
	s.reg = inventory.New(s.store)
	if err = s.reg.Load(ctx); err != nil {
		return nil, err
	}
	if s.users, err = auth.NewUsers(ctx, s.store); err != nil {
		return nil, err
	}
	if s.users.Count() == 0 {
		s.FirstRun = true
		pw := cfg.AdminPassword
		if pw == "" {
			pw = auth.GeneratePassword()
		}
		if err = s.users.Set(ctx, cfg.AdminUser, pw); err != nil {
			return nil, err
		}
		s.AdminPassword = pw
	}
	if cfg.Sim != nil {
		s.users.SetVerifier(cfg.Sim.verify)
	}
	s.sessions = session.NewManager(cfg.Now, cfg.SessionIdle)
	s.tasks = task.NewManager(s.reg, cfg.Now, logger)
	s.hosts = newSimHosts(s.reg, cfg.DataDir, cfg.PowerDelay, cfg.Now)
	s.agents = hostconn.New(hostconn.Config{Registry: s.reg, Logger: logger, Timeout: cfg.HostTimeout})
	s.hosts.follow = s.agents.AttachLocal
	s.svc = api.New(api.Config{
		Registry: s.reg, Sessions: s.sessions, Users: s.users, Tasks: s.tasks,
		Hosts: hostDirectory{agents: s.agents, local: s.hosts}, Agents: s.agents, SimulateAddedHosts: cfg.Sim != nil,
		Now: cfg.Now, Logger: logger, InstanceUUID: instanceUUID(cfg.DataDir),
		ESX: cfg.Sim != nil && cfg.Sim.ESX,
	})
	if err = s.svc.Bootstrap(ctx); err != nil {
		return nil, err
	}
	// Agent hosts answer in the background; each is reconciled when its
	// first heartbeat arrives.
	s.agents.SetObserver(s.svc)
	if err = s.agents.Load(ctx); err != nil {
		return nil, err
	}
	// The hosts own runtime facts: take their word for every VM's state
	// (a VM powered off while the server was down, or one a host lost).
	if err := s.svc.ReconcileVMs(ctx); err != nil {
		logger.Warn("reconcile VMs with their hosts", "err", err)
	}
	table := soap.NewTable()
	s.svc.Register(table)
	mux := http.NewServeMux()
	mux.Handle("/sdk", &soap.Handler{Table: table, Objects: s.reg, Sessions: s.sessions, Supertype: inventory.Supertype, Logger: logger})
	mux.HandleFunc("/sdk/vimServiceVersions.xml", soap.ServeVersions)
	mux.Handle(dsfile.Prefix, &dsfile.Handler{Files: s.svc, Sessions: s.sessions})

	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("app: listen: %w", err)
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	scheme := "http"
	if !cfg.PlainHTTP {
		certFile, keyFile := cfg.TLSCert, cfg.TLSKey
		if certFile == "" {
			certFile, keyFile = filepath.Join(cfg.DataDir, "tls", "server.crt"), filepath.Join(cfg.DataDir, "tls", "server.key")
		}
		if s.cert, err = tlsutil.LoadOrCreate(certFile, keyFile, []string{hostOf(cfg.Listen)}); err != nil {
			return nil, err
		}
		ownFiles, ownKey := certFile, keyFile // a replacement is written to the generated files only
		if cfg.TLSCert != "" {
			ownFiles, ownKey = "", ""
		}
		s.tlsID = tlsutil.NewIdentity(s.cert, ownFiles, ownKey)
		s.http.TLSConfig = &tls.Config{GetCertificate: s.tlsID.GetCertificate, MinVersion: tls.VersionTLS12}
		if err = s.svc.SetServerIdentity(ctx, s.tlsID); err != nil {
			return nil, err
		}
		scheme = "https"
	}
	s.url = fmt.Sprintf("%s://%s/sdk", scheme, s.ln.Addr().String())

	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.goAttach(func() {
		var err error
		if cfg.PlainHTTP {
			err = s.http.Serve(s.ln)
		} else {
			err = s.http.ServeTLS(s.ln, "", "")
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "err", err)
		}
	})
	s.goAttach(func() { s.housekeeping(bg) })
	return s, nil
}

// goAttach runs fn in a goroutine that Close waits for.
func (s *Server) goAttach(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// housekeeping expires idle sessions and prunes finished tasks.
func (s *Server) housekeeping(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sessions.Expire()
			s.tasks.Prune(ctx)
		}
	}
}

// URL returns the SDK URL clients connect to.
func (s *Server) URL() string { return s.url }

// Service returns the API service (for in-process inventory building).
func (s *Server) Service() *api.Service { return s.svc }

// Agents returns the connections to host agents.
func (s *Server) Agents() *hostconn.Manager { return s.agents }

// Thumbprint returns the SHA-1 thumbprint of the server certificate.
func (s *Server) Thumbprint() string {
	if s.tlsID == nil {
		return ""
	}
	return tlsutil.Thumbprint(s.tlsID.Certificate())
}

// Close stops serving and releases the data directory.
func (s *Server) Close() {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	} else if s.ln != nil {
		s.ln.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.agents != nil {
		s.agents.Close()
	}
	if s.tasks != nil {
		s.tasks.Close()
	}
	s.wg.Wait()
	if s.store != nil {
		s.store.Close()
	}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// instanceUUID returns the server's persistent instance UUID.
func instanceUUID(dir string) string {
	p := filepath.Join(dir, "instance-uuid")
	if b, err := os.ReadFile(p); err == nil && len(b) >= 36 {
		return string(b[:36])
	}
	id := newUUID()
	_ = os.WriteFile(p, []byte(id), 0o600)
	return id
}
