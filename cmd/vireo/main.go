// Command vireo is Vireo's single binary: `vireo serve` runs the server,
// `vireo sim` runs it as a drop-in for govmomi's vcsim, `vireo host` runs a
// host agent, and `vireo guest build` makes the guest image.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: vireo <command> [flags]

commands:
  serve     run the server (vim25 SOAP at /sdk)
  sim       run a server with a vcsim-compatible command line
  host      run a host agent (the hypervisor side a server adds)
  guest     build the guest image (vireo guest build)
  version   print the version

Run 'vireo <command> -h' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = runServe(ctx, os.Args[2:])
	case "sim":
		err = runSim(ctx, os.Args[2:])
	case "guest":
		err = runGuest(ctx, os.Args[2:])
	case "host":
		err = runHost(ctx, os.Args[2:])
	case "version", "-v", "--version":
		fmt.Println("vireo", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "vireo: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vireo:", err)
		os.Exit(1)
	}
}
