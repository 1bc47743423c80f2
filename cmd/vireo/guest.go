package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/vireo-project/vireo/internal/guest"
)

const guestUsage = `usage: vireo guest build [-o DIR] [-cache DIR] [-agent BINARY]

Builds the guest image (vireo-guest.iso, plus its kernel and initramfs for
direct boot) from Debian packages fetched with apt-get download. This vireo
binary becomes the guest agent inside the image. Needs apt-get, dpkg-deb and
xorriso or genisoimage; no root.

Inside the image, the same binary runs as 'vireo guest init' (PID 1) and
'vireo guest agent'; those refuse to run elsewhere.
`

// runGuest implements `vireo guest`.
func runGuest(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, guestUsage)
		os.Exit(2)
	}
	switch args[0] {
	case "build":
		return runGuestBuild(ctx, args[1:])
	case "init", "agent":
		if os.Getenv(guest.AgentEnv) != "1" {
			return fmt.Errorf("guest %s runs only inside the guest image (see 'vireo guest build')", args[0])
		}
		os.Exit(guest.AgentMain(args))
	case "-h", "--help", "help":
		fmt.Print(guestUsage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "vireo guest: unknown command %q\n\n%s", args[0], guestUsage)
	os.Exit(2)
	return nil
}

func runGuestBuild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("guest build", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), guestUsage); fs.PrintDefaults() }
	out := fs.String("o", ".", "directory for vireo-guest.iso and its kernel and initramfs")
	cache := fs.String("cache", "", "directory caching Debian packages (default: the user cache directory's vireo/guest)")
	agent := fs.String("agent", "", "binary to run as the guest agent instead of this one (it must call guest.RunIfAgent)")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("guest build: unexpected argument %q", fs.Arg(0))
	}
	img, err := guest.Build(ctx, guest.BuildOptions{OutputDir: *out, CacheDir: *cache, Agent: *agent, Log: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Println(img.ISO)
	return nil
}
