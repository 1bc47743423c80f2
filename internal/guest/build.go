package guest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// BuildOptions configure Build. The zero value builds with the running
// binary as the agent into the default cache directory.
type BuildOptions struct {
	// OutputDir receives vireo-guest.iso, vireo-guest.vmlinuz and
	// vireo-guest.initrd.gz; CacheDir when empty.
	OutputDir string
	// CacheDir keeps downloaded and unpacked Debian packages between
	// builds; os.UserCacheDir()/vireo/guest when empty.
	CacheDir string
	// Agent is the binary that becomes the guest agent; the running
	// executable when empty. It must call RunIfAgent first thing in main
	// (or TestMain, for a test binary), or otherwise hand "guest init" and
	// "guest agent" to AgentMain when AgentEnv is set, as cmd/vireo does.
	Agent string
	// KernelPackage is the Debian kernel package, a meta package whose
	// linux-image-* dependency is resolved; "linux-image-cloud-amd64" when
	// empty.
	KernelPackage string
	// Log receives progress lines; discarded when nil.
	Log io.Writer
}

// AgentEnv is set to "1" in the environment of the agent binary inside the
// guest, so a binary that is also something else (vireo, a test) knows to
// run AgentMain.
const AgentEnv = "VIREO_GUEST_AGENT"

// RunIfAgent runs AgentMain and exits when this process is the agent
// binary inside a guest image (started as "NAME guest init|agent" with
// AgentEnv=1), and returns at once otherwise. A test binary whose package
// boots images built with the default BuildOptions.Agent calls it first in
// TestMain.
func RunIfAgent() {
	if os.Getenv(AgentEnv) == "1" && len(os.Args) == 3 && os.Args[1] == "guest" {
		os.Exit(AgentMain(os.Args[2:]))
	}
}

// Image is a built guest image.
type Image struct {
	ISO           string // bootable ISO (isolinux); boot it as a CD-ROM
	Kernel        string // the kernel, for direct boot with qemu -kernel
	Initrd        string // the initramfs, for qemu -initrd
	Cmdline       string // the kernel command line the ISO boots with
	KernelVersion string // e.g. 6.1.0-28-cloud-amd64
}

// Output file names in BuildOptions.OutputDir.
const (
	ISOName    = "vireo-guest.iso"
	KernelName = "vireo-guest.vmlinuz"
	InitrdName = "vireo-guest.initrd.gz"
)

// Cmdline is the kernel command line of the image. quiet keeps TCG boots
// fast (the serial console is slow); the agent's own lines still appear.
const Cmdline = "console=ttyS0,115200 quiet"

// guestModules are the kernel modules the guest loads (with their
// dependencies): the virtio PCI transport, the guest channel, the NIC, disks
// (for images that add one), fw_cfg for the host name, and the ACPI power
// button with the event device init reads it through.
var guestModules = []string{"virtio_pci", "virtio_console", "virtio_net", "virtio_blk", "qemu_fw_cfg", "button", "evdev"}

// Build produces the guest image from Debian packages fetched with
// apt-get download: the kernel, busybox-static, and isolinux with
// syslinux-common to boot the ISO. It needs apt-get (with package lists, or a
// cache from an earlier build), dpkg-deb, and xorriso, genisoimage or mkisofs
// to master the ISO; no root, no loop devices.
func Build(ctx context.Context, opts BuildOptions) (Image, error) {
	b, err := newBuilder(opts)
	if err != nil {
		return Image{}, err
	}
	return b.build(ctx)
}

type builder struct {
	opts  BuildOptions
	cache string
	out   string
	log   io.Writer
}

func newBuilder(opts BuildOptions) (*builder, error) {
	b := &builder{opts: opts, cache: opts.CacheDir, out: opts.OutputDir, log: opts.Log}
	if b.cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("guest build: no cache directory (set one): %w", err)
		}
		b.cache = filepath.Join(dir, "vireo", "guest")
	}
	if b.out == "" {
		b.out = b.cache
	}
	if b.log == nil {
		b.log = io.Discard
	}
	if b.opts.KernelPackage == "" {
		b.opts.KernelPackage = "linux-image-cloud-amd64"
	}
	if b.opts.Agent == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("guest build: find the agent binary: %w", err)
		}
		b.opts.Agent = exe
	}
	for _, d := range []*string{&b.cache, &b.out} {
		abs, err := filepath.Abs(*d) // Image paths are absolute
		if err != nil {
			return nil, fmt.Errorf("guest build: %w", err)
		}
		*d = abs
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("guest build: %w", err)
		}
	}
	return b, nil
}

func (b *builder) logf(format string, args ...any) {
	fmt.Fprintf(b.log, format+"\n", args...)
}

