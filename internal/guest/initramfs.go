package guest

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// The initramfs is the whole guest: /init (a shell script that starts the
// agent binary as PID 1), busybox, the agent binary with its ELF interpreter
// and shared libraries when it is dynamically linked, and the kernel
// modules the guest needs, decompressed and listed in load order.

// initScript is /init. It mounts /proc for the agent binary's runtime (the
// race detector, os.Executable) and execs it as PID 1; the binary decides
// what to be from AgentEnv and its arguments.
const initScript = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
export LD_LIBRARY_PATH=%s
export ` + AgentEnv + `=1
exec /sbin/vireo-guest guest init
`

// dhcpScriptBody applies the leases busybox udhcpc gets.
const dhcpScriptBody = `#!/bin/sh
# udhcpc calls this with deconfig, bound, renew or nak; the lease is in
# the environment ($interface $ip $mask $router $dns).
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip addr add "$ip/${mask:-24}" dev "$interface" 2>/dev/null
	if [ -n "$router" ]; then
		ip route replace default via "${router%% *}" dev "$interface"
	fi
	if [ -n "$dns" ]; then
		for d in $dns; do echo "nameserver $d"; done >/etc/resolv.conf
	fi
	echo "vireo-guest: dhcp: $interface $ip/${mask:-24} router ${router:-none}"
	;;
