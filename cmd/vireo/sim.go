package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/session"

	"github.com/vireo-project/vireo/internal/app"
	"github.com/vireo-project/vireo/internal/model"
)

// simFlags are vcsim's command-line flags (govmomi v0.46.3, vcsim/main.go),
// with vcsim's names, defaults and meaning, plus Vireo's -data-dir.
type simFlags struct {
	model model.Model

	listen, env        string
	username, password string
	tls                bool
	tlsCert, tlsKey    string
	esx                bool
	apiVersion         string
	trace              bool
	traceFile          string
	stdinExit          bool
	load               string
	tunnel             int
	delay              int
	methodDelay        string
	delayJitter        float64
	dataDir            string
}

// unsupportedSimFlags are vcsim flags `vireo sim` accepts and ignores, with
// what to expect instead. A note is printed only when one is given.
var unsupportedSimFlags = map[string]string{
	"api-version":  "Vireo reports its own API version (8.0.3) and answers every client in the version it negotiated",
	"load":         "use -data-dir to build a model once and reload it",
	"delay":        "method delays are not simulated",
	"method-delay": "method delays are not simulated",
	"delay-jitter": "method delays are not simulated",
}

func newSimFlagSet(f *simFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vireo sim [flags] [uuidgen|version]\n\n"+
			"Runs a server with govmomi vcsim's command line and inventory, as a drop-in for vcsim.\n\nflags:\n")
		fs.PrintDefaults()
	}
	m := &f.model
	*m = model.VPX()
	fs.IntVar(&m.Datacenter, "dc", m.Datacenter, "Number of datacenters")
	fs.IntVar(&m.Cluster, "cluster", m.Cluster, "Number of clusters")
	fs.IntVar(&m.ClusterHost, "host", m.ClusterHost, "Number of hosts per cluster")
	fs.IntVar(&m.Host, "standalone-host", m.Host, "Number of standalone hosts")
	fs.IntVar(&m.Datastore, "ds", m.Datastore, "Number of local datastores")
	fs.IntVar(&m.Machine, "vm", m.Machine, "Number of virtual machines per resource pool")
	fs.IntVar(&m.Pool, "pool", m.Pool, "Number of resource pools per compute resource")
	fs.IntVar(&m.App, "app", m.App, "Number of virtual apps per compute resource")
	fs.IntVar(&m.Pod, "pod", m.Pod, "Number of storage pods per datacenter")
	fs.IntVar(&m.Portgroup, "pg", m.Portgroup, "Number of port groups")
	fs.IntVar(&m.PortgroupNSX, "pg-nsx", m.PortgroupNSX, "Number of NSX backed port groups")
	fs.IntVar(&m.OpaqueNetwork, "nsx", m.OpaqueNetwork, "Number of NSX backed opaque networks")
	fs.IntVar(&m.Folder, "folder", m.Folder, "Number of folders")
	fs.BoolVar(&m.Autostart, "autostart", m.Autostart, "Autostart model created VMs")
	fs.StringVar(&f.apiVersion, "api-version", "6.5", "API version (accepted, ignored: Vireo reports 8.0.3)")
	fs.BoolVar(&f.esx, "esx", false, "Simulate standalone ESX")
	fs.BoolVar(&f.tls, "tls", true, "Enable TLS")
	fs.StringVar(&f.tlsCert, "tlscert", "", "Path to TLS certificate file")
	fs.StringVar(&f.tlsKey, "tlskey", "", "Path to TLS key file")
	fs.StringVar(&f.env, "E", "-", "Output vcsim variables to the given fifo or stdout")
	fs.StringVar(&f.listen, "l", "127.0.0.1:8989", "Listen address for vcsim")
	fs.StringVar(&f.username, "username", "", "Login username for vcsim (any username allowed by default)")
	fs.StringVar(&f.password, "password", "", "Login password for vcsim (any password allowed by default)")
	fs.IntVar(&f.tunnel, "tunnel", -1, "SDK tunnel port")
	fs.BoolVar(&f.trace, "trace", false, "Trace SOAP to -trace-file (Vireo: its debug log)")
	fs.StringVar(&f.traceFile, "trace-file", "", "Trace output file (defaults to stderr)")
	fs.BoolVar(&f.stdinExit, "stdinexit", false, "Press any key to exit")
	fs.StringVar(&f.load, "load", "", "Load model from directory (accepted, ignored: use -data-dir)")
	fs.IntVar(&f.delay, "delay", 0, "Method response delay across all methods (accepted, ignored)")
	fs.StringVar(&f.methodDelay, "method-delay", "", "Delay per method on the form 'method1:delay1,method2:delay2...' (accepted, ignored)")
	fs.Float64Var(&f.delayJitter, "delay-jitter", 0, "Delay jitter coefficient of variation (accepted, ignored)")
	fs.StringVar(&f.dataDir, "data-dir", "", "Vireo: keep the inventory in this directory; a model is built only when it is empty (default: a temporary directory removed at exit)")
	return fs
}

func runSim(ctx context.Context, args []string) error {
	var f simFlags
	fs := newSimFlagSet(&f)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch fs.Arg(0) {
	case "uuidgen":
		fmt.Println(uuid.NewString())
		return nil
	case "version":
		fmt.Printf("Build Version: vireo %s\n", version)
		return nil
	case "":
	default:
		return fmt.Errorf("sim: unknown argument %q (want uuidgen or version)", fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) {
		if why, ok := unsupportedSimFlags[fl.Name]; ok {
			fmt.Fprintf(os.Stderr, "vireo sim: -%s is accepted and ignored: %s\n", fl.Name, why)
		}
	})
	return serveSim(ctx, &f)
}

