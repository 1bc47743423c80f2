package app

import (
	"errors"
	"log/slog"
	"time"
)

// Config configures a server.
type Config struct {
	// DataDir holds the database, the TLS certificate and the datastore
	// directories of in-process hosts.
	DataDir string
	// Listen is the address to serve on ("127.0.0.1:8989"; port 0 picks one).
	Listen string
	// PlainHTTP serves without TLS.
	PlainHTTP bool
	// TLSCert and TLSKey name a certificate to use instead of the generated
	// self-signed one.
	TLSCert, TLSKey string
	// AdminUser is the administrator created on first start.
	AdminUser string
	// AdminPassword is its password; empty generates one on first start.
	AdminPassword string
	// SessionIdle is how long an unused session lives.
	SessionIdle time.Duration
	// PowerDelay is how long a simulated power operation takes.
	PowerDelay time.Duration
	// HostTimeout is how long a host agent may stay silent before its host
	// is not responding; zero means agentproto.HeartbeatTimeout.
	HostTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Sim, when set, makes the server stand in for vcsim (`vireo sim`).
	Sim *SimOptions
}

// DefaultConfig returns the defaults `vireo serve` starts from.
func DefaultConfig() Config {
	return Config{
		DataDir:     "vireo-data",
		Listen:      "127.0.0.1:8989",
		AdminUser:   "administrator@vsphere.local",
		SessionIdle: 30 * time.Minute,
	}
}

// Validate checks cfg before anything starts.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("config: a data directory is required (--data-dir)")
	}
	if c.Listen == "" {
		return errors.New("config: a listen address is required (--listen)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("config: --tls-cert and --tls-key go together")
	}
	if c.AdminUser == "" {
		return errors.New("config: an administrator user name is required")
	}
	return nil
}
