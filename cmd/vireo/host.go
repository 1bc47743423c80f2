package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vireo-project/vireo/internal/agent"
	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/driver/qemu"
	"github.com/vireo-project/vireo/internal/driver/sim"
	"github.com/vireo-project/vireo/internal/tlsutil"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// datastoreFlag parses NAME=DIR[,shared].
type datastoreFlag struct {
	dirs   map[string]string
	shared map[string]bool
}

func (d *datastoreFlag) String() string { return "" }

func (d *datastoreFlag) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	if !ok || name == "" || rest == "" {
		return fmt.Errorf("want NAME=DIR[,shared], got %q", v)
	}
	dir, opt, _ := strings.Cut(rest, ",")
	switch opt {
	case "":
	case "shared":
		d.shared[name] = true
	default:
		return fmt.Errorf("unknown datastore option %q in %q (the only one is shared)", opt, v)
	}
	if _, dup := d.dirs[name]; dup {
		return fmt.Errorf("datastore %q given twice", name)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	d.dirs[name] = abs
	return nil
}

// hostOptions are `vireo host`'s settings.
type hostOptions struct {
	listen, backend, name, stateDir, passwordFile string
	datastores                                    datastoreFlag
	bridges                                       bridgeFlag
	networks                                      listFlag
	powerDelay, heartbeat                         time.Duration
	cpus                                          int
	cpuMHz                                        int
	memoryMB                                      int64
	seed                                          int64
	logLevel                                      string
}

func runHost(ctx context.Context, args []string) error {
	o := hostOptions{datastores: datastoreFlag{dirs: map[string]string{}, shared: map[string]bool{}},
		bridges: bridgeFlag{pairs: map[string]string{}}}
	hostname, _ := os.Hostname()
	fs := flag.NewFlagSet("host", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: vireo host [flags]

Runs a host agent: the hypervisor side that a Vireo server adds with
  govc host.add -hostname ADDR -username root -password ... -noverify
Root's password comes from VIREO_HOST_PASSWORD or --root-password-file.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listen, "listen", "0.0.0.0:8443", "address to serve the agent protocol on")
	fs.StringVar(&o.backend, "backend", "sim", "VM backend: sim (modelled VMs) or qemu")
	fs.StringVar(&o.name, "name", hostname, "the host's name")
	fs.StringVar(&o.stateDir, "state-dir", "vireo-host", "directory for the agent's certificate, tokens and VM state")
	fs.StringVar(&o.passwordFile, "root-password-file", "", "file holding root's password (default: env VIREO_HOST_PASSWORD)")
	fs.Var(&o.datastores, "datastore", "a datastore: NAME=DIR[,shared] (repeatable)")
	fs.Var(&o.networks, "network", "a network the host's VMs can join (repeatable; default \"VM Network\")")
	fs.Var(&o.bridges, "bridge", "qemu backend: NETWORK=BRIDGE attaches that network's NICs to a host bridge through qemu-bridge-helper (repeatable; default user-mode networking)")
	fs.DurationVar(&o.powerDelay, "power-delay", 0, "sim backend: how long a power operation takes")
	fs.DurationVar(&o.heartbeat, "heartbeat", agentproto.HeartbeatInterval, "interval between heartbeats to the server")
	fs.IntVar(&o.cpus, "cpus", 0, "sim backend: CPU cores to model (default 16)")
	fs.IntVar(&o.cpuMHz, "cpu-mhz", 0, "sim backend: MHz per core (default 2600)")
	fs.Int64Var(&o.memoryMB, "memory-mb", 0, "sim backend: memory to model (default 65536)")
	fs.Int64Var(&o.seed, "seed", 0, "sim backend: seed of the VMs' workload profiles")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("host: unexpected argument %q (a password is never given on the command line; use VIREO_HOST_PASSWORD or --root-password-file)", fs.Arg(0))
	}
	password, err := rootPassword(o.passwordFile)
	if err != nil {
		return err
	}
	if len(o.networks) == 0 {
		o.networks = listFlag{"VM Network"}
	}
	logger := newLogger(o.logLevel)
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return fmt.Errorf("host: state directory: %w", err)
	}
	for name, dir := range o.datastores.dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("host: datastore %s: %w", name, err)
		}
	}
	d, err := newBackend(o)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{Driver: d, Password: password, StateDir: o.stateDir,
		HeartbeatInterval: o.heartbeat, AgentVersion: version, Logger: logger})
	if err != nil {
		return err
	}
	cert, err := tlsutil.LoadOrCreate(filepath.Join(o.stateDir, "host.crt"), filepath.Join(o.stateDir, "host.key"), []string{o.name, "localhost", "127.0.0.1"})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	srv := &http.Server{Handler: a, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }() // owned by runHost: Shutdown below ends it
	fmt.Printf("Vireo host agent %s (%s backend) listening on %s\n", o.name, o.backend, ln.Addr())
	fmt.Printf("  thumbprint: %s\n", tlsutil.Thumbprint(cert))
	for name, dir := range o.datastores.dirs {
		fmt.Printf("  datastore:  %s = %s\n", name, dir)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("host: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	// Closing a backend lets go of its VMs; they keep running, and the
	// next start reattaches to them.
	if c, ok := d.(io.Closer); ok {
		_ = c.Close()
	}
	return nil
}

// rootPassword reads root's password from file, or VIREO_HOST_PASSWORD.
func rootPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("host: root password: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", fmt.Errorf("host: root password file %s is empty", file)
		}
		return pw, nil
	}
	if pw := os.Getenv("VIREO_HOST_PASSWORD"); pw != "" {
		return pw, nil
	}
	return "", errors.New("host: set root's password in VIREO_HOST_PASSWORD or give --root-password-file")
}

// newBackend returns the driver o.backend names.
func newBackend(o hostOptions) (driver.Driver, error) {
	switch o.backend {
	case "sim":
		return sim.New(sim.Config{
			Name: o.name, StateDir: filepath.Join(o.stateDir, "vms"),
			Datastores: o.datastores.dirs, SharedDatastores: o.datastores.shared, Networks: o.networks,
			PowerDelay: o.powerDelay, NumCPU: int16(o.cpus), CPUMHz: int32(o.cpuMHz), MemoryBytes: o.memoryMB << 20,
			Seed: uint64(o.seed),
		})
	case "qemu":
		return qemu.New(qemu.Config{
			Name: o.name, StateDir: filepath.Join(o.stateDir, "vms"),
			Datastores: o.datastores.dirs, SharedDatastores: o.datastores.shared, Networks: o.networks,
			Bridges: o.bridges.pairs,
		})
	}
	return nil, fmt.Errorf("host: unknown backend %q (want sim or qemu)", o.backend)
}

// bridgeFlag parses NETWORK=BRIDGE.
type bridgeFlag struct{ pairs map[string]string }

func (b *bridgeFlag) String() string { return "" }

func (b *bridgeFlag) Set(v string) error {
	network, bridge, ok := strings.Cut(v, "=")
	if !ok || network == "" || bridge == "" {
		return fmt.Errorf("want NETWORK=BRIDGE, got %q", v)
	}
	b.pairs[network] = bridge
	return nil
}
