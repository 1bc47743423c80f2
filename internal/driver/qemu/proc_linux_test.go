package qemu

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDialUnixLongPath connects to a socket whose path is too long for a
// socket address.
func TestDialUnixLongPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.sock")
	if len(path) <= maxSocketPath {
		t.Fatalf("path %q is not long enough to test", path)
	}
	// Bind through the same /proc/self/fd detour, as QEMU's relative path does.
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", fmt.Sprintf("/proc/self/fd/%d/s.sock", d.Fd()))
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := dialUnix(context.Background(), path)
	if err != nil {
		t.Fatalf("dialUnix: %v", err)
	}
	defer c.Close()
	b := make([]byte, 2)
	if _, err := c.Read(b); err != nil || string(b) != "hi" {
		t.Fatalf("read %q, %v", b, err)
	}
}

func TestProcStat(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.rssBytes == 0 || st.startTicks == 0 || st.state == 'Z' {
		t.Errorf("readProcStat(self) = %+v", st)
	}
	if !alive(os.Getpid()) || alive(1<<22+1) {
		t.Errorf("alive misjudges this process or a pid that cannot exist")
	}
	if isVMProcess(os.Getpid(), "x") {
		t.Errorf("the test process passes for a QEMU")
	}
}