func (b *builder) build(ctx context.Context) (Image, error) {
	kpkg, err := b.resolveKernelPackage(ctx)
	if err != nil {
		return Image{}, err
	}
	roots := make(map[string]string)
	for _, pkg := range []string{kpkg, "busybox-static", "isolinux", "syslinux-common"} {
		deb, err := b.fetch(ctx, pkg)
		if err != nil {
			return Image{}, err
		}
		if roots[pkg], err = b.unpack(ctx, deb); err != nil {
			return Image{}, err
		}
	}
	kroot := roots[kpkg]
	kernel, kver, err := findKernel(kroot)
	if err != nil {
		return Image{}, err
	}
	img := Image{
		ISO:           filepath.Join(b.out, ISOName),
		Kernel:        filepath.Join(b.out, KernelName),
		Initrd:        filepath.Join(b.out, InitrdName),
		Cmdline:       Cmdline,
		KernelVersion: kver,
	}
	b.logf("kernel %s", kver)
	if err := copyFileAtomic(kernel, img.Kernel); err != nil {
		return Image{}, fmt.Errorf("guest build: %w", err)
	}
	if err := b.writeInitramfs(ctx, img.Initrd, kroot, kver, roots["busybox-static"]); err != nil {
		return Image{}, err
	}
	if err := b.writeISO(ctx, img, roots["isolinux"], roots["syslinux-common"]); err != nil {
		return Image{}, err
	}
	b.logf("image %s", img.ISO)
	return img, nil
}

// resolveKernelPackage turns the kernel meta package into the real
// linux-image-VERSION package it depends on.
func (b *builder) resolveKernelPackage(ctx context.Context) (string, error) {
	pkg := b.opts.KernelPackage
	out, err := command(ctx, "", "apt-cache", "depends", pkg)
	if err == nil {
		for _, line := range strings.Split(out, "\n") {
			dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
			if ok && strings.HasPrefix(dep, "linux-image-") {
				return dep, nil
			}
		}
		return pkg, nil // not a meta package
	}
	// Offline or no package lists: use a kernel fetched earlier.
	if debs, _ := filepath.Glob(filepath.Join(b.cache, "debs", "linux-image-*.deb")); len(debs) > 0 {
		slices.Sort(debs)
		for _, d := range slices.Backward(debs) {
			name := strings.SplitN(filepath.Base(d), "_", 2)[0]
			if name != pkg && strings.HasPrefix(name, "linux-image-") {
				b.logf("apt-cache failed (%v); using cached %s", err, name)
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("guest build: resolve %s: %w", pkg, err)
}

// fetch returns the cached .deb of pkg, downloading it with apt-get download
// when the cache does not hold the candidate version.
func (b *builder) fetch(ctx context.Context, pkg string) (string, error) {
	debs := filepath.Join(b.cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", fmt.Errorf("guest build: %w", err)
	}
	// Work in an empty directory: apt-get prints no URI for a file already
	// in its working directory.
	tmp, err := os.MkdirTemp(debs, ".download-")
	if err != nil {
		return "", fmt.Errorf("guest build: %w", err)
	}
	defer os.RemoveAll(tmp)
	// apt runs its download as user _apt when it can; let it write.
	_ = os.Chmod(tmp, 0o777)

	out, err := command(ctx, tmp, "apt-get", "download", "--print-uris", pkg)
	var name string
	if f := strings.Fields(out); err == nil && len(f) >= 2 {
		name = f[1] // 'URI' FILENAME SIZE HASH
	}
	if name == "" {
		cached, _ := filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
		if len(cached) == 0 {
			return "", fmt.Errorf("guest build: cannot locate Debian package %s (is apt configured? run apt-get update): %v", pkg, err)
		}
		slices.Sort(cached)
		b.logf("apt-get cannot locate %s (%v); using the cached %s", pkg, err, filepath.Base(cached[len(cached)-1]))
		return cached[len(cached)-1], nil
	}
	deb := filepath.Join(debs, name)
	if _, err := os.Stat(deb); err == nil {
		return deb, nil
	}
	b.logf("downloading %s", name)
	if _, err := command(ctx, tmp, "apt-get", "download", pkg); err != nil {
		return "", fmt.Errorf("guest build: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, name), deb); err != nil {
		return "", fmt.Errorf("guest build: apt-get download %s: %w", pkg, err)
	}
	return deb, nil
}

// unpack extracts deb with dpkg-deb -x into the cache once and returns the
// directory. It unpacks into a temporary directory and renames it into
// place, so concurrent builds sharing the cache never see half a package.
func (b *builder) unpack(ctx context.Context, deb string) (string, error) {
	parent := filepath.Join(b.cache, "root")
	dir := filepath.Join(parent, strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("guest build: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".unpack-")
	if err != nil {
		return "", fmt.Errorf("guest build: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := command(ctx, "", "dpkg-deb", "-x", deb, tmp); err != nil {
		return "", fmt.Errorf("guest build: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return dir, nil // another build unpacked it first
		}
		return "", fmt.Errorf("guest build: %w", err)
	}
	return dir, nil
}

// findKernel returns the kernel image in an unpacked linux-image package and
// its version.
func findKernel(root string) (path, version string, err error) {
	k, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(k) != 1 {
		return "", "", fmt.Errorf("guest build: want one boot/vmlinuz-* in the kernel package, found %d", len(k))
	}
	return k[0], strings.TrimPrefix(filepath.Base(k[0]), "vmlinuz-"), nil
}

// command runs name with args in dir and returns its standard output; the
// error carries its standard error.
func command(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// copyFileAtomic copies src to dst through a temporary file and a rename,
// so a VM booted from the old dst keeps reading a whole file.
func copyFileAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFileAtomic(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func writeFileAtomic(dst string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}
