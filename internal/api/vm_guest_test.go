package api

import (
	"testing"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

func TestAppHeartbeatStatus(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   driver.VMState
		want string
	}{
		{"no application sends heartbeats", driver.VMState{}, "appStatusGray"},
		{"a fresh heartbeat", driver.VMState{AppHeartbeat: now.Add(-5 * time.Second)}, "appStatusGreen"},
		{"a fresh heartbeat saying red", driver.VMState{AppHeartbeat: now.Add(-5 * time.Second), AppStatus: "appStatusRed"}, "appStatusRed"},
		{"heartbeats stopped", driver.VMState{AppHeartbeat: now.Add(-31 * time.Second), AppStatus: "appStatusGreen"}, "appStatusRed"},
	}
	for _, tt := range tests {
		if got := appHeartbeatStatus(tt.st, now); got != tt.want {
			t.Errorf("%s: appHeartbeatStatus = %s, want %s", tt.name, got, tt.want)
		}
	}
}