esac
exit 0
`

// appHeartbeatScript is AppHeartbeatCommand.
const appHeartbeatScript = `#!/bin/sh
# Sends an application heartbeat to the host: vireo-app-heartbeat [green|red|gray]
mkdir -p /run/vireo-guest && echo "${1:-green}" >/run/vireo-guest/app-heartbeat
`

func (b *builder) writeInitramfs(ctx context.Context, dst, kroot, kver, busyboxRoot string) error {
	mods, err := b.resolveModules(ctx, kroot, kver)
	if err != nil {
		return err
	}
	libs, err := sharedLibraries(b.opts.Agent)
	if err != nil {
		return fmt.Errorf("guest build: agent %s: %w", b.opts.Agent, err)
	}
	agent, err := b.readAgent(ctx)
	if err != nil {
		return fmt.Errorf("guest build: agent: %w", err)
	}
	busybox, err := os.ReadFile(filepath.Join(busyboxRoot, "bin", "busybox"))
	if err != nil {
		return fmt.Errorf("guest build: busybox-static: %w", err)
	}
	b.logf("initramfs: agent %s (%d MB), %d shared libraries, %d modules", b.opts.Agent, len(agent)>>20, len(libs), len(mods))

	var libDirs []string
	for _, l := range libs {
		if d := filepath.Dir(l.path); !slices.Contains(libDirs, d) {
			libDirs = append(libDirs, d)
		}
	}
	err = writeFileAtomic(dst, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
		if err != nil {
			return err
		}
		c := newCPIOWriter(zw)
		for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/vireo-guest", "usr/share/udhcpc", "proc", "sys", "dev", "run", "tmp", "root", "lib/modules/" + kver} {
			if err := c.MkdirAll(d); err != nil {
				return err
			}
		}
		files := []archiveFile{
			{"init", 0o755, fmt.Appendf(nil, initScript, strings.Join(libDirs, ":"))},
			{"bin/busybox", 0o755, busybox},
			{"sbin/vireo-guest", 0o755, agent},
			{strings.TrimPrefix(dhcpScript, "/"), 0o755, []byte(dhcpScriptBody)},
			{strings.TrimPrefix(AppHeartbeatCommand, "/"), 0o755, []byte(appHeartbeatScript)},
			{"etc/hostname", 0o644, []byte(defaultHostName + "\n")},
		}
		var list strings.Builder
		for _, m := range mods {
			p := "/lib/modules/" + kver + "/" + m.name + ".ko"
			list.WriteString(p + "\n")
			files = append(files, archiveFile{p, 0o644, m.data})
		}
		files = append(files, archiveFile{modulesList, 0o644, []byte(list.String())})
		for _, f := range files {
			if err := c.File(f.name, f.perm, f.data); err != nil {
				return err
			}
		}
		if err := c.Symlink("bin/sh", "busybox"); err != nil {
			return err
		}
		if err := c.CharDev("dev/console", 0o600, 5, 1); err != nil {
			return err
		}
		stored := make(map[string]string) // source -> path in the archive
		for _, l := range libs {
			if err := c.MkdirAll(filepath.Dir(l.path)); err != nil {
				return err
			}
			if first, ok := stored[l.source]; ok {
				// The loader is named twice (PT_INTERP and libc's DT_NEEDED).
				if err := c.Symlink(l.path, first); err != nil {
					return err
				}
				continue
			}
			data, err := os.ReadFile(l.source)
			if err != nil {
				return err
			}
			if err := c.File(l.path, 0o755, data); err != nil {
				return err
			}
			stored[l.source] = "/" + strings.TrimPrefix(l.path, "/")
		}
		if err := c.Close(); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return fmt.Errorf("guest build: initramfs: %w", err)
	}
	return nil
}

// readAgent returns the agent binary without its DWARF debug information
// when binutils' strip is at hand: a Go binary loses about half its
// compressed size, and the guest boots that much sooner (the firmware reads
// the initramfs slowly under emulation). Symbols stay, so panics still show
// function names.
func (b *builder) readAgent(ctx context.Context) ([]byte, error) {
	if _, err := exec.LookPath("strip"); err == nil {
		tmp, err := os.MkdirTemp(b.out, ".agent-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		stripped := filepath.Join(tmp, "vireo-guest")
		if _, err := command(ctx, "", "strip", "--strip-debug", "-o", stripped, b.opts.Agent); err == nil {
			return os.ReadFile(stripped)
		} else {
			b.logf("strip failed, using the agent as is: %v", err)
		}
	}
	return os.ReadFile(b.opts.Agent)
}

// archiveFile is a regular file to put in the initramfs.
type archiveFile struct {
	name string
	perm fs.FileMode
	data []byte
}

// sharedLib is a file the agent needs at run time: path inside the guest,
// source on this machine.
type sharedLib struct{ path, source string }

// libSearchPath is where sharedLibraries looks for DT_NEEDED libraries, as
// the dynamic loader of a Debian/Ubuntu amd64 system would.
var libSearchPath = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// sharedLibraries returns the ELF interpreter and the shared libraries
// (transitively) a dynamically linked binary needs, or nothing for a static
// one. They are copied from this machine, which runs the same binary.
func sharedLibraries(bin string) ([]sharedLib, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var libs []sharedLib
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return nil, fmt.Errorf("read ELF interpreter: %w", err)
		}
		interp := string(bytes.TrimRight(b, "\x00"))
		src, err := filepath.EvalSymlinks(interp)
		if err != nil {
			return nil, fmt.Errorf("ELF interpreter: %w", err)
		}
		libs = append(libs, sharedLib{interp, src})
	}
	seen := make(map[string]bool)
	var walk func(*elf.File) error
	walk = func(f *elf.File) error {
		needed, err := f.ImportedLibraries()
		if err != nil {
			return err
		}
		for _, name := range needed {
			if seen[name] {
				continue
			}
			seen[name] = true
			path := findLibrary(name)
			if path == "" {
				return fmt.Errorf("shared library %s not found in %s", name, strings.Join(libSearchPath, ":"))
			}
			src, err := filepath.EvalSymlinks(path)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(libs, func(l sharedLib) bool { return l.path == path }) {
				libs = append(libs, sharedLib{path, src})
			}
			lf, err := elf.Open(src)
			if err != nil {
				return err
			}
			err = walk(lf)
			lf.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(f); err != nil {
		return nil, err
	}
	return libs, nil
}

func findLibrary(name string) string {
	for _, d := range libSearchPath {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
