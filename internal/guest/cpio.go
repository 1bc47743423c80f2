package guest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// cpioWriter writes a cpio archive in the "newc" format the kernel unpacks
// as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
// Entries carry no timestamps or owners (all root), so a build is
// reproducible. Parents must be added before their children.
type cpioWriter struct {
	w    *bufio.Writer
	n    int64 // bytes written, for padding
	ino  uint32
	seen map[string]bool
	err  error
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriter(w), seen: make(map[string]bool)}
}

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm fs.FileMode) error {
	return c.entry(name, 0o040000|uint32(perm.Perm()), 0, 0, nil)
}

// File adds a regular file with contents data.
func (c *cpioWriter) File(name string, perm fs.FileMode, data []byte) error {
	return c.entry(name, 0o100000|uint32(perm.Perm()), 0, 0, data)
}

// Symlink adds a symbolic link name pointing at target.
func (c *cpioWriter) Symlink(name, target string) error {
	return c.entry(name, 0o120777, 0, 0, []byte(target))
}

// CharDev adds a character device node (no privileges needed: it is only
// bytes in the archive).
func (c *cpioWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	return c.entry(name, 0o020000|uint32(perm.Perm()), major, minor, nil)
}

// MkdirAll adds name and any missing parents as 0755 directories.
func (c *cpioWriter) MkdirAll(name string) error {
	name = cleanArchivePath(name)
	if name == "" || c.seen[name] {
		return nil
	}
	if err := c.MkdirAll(path.Dir(name)); err != nil {
		return err
	}
	return c.Dir(name, 0o755)
}

// Close writes the trailer and flushes. It does not close the underlying
// writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0, 0)
	c.write([]byte("TRAILER!!!\x00"))
	c.pad()
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

func cleanArchivePath(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "." {
		return ""
	}
	return name
}

func (c *cpioWriter) entry(name string, mode, rmajor, rminor uint32, data []byte) error {
	name = cleanArchivePath(name)
	if name == "" {
		return fmt.Errorf("cpio: empty entry name")
	}
	if c.seen[name] {
		return fmt.Errorf("cpio: duplicate entry %s", name)
	}
	c.seen[name] = true
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	c.header(name, c.ino, mode, nlink, uint32(len(data)), rmajor<<16|rminor)
	c.write([]byte(name + "\x00"))
	c.pad()
	c.write(data)
	c.pad()
	return c.err
}

// header writes a newc header; rdev packs the device major<<16|minor.
func (c *cpioWriter) header(name string, ino, mode, nlink, size, rdev uint32) {
	fields := []uint32{
		ino, mode, 0, 0, nlink, 0, size,
		0, 0, // device of the archived file: meaningless here
		rdev >> 16, rdev & 0xffff,
		uint32(len(name) + 1), 0,
	}
	var b strings.Builder
	b.WriteString("070701")
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	c.write([]byte(b.String()))
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

// pad aligns the stream to 4 bytes, as newc requires after names and data.
func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}
