package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/vireo-project/vireo/internal/app"
)

func runServe(ctx context.Context, args []string) error {
	cfg := app.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("VIREO_DATA_DIR", cfg.DataDir), "directory for the database, certificate and datastores (env VIREO_DATA_DIR)")
	fs.StringVar(&cfg.Listen, "listen", envOr("VIREO_LISTEN", cfg.Listen), "address to serve on (env VIREO_LISTEN)")
	fs.BoolVar(&cfg.PlainHTTP, "plain-http", false, "serve plain HTTP instead of HTTPS")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (default: self-signed, generated in the data directory)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file for --tls-cert")
	fs.StringVar(&cfg.AdminUser, "admin-user", cfg.AdminUser, "administrator created on first start")
	fs.DurationVar(&cfg.HostTimeout, "host-timeout", 0, "how long a host agent may stay silent before its host is not responding (default 20s)")
	demo := fs.Bool("demo", false, "build a demo inventory on first start")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	_ = fs.Parse(args)
	cfg.AdminPassword = os.Getenv("VIREO_ADMIN_PASSWORD")
	cfg.Logger = newLogger(*logLevel)

	srv, err := app.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *demo && srv.FirstRun {
		if err := app.BuildDemo(ctx, srv); err != nil {
			return fmt.Errorf("demo inventory: %w", err)
		}
	}
	fmt.Printf("Vireo %s serving the vSphere API at %s\n", version, srv.URL())
	fmt.Printf("  administrator: %s\n", cfg.AdminUser)
	if srv.FirstRun {
		if cfg.AdminPassword == "" {
			fmt.Printf("  password:      %s   (generated on first start; shown only once)\n", srv.AdminPassword)
		} else {
			fmt.Printf("  password:      from VIREO_ADMIN_PASSWORD\n")
		}
	}
	fmt.Printf("  data dir:      %s\n", cfg.DataDir)
	if *demo {
		pw := "<password>"
		if srv.FirstRun {
			pw = srv.AdminPassword
		}
		fmt.Printf("\nTry it with govc:\n  export GOVC_URL=%s GOVC_USERNAME=%s GOVC_PASSWORD='%s' GOVC_INSECURE=1\n  govc ls -l '/**'\n",
			srv.URL(), cfg.AdminUser, pw)
	}
	<-ctx.Done()
	fmt.Println("vireo: shutting down")
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
