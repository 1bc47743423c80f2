//go:build linux

package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// execAllowed runs on any Linux machine; the allowed commands used here
// exist on the test machine too.
func TestExecAllowed(t *testing.T) {
	tests := []struct {
		name string
		req  message
		want message
	}{
		{"output", message{Path: "/bin/echo", Args: []string{"hi", "there"}},
			message{ExitCode: 0, Stdout: "hi there\n"}},
		{"exit code", message{Path: "/bin/false"}, message{ExitCode: 1}},
		{"refused", message{Path: "/bin/sh", Args: []string{"-c", "reboot"}},
			message{ExitCode: -1, Error: `"/bin/sh" is not on the guest agent's allow list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Type, tt.req.ID = msgExec, "id-1"
			got := execAllowed(tt.req)
			if got.Type != msgResult || got.ID != "id-1" || got.ExitCode != tt.want.ExitCode ||
				got.Stdout != tt.want.Stdout || !strings.HasPrefix(got.Error, tt.want.Error) {
				t.Errorf("execAllowed = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLimitedBuffer(t *testing.T) {
	var b limitedBuffer
	chunk := strings.Repeat("x", maxOutput/2+1)
	for range 3 {
		if n, err := b.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v; want the whole chunk accepted", n, err)
		}
	}
	if b.Len() != maxOutput {
		t.Errorf("kept %d bytes, want %d", b.Len(), maxOutput)
	}
}

func TestHeartbeat(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app-heartbeat")
	hb := heartbeat(app)
	if hb.Type != msgHeartbeat || hb.HostName == "" || hb.AppHeartbeat != 0 || hb.AppStatus != "" {
		t.Errorf("heartbeat without an app file = %+v, want this machine's host name and no app heartbeat", hb)
	}
	for _, a := range hb.IPAddresses {
		if strings.HasPrefix(a, "127.") || a == "::1" || strings.HasPrefix(a, "fe80:") {
			t.Errorf("heartbeat reports loopback or link-local %s", a)
		}
	}

	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.WriteFile(app, []byte("red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(app, at, at); err != nil {
		t.Fatal(err)
	}
	if hb := heartbeat(app); hb.AppHeartbeat != at.Unix() || hb.AppStatus != AppStatusRed {
		t.Errorf("heartbeat with an app file = %+v, want app heartbeat %d, red", hb, at.Unix())
	}
}
