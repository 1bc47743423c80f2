package guest

import (
	"strings"
	"testing"
)

func TestCheckAllowed(t *testing.T) {
	tests := []struct {
		path    string
		args    []string
		wantErr string // substring; "" means allowed
	}{
		{"/bin/uname", []string{"-a"}, ""},
		{"/bin/echo", []string{"hello", "world"}, ""},
		{"/bin/hostname", nil, ""},
		{"/bin/hostname", []string{"evil"}, "no arguments"},
		{"/bin/cat", []string{"/proc/uptime", "/etc/hostname"}, ""},
		{"/bin/cat", []string{"/etc/shadow"}, "may read only"},
		{"/bin/cat", []string{"/proc/../etc/shadow"}, "may read only"},
		{"/bin/cat", nil, "name the files"},
		{"/sbin/ip", []string{"-o", "addr", "show"}, ""},
		{"/sbin/ip", []string{"addr", "flush", "dev", "eth0"}, "only show"},
		{AppHeartbeatCommand, nil, ""},
		{AppHeartbeatCommand, []string{"red"}, ""},
		{AppHeartbeatCommand, []string{"blue"}, "at most one of"},
		{"/bin/rm", []string{"-rf", "/"}, "not on the guest agent's allow list"},
		{"/bin/../bin/uname", nil, "not on the guest agent's allow list"},
		{"uname", nil, "not on the guest agent's allow list"},
	}
	for _, tt := range tests {
		err := checkAllowed(tt.path, tt.args)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s %v refused: %v", tt.path, tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s %v: %v, want an error containing %q", tt.path, tt.args, err, tt.wantErr)
		}
	}
}

func TestSanitizeHostName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-01", "web-01"},
		{"  my vm\n", "my-vm"},
		{"db_primary.example.com", "db-primary.example.com"},
		{"-x-", "x"},
		{"ünïcode!", "ncode"},
		{"", ""},
		{strings.Repeat("a", 100), strings.Repeat("a", 63)},
	}
	for _, tt := range tests {
		if got := sanitizeHostName(tt.in); got != tt.want {
			t.Errorf("sanitizeHostName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAppStatus(t *testing.T) {
	for word, want := range map[string]string{
		"green\n": AppStatusGreen, "": AppStatusGreen, "red": AppStatusRed, "gray": AppStatusGray, "grey\n": AppStatusGray,
	} {
		if got := appStatus(word); got != want {
			t.Errorf("appStatus(%q) = %s, want %s", word, got, want)
		}
	}
}
