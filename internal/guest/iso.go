package guest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// isolinuxConfig boots the kernel at once; SERIAL mirrors isolinux's own
// (short) output to the serial log.
const isolinuxConfig = `SERIAL 0 115200
DEFAULT vireo
PROMPT 0
TIMEOUT 0
LABEL vireo
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.gz
  APPEND %s
`

// isoMasters are the tools that can write an El Torito ISO, with the
// arguments that make them speak mkisofs.
var isoMasters = [][]string{{"xorriso", "-as", "mkisofs"}, {"genisoimage"}, {"mkisofs"}}

// writeISO masters img.ISO from the kernel, the initramfs and isolinux
// (from the isolinux and syslinux-common packages).
func (b *builder) writeISO(ctx context.Context, img Image, isolinuxRoot, syslinuxRoot string) error {
	var master []string
	for _, m := range isoMasters {
		if _, err := exec.LookPath(m[0]); err == nil {
			master = m
			break
		}
	}
	if master == nil {
		return fmt.Errorf("guest build: no ISO mastering tool: install xorriso or genisoimage")
	}
	stage, err := os.MkdirTemp(b.out, ".iso-")
	if err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	defer os.RemoveAll(stage)
	for _, f := range []struct{ src, dst string }{
		{filepath.Join(isolinuxRoot, "usr/lib/ISOLINUX/isolinux.bin"), "isolinux/isolinux.bin"},
		{filepath.Join(syslinuxRoot, "usr/lib/syslinux/modules/bios/ldlinux.c32"), "isolinux/ldlinux.c32"},
		{img.Kernel, "boot/vmlinuz"},
		{img.Initrd, "boot/initrd.gz"},
	} {
		if err := linkOrCopy(f.src, filepath.Join(stage, f.dst)); err != nil {
			return fmt.Errorf("guest build: stage ISO: %w", err)
		}
	}
	cfg := fmt.Sprintf(isolinuxConfig, img.Cmdline)
	if err := os.WriteFile(filepath.Join(stage, "isolinux/isolinux.cfg"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	f, err := os.CreateTemp(b.out, "."+ISOName+".*")
	if err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	args := append(master[1:len(master):len(master)],
		"-quiet", "-o", tmp, "-V", "VIREO_GUEST", "-R", "-J",
		"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", stage)
	if _, err := command(ctx, "", master[0], args...); err != nil {
		return fmt.Errorf("guest build: master ISO: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	if err := os.Rename(tmp, img.ISO); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	return nil
}

// linkOrCopy puts src at dst, hard-linking when it can. isolinux.bin is
// always copied: mastering writes its boot info table into it.
func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if filepath.Base(dst) != "isolinux.bin" && os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
