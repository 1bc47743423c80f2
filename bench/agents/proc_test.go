package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadBanner(t *testing.T) {
	// What `vireo host` prints when it listens (cmd/vireo/host.go).
	out := "Vireo host agent sim-000 (sim backend) listening on 127.0.0.1:19802\n" +
		"  thumbprint: AB:CD:EF\n" +
		"  datastore:  local-sim-000 = /tmp/x\n"
	ready := make(chan [2]string, 1)
	var log bytes.Buffer
	readBanner(strings.NewReader(out), &log, ready)
	select {
	case got := <-ready:
		if got != [2]string{"127.0.0.1:19802", "AB:CD:EF"} {
			t.Fatalf("banner = %q", got)
		}
	default:
		t.Fatal("no address and thumbprint read")
	}
	if log.String() != out {
		t.Fatalf("log = %q, want the agent's output", log.String())
	}
}

func TestProcReadings(t *testing.T) {
	if _, err := cpuTime(0); err != nil {
		t.Fatal(err)
	}
	m, err := memoryOf(0)
	if err != nil {
		t.Fatal(err)
	}
	if m.rss <= 0 || m.anon <= 0 || m.anon > m.rss || m.pss <= 0 {
		t.Fatalf("memory of this process = %+v", m)
	}
	if _, err := cpuTime(-1); err == nil {
		t.Fatal("cpuTime of no process succeeded")
	}
}

func TestParallel(t *testing.T) {
	var calls atomic.Int64
	err := parallel(context.Background(), 100, 4, func(ctx context.Context, i int) error {
		calls.Add(1)
		return nil
	})
	if err != nil || calls.Load() != 100 {
		t.Fatalf("parallel = %v after %d calls, want nil after 100", err, calls.Load())
	}
	boom := errors.New("boom")
	calls.Store(0)
	err = parallel(context.Background(), 100, 1, func(ctx context.Context, i int) error {
		calls.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 4 {
		t.Fatalf("parallel = %v after %d calls, want boom after 4", err, calls.Load())
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 3}, {99, 5}, {1, 1}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("percentile(%d) = %d, want %d", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}
