package guest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeModule returns a minimal relocatable ELF64 file whose only content is
// a .modinfo section, which is all resolveModules reads.
func fakeModule(modinfo string) []byte {
	shstr := "\x00.modinfo\x00.shstrtab\x00"
	info := []byte(modinfo)
	const ehsize, shentsize = 64, 64
	infoOff := ehsize
	strOff := infoOff + len(info)
	shOff := (strOff + len(shstr) + 7) &^ 7

	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}) // 64-bit, little endian, version 1
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(1))    // ET_REL
	binary.Write(&b, le, uint16(0x3e)) // x86-64
	binary.Write(&b, le, uint32(1))
	binary.Write(&b, le, uint64(0))     // entry
	binary.Write(&b, le, uint64(0))     // phoff
	binary.Write(&b, le, uint64(shOff)) // shoff
	binary.Write(&b, le, uint32(0))     // flags
	for _, v := range []uint16{ehsize, 0, 0, shentsize, 3, 2} {
		binary.Write(&b, le, v) // ehsize phentsize phnum shentsize shnum shstrndx
	}
	b.Write(info)
	b.WriteString(shstr)
	b.Write(make([]byte, shOff-b.Len()))
	section := func(name, typ uint32, off, size int) {
		binary.Write(&b, le, name)
		binary.Write(&b, le, typ)
		for _, v := range []uint64{0, 0, uint64(off), uint64(size)} { // flags addr offset size
			binary.Write(&b, le, v)
		}
		binary.Write(&b, le, uint32(0)) // link
		binary.Write(&b, le, uint32(0)) // info
		binary.Write(&b, le, uint64(1)) // addralign
		binary.Write(&b, le, uint64(0)) // entsize
	}
	section(0, 0, 0, 0)
	section(1, 1, infoOff, len(info))  // .modinfo, SHT_PROGBITS
	section(10, 3, strOff, len(shstr)) // .shstrtab, SHT_STRTAB
	return b.Bytes()
}

// fakeKernel lays out lib/modules/VER with the given modules (name ->
// depends) and builtins, and returns the package root.
func fakeKernel(t *testing.T, mods map[string]string, builtin ...string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "lib/modules/6.1.0-test/kernel/drivers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, deps := range mods {
		data := fakeModule("license=GPL\x00depends=" + deps + "\x00name=" + file + "\x00")
		if strings.HasSuffix(file, ".gz") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			data = z.Bytes()
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var bl strings.Builder
	for _, b := range builtin {
		bl.WriteString("kernel/drivers/" + b + ".ko\n")
	}
	if err := os.WriteFile(filepath.Join(root, "lib/modules/6.1.0-test/modules.builtin"), []byte(bl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestResolveModules(t *testing.T) {
	old := guestModules
	t.Cleanup(func() { guestModules = old })
	b := &builder{log: testWriter{t}}

	tests := []struct {
		name    string
		mods    map[string]string
		builtin []string
		want    []string
		wantErr string
	}{
		{
			name: "dependencies first, each once, builtins skipped, gzip unpacked",
			mods: map[string]string{
				"virtio.ko": "", "virtio_ring.ko": "", "virtio-pci.ko.gz": "virtio,virtio_ring,virtio_pci_modern_dev",
				"virtio_pci_modern_dev.ko": "", "virtio_net.ko": "net_failover,virtio,virtio_ring",
				"net_failover.ko": "failover", "failover.ko": "",
			},
			builtin: []string{"virtio_pci_modern_dev"},
			want:    []string{"virtio", "virtio_ring", "virtio_pci", "failover", "net_failover", "virtio_net"},
		},
		{
			name:    "missing dependency",
			mods:    map[string]string{"virtio_pci.ko": "", "virtio_net.ko": "net_failover"},
			wantErr: "net_failover (needed by virtio_net)",
		},
		{
			name:    "cycle",
			mods:    map[string]string{"virtio_pci.ko": "", "virtio_net.ko": "a", "a.ko": "virtio_net"},
			wantErr: "cycle: virtio_net -> a -> virtio_net",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			guestModules = []string{"virtio_pci", "virtio_net"}
			got, err := b.resolveModules(context.Background(), fakeKernel(t, tt.mods, tt.builtin...), "6.1.0-test")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveModules: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range got {
				names = append(names, m.name)
				if !bytes.HasPrefix(m.data, []byte("\x7fELF")) {
					t.Errorf("module %s is not an uncompressed ELF file", m.name)
				}
			}
			if strings.Join(names, " ") != strings.Join(tt.want, " ") {
				t.Errorf("load order %v, want %v", names, tt.want)
			}
		})
	}
}

func TestSharedLibraries(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	libs, err := sharedLibraries(exe)
	if err != nil {
		t.Fatalf("sharedLibraries(%s): %v", exe, err)
	}
	for _, l := range libs {
		if !filepath.IsAbs(l.path) {
			t.Errorf("library path %q is not absolute", l.path)
		}
		if fi, err := os.Stat(l.source); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("library source %s: %v, want a regular file", l.source, err)
		}
	}
	t.Logf("%s needs %v", exe, libs)
}
