package guest

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
)

// cpioEntry is one entry read back from a newc archive.
type cpioEntry struct {
	mode         uint32
	rmaj, rmin   uint32
	data         string
	nlink, inode uint32
}

// readNewc parses a newc archive independently of cpioWriter, checking the
// alignment rules the kernel's unpacker relies on.
func readNewc(t *testing.T, b []byte) (map[string]cpioEntry, []string) {
	t.Helper()
	entries := make(map[string]cpioEntry)
	var order []string
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("header at %d: field %d: %v", off, i, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off%4 != 0 {
			t.Fatalf("header at %d is not 4-byte aligned", off)
		}
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:off+6])
		}
		nameSize, size := int(field(11)), int(field(6))
		name := string(b[off+110 : off+110+nameSize-1])
		if b[off+110+nameSize-1] != 0 {
			t.Fatalf("name %q not NUL-terminated", name)
		}
		dataOff := align(off + 110 + nameSize)
		e := cpioEntry{mode: field(1), nlink: field(4), inode: field(0), rmaj: field(9), rmin: field(10),
			data: string(b[dataOff : dataOff+size])}
		off = align(dataOff + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return entries, order
		}
		entries[name] = e
		order = append(order, name)
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	steps := []error{
		c.MkdirAll("/usr/share/udhcpc"),
		c.File("init", 0o755, []byte("#!/bin/sh\n")),
		c.File("usr/share/udhcpc/default.script", 0o700, []byte("abcde")),
		c.File("empty", 0o644, nil),
		c.Symlink("bin/sh", "busybox"),
		c.CharDev("dev/console", 0o600, 5, 1),
		c.MkdirAll("usr/share"), // exists: no-op
		c.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	entries, order := readNewc(t, buf.Bytes())

	if got, want := order[:3], []string{"usr", "usr/share", "usr/share/udhcpc"}; !slices.Equal(got, want) {
		t.Errorf("first entries %v, want parents first %v", got, want)
	}
	tests := []struct {
		name       string
		mode       uint32
		data       string
		rmaj, rmin uint32
	}{
		{"usr/share", 0o040755, "", 0, 0},
		{"init", 0o100755, "#!/bin/sh\n", 0, 0},
		{"usr/share/udhcpc/default.script", 0o100700, "abcde", 0, 0},
		{"empty", 0o100644, "", 0, 0},
		{"bin/sh", 0o120777, "busybox", 0, 0},
		{"dev/console", 0o020600, "", 5, 1},
	}
	inodes := make(map[uint32]bool)
	for _, tt := range tests {
		e, ok := entries[tt.name]
		if !ok {
			t.Errorf("%s missing; have %v", tt.name, order)
			continue
		}
		if e.mode != tt.mode || e.data != tt.data || e.rmaj != tt.rmaj || e.rmin != tt.rmin {
			t.Errorf("%s = mode %o data %q rdev %d:%d; want mode %o data %q rdev %d:%d",
				tt.name, e.mode, e.data, e.rmaj, e.rmin, tt.mode, tt.data, tt.rmaj, tt.rmin)
		}
		if inodes[e.inode] {
			t.Errorf("%s reuses inode %d", tt.name, e.inode)
		}
		inodes[e.inode] = true
	}
}

func TestCPIOWriterRefusesDuplicates(t *testing.T) {
	c := newCPIOWriter(&bytes.Buffer{})
	if err := c.File("/etc/x", 0o644, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.File("etc/x", 0o644, nil); err == nil {
		t.Error("a second etc/x was accepted")
	}
	if err := c.File("/", 0o644, nil); err == nil {
		t.Error("an entry named / was accepted")
	}
}
