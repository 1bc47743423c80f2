package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// createDisk creates the disk image p, which must not exist, as a thin
// qcow2 image (it grows as the guest writes) of the given capacity; see the
// package documentation for why qcow2.
func (d *Driver) createDisk(ctx context.Context, p string, capacityBytes int64) error {
	if _, err := os.Lstat(p); err == nil {
		return &fs.PathError{Op: "create", Path: p, Err: fs.ErrExist}
	}
	// QEMU sizes disks in whole sectors.
	size := (capacityBytes + 511) / 512 * 512
	cmd := exec.CommandContext(ctx, d.cfg.QEMUImgPath, "create", "-q", "-f", "qcow2", p, strconv.FormatInt(size, 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(p)
		return fmt.Errorf("qemu-img: %s: %w", strings.TrimSpace(string(out)), err)
	}
	return nil
}

// Image format magic numbers, at offset 0 of the file.
var (
	vmdkSparseMagic = []byte("KDMV")
	vmdkDescriptor  = []byte("# Disk DescriptorFile")
	qcow2Magic      = []byte("QFI\xfb")
)

// imageFormat tells the format of the disk image p from its first bytes:
// "vmdk", "qcow2", or "raw" for anything else (such as a flat image
// uploaded to the datastore). Naming the format to QEMU keeps it from
// probing, which would let a guest that writes a header into a raw disk
// change how the host opens it.
func imageFormat(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, vmdkSparseMagic), bytes.HasPrefix(head, vmdkDescriptor):
		return "vmdk", nil
	case bytes.HasPrefix(head, qcow2Magic):
		return "qcow2", nil
	}
	return "raw", nil
}