// serveSim starts the server, builds the model into an empty data directory,
// announces the server on -E and serves until ctx ends or stdin is read.
func serveSim(ctx context.Context, f *simFlags) error {
	login, err := simLogin(f.username, f.password)
	if err != nil {
		return err
	}
	logger, closeLog, err := simLogger(f.trace, f.traceFile)
	if err != nil {
		return err
	}
	defer closeLog()

	dataDir := f.dataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "vireo-sim-"); err != nil {
			return fmt.Errorf("sim: temporary data directory: %w", err)
		}
		defer os.RemoveAll(dataDir)
	}
	cfg := app.DefaultConfig()
	cfg.DataDir = dataDir
	cfg.Listen = f.listen
	cfg.PlainHTTP = !f.tls
	cfg.TLSCert, cfg.TLSKey = f.tlsCert, f.tlsKey
	cfg.Logger = logger
	cfg.Sim = &app.SimOptions{ESX: f.esx}
	if f.username != "" {
		cfg.Sim.Username = login.Username()
		cfg.Sim.Password, _ = login.Password()
	}

	srv, err := app.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if !srv.IsEmpty() {
		fmt.Fprintf(os.Stderr, "vireo sim: %s already holds an inventory; serving it as it is (model flags ignored)\n", dataDir)
	} else {
		m := f.model
		if f.esx {
			m = model.ESX()
			m.Datastore, m.Machine, m.Autostart = f.model.Datastore, f.model.Machine, f.model.Autostart
		}
		for _, part := range m.Unsupported() {
			fmt.Fprintf(os.Stderr, "vireo sim: %s accepted and not built yet\n", part)
		}
		if err := model.Build(ctx, srv.Service(), m); err != nil {
			return fmt.Errorf("sim: build the model: %w", err)
		}
	}

	u, err := url.Parse(srv.URL())
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	u.User = login
	if f.tunnel >= 0 {
		tunnel, port, err := startTunnel(u.Hostname(), f.tunnel, u.Host)
		if err != nil {
			return err
		}
		defer tunnel.Close()
		q := u.Query()
		q.Set("GOVMOMI_TUNNEL_PROXY_PORT", strconv.Itoa(port))
		u.RawQuery = q.Encode()
	}
	if err := announce(f.env, envLine(u, os.Getpid())); err != nil {
		return err
	}

	if f.stdinExit {
		fmt.Println("Press any key to exit")
		stdin := make(chan struct{})
		go func() {
			_, _ = os.Stdin.Read(make([]byte, 1))
			close(stdin)
		}()
		select {
		case <-ctx.Done():
		case <-stdin:
		}
		return nil
	}
	<-ctx.Done()
	return nil
}

// simLogin returns the credentials to put in GOVC_URL: -username and
// -password (each may name a file holding it, as with vcsim), or vcsim's
// default "user:pass" when no -username is given, in which case any
// non-empty user name and password log in.
func simLogin(username, password string) (*url.Userinfo, error) {
	if username == "" {
		return url.UserPassword("user", "pass"), nil
	}
	user, err := session.Secret(username)
	if err != nil {
		return nil, fmt.Errorf("sim: -username: %w", err)
	}
	pass, err := session.Secret(password)
	if err != nil {
		return nil, fmt.Errorf("sim: -password: %w", err)
	}
	return url.UserPassword(user, pass), nil
}

// envLine is the line vcsim writes to -E once it serves.
func envLine(u *url.URL, pid int) string {
	return fmt.Sprintf("export GOVC_URL=%s GOVC_SIM_PID=%d\n", u.String(), pid)
}

// announce writes line to stdout ("-") or to the file or fifo at path,
// which it creates when missing. Opening a fifo waits for its reader.
func announce(path, line string) error {
	if path == "-" {
		_, err := io.WriteString(os.Stdout, line)
		return err
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("sim: -E: %w", err)
	}
	if _, err := io.WriteString(out, line); err != nil {
		out.Close()
		return fmt.Errorf("sim: -E: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("sim: -E: %w", err)
	}
	return nil
}

// startTunnel serves vcsim's SDK tunnel on host:port (0 picks one): an HTTP
// proxy that CONNECTs clients to target, the server, so that they can
// present a TLS client certificate to it (LoginExtensionByCertificate).
// Clients learn its port from GOVMOMI_TUNNEL_PROXY_PORT in GOVC_URL.
func startTunnel(host string, port int, target string) (*http.Server, int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, 0, fmt.Errorf("sim: -tunnel: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "the SDK tunnel only serves CONNECT", http.StatusMethodNotAllowed)
			return
		}
		dst, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		src, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			dst.Close()
			return
		}
		go func() {
			_, _ = io.Copy(src, dst)
			src.Close()
		}()
		_, _ = io.Copy(dst, src)
		dst.Close()
	}), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().(*net.TCPAddr).Port, nil
}

// simLogger logs warnings to stderr, or everything to the trace file (or
// stderr) with -trace or -trace-file, as vcsim does with its SOAP trace.
func simLogger(trace bool, traceFile string) (*slog.Logger, func(), error) {
	if !trace && traceFile == "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), func() {}, nil
	}
	var w io.Writer = os.Stderr
	closeFn := func() {}
	if traceFile != "" {
		file, err := os.Create(traceFile)
		if err != nil {
			return nil, nil, fmt.Errorf("sim: -trace-file: %w", err)
		}
		w, closeFn = file, func() { file.Close() }
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), closeFn, nil
}
