package driver_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vireo-project/vireo/internal/driver"
)

func TestCopySparse(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	if _, err := f.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("middle"), size/2); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()

	tests := []struct {
		name string
		open func() io.Reader // the reader handed to CopySparse
	}{
		{"file with extents", func() io.Reader { r, _ := os.Open(src); return r }},
		{"plain reader", func() io.Reader { b, _ := os.ReadFile(src); return bytes.NewBuffer(b) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(dir, "dst"+string(rune('0'+i)))
			w, err := os.Create(dst)
			if err != nil {
				t.Fatal(err)
			}
			r := tt.open()
			if c, ok := r.(io.Closer); ok {
				defer c.Close()
			}
			n, err := driver.CopySparse(w, r)
			w.Close()
			if err != nil || n != size {
				t.Fatalf("CopySparse = %d, %v; want %d", n, err, size)
			}
			got, _ := os.ReadFile(dst)
			want, _ := os.ReadFile(src)
			if !bytes.Equal(got, want) {
				t.Fatal("copy differs from source")
			}
			var st syscall.Stat_t
			if err := syscall.Stat(dst, &st); err != nil {
				t.Fatal(err)
			}
			if used := st.Blocks * 512; used > 4<<20 {
				t.Fatalf("copy uses %d bytes on disk, want it sparse", used)
			}
		})
	}
}
