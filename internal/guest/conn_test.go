package guest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// fakeGuest is the guest end of a channel, driven by the test.
type fakeGuest struct {
	t    *testing.T
	c    net.Conn
	in   *bufio.Scanner
	wmu  sync.Mutex
	recv chan message
}

func newFakeGuest(t *testing.T, c net.Conn) *fakeGuest {
	g := &fakeGuest{t: t, c: c, in: bufio.NewScanner(c), recv: make(chan message, 16)}
	go func() {
		defer close(g.recv)
		for g.in.Scan() {
			var m message
			if err := json.Unmarshal(g.in.Bytes(), &m); err != nil {
				t.Errorf("host sent a line that is not JSON: %q", g.in.Text())
				return
			}
			g.recv <- m
		}
	}()
	t.Cleanup(func() { c.Close() })
	return g
}

func (g *fakeGuest) send(m message) {
	g.t.Helper()
	b, _ := json.Marshal(m)
	g.wmu.Lock()
	defer g.wmu.Unlock()
	if _, err := g.c.Write(append(b, '\n')); err != nil {
		g.t.Errorf("fake guest write: %v", err)
	}
}

// next returns the next message the host sent.
func (g *fakeGuest) next() message {
	g.t.Helper()
	select {
	case m, ok := <-g.recv:
		if !ok {
			g.t.Fatal("host closed the channel")
		}
		return m
	case <-time.After(10 * time.Second):
		g.t.Fatal("host sent nothing")
	}
	return message{}
}

// pipe returns a Conn on a fake clock wired to a fake guest.
func pipe(t *testing.T) (*Conn, *fakeGuest, *fakeClock) {
	host, guest := net.Pipe()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := NewConn(host, Options{Now: clk.Now})
	t.Cleanup(func() { c.Close() })
	return c, newFakeGuest(t, guest), clk
}

// waitStatus polls c.Status until ok holds; the read loop applies a
// heartbeat asynchronously after the fake guest's write returns.
func waitStatus(t *testing.T, c *Conn, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := c.Status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reached the wanted state; last %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDialMissingSocket(t *testing.T) {
	_, err := Dial(context.Background(), filepath.Join(t.TempDir(), "guest.sock"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Dial of a missing socket: got %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestDialUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "guest.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := newFakeGuest(t, <-accepted)
	g.send(message{Type: msgHeartbeat, HostName: "g1", IPAddresses: []string{"10.0.2.15"}})
	s := waitStatus(t, c, func(s Status) bool { return s.Running })
	if s.HostName != "g1" || len(s.IPAddresses) != 1 || s.IPAddresses[0] != "10.0.2.15" {
		t.Errorf("status = %+v, want host g1 with 10.0.2.15", s)
	}
}

func TestStatusFollowsHeartbeats(t *testing.T) {
	c, g, clk := pipe(t)
	if s := c.Status(); s.Running || !s.LastHeartbeat.IsZero() {
		t.Fatalf("before any heartbeat: %+v, want not running", s)
	}
	g.send(message{Type: msgHeartbeat, HostName: "vm-1", IPAddresses: []string{"10.0.2.15"}})
	s := waitStatus(t, c, func(s Status) bool { return s.Running })
	if !s.LastHeartbeat.Equal(clk.Now()) || !s.AppHeartbeat.IsZero() {
		t.Errorf("status = %+v, want LastHeartbeat %v and no app heartbeat", s, clk.Now())
	}

	clk.Add(HeartbeatTimeout - time.Second)
	if !c.Status().Running {
		t.Error("not running within the heartbeat timeout")
	}
	clk.Add(time.Second)
	if s := c.Status(); s.Running || s.HostName != "vm-1" {
		t.Errorf("after heartbeats stopped: %+v, want not running, last facts kept", s)
	}

	app := clk.Now().Add(-2 * time.Second).Unix()
	g.send(message{Type: msgHeartbeat, HostName: "vm-1", AppHeartbeat: app, AppStatus: AppStatusGreen})
	s = waitStatus(t, c, func(s Status) bool { return s.Running })
	if s.AppHeartbeat.Unix() != app || s.AppStatus != AppStatusGreen {
		t.Errorf("status = %+v, want app heartbeat at %d, green", s, app)
	}
}

func TestStatusCopiesAddresses(t *testing.T) {
	c, g, _ := pipe(t)
	g.send(message{Type: msgHeartbeat, IPAddresses: []string{"10.0.2.15"}})
	s := waitStatus(t, c, func(s Status) bool { return s.Running })
	s.IPAddresses[0] = "changed"
	if got := c.Status().IPAddresses[0]; got != "10.0.2.15" {
		t.Errorf("a caller's edit leaked into the Conn: %q", got)
	}
}

func TestExec(t *testing.T) {
	tests := []struct {
		name    string
		answer  message
		want    ExecResult
		wantErr bool
	}{
		{"ok", message{ExitCode: 0, Stdout: "Linux\n"}, ExecResult{Stdout: "Linux\n"}, false},
		{"command failed", message{ExitCode: 2, Stderr: "no such file\n"}, ExecResult{ExitCode: 2, Stderr: "no such file\n"}, false},
		{"refused", message{ExitCode: -1, Error: `"/bin/rm" is not on the allow list`}, ExecResult{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, g, _ := pipe(t)
			type out struct {
				r   ExecResult
				err error
			}
			done := make(chan out, 1)
			go func() {
				r, err := c.Exec(context.Background(), "/bin/uname", []string{"-s"})
				done <- out{r, err}
			}()
			m := g.next()
			if m.Type != msgExec || m.Path != "/bin/uname" || len(m.Args) != 1 || m.Args[0] != "-s" || m.ID == "" {
				t.Fatalf("host sent %+v, want exec of /bin/uname -s with an id", m)
			}
			g.send(message{Type: msgResult, ID: "someone else's", Stdout: "wrong"})
			a := tt.answer
			a.Type, a.ID = msgResult, m.ID
			g.send(a)
			o := <-done
			if (o.err != nil) != tt.wantErr || o.r != tt.want {
				t.Errorf("Exec = %+v, %v; want %+v, error %v", o.r, o.err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPowerRequests(t *testing.T) {
	for _, tt := range []struct {
		typ string
		do  func(*Conn, context.Context) error
	}{
		{msgShutdown, (*Conn).Shutdown},
		{msgReboot, (*Conn).Reboot},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			c, g, _ := pipe(t)
			done := make(chan error, 1)
			go func() { done <- tt.do(c, context.Background()) }()
			m := g.next()
			if m.Type != tt.typ || m.ID == "" {
				t.Fatalf("host sent %+v, want %s with an id", m, tt.typ)
			}
			g.send(message{Type: msgResult, ID: m.ID})
			if err := <-done; err != nil {
				t.Errorf("%s: %v", tt.typ, err)
			}
		})
	}
}

func TestRequestContextEnds(t *testing.T) {
	c, g, _ := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Shutdown(ctx) }()
	g.next()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown after cancel: %v, want context.Canceled", err)
	}
	if c.Err() != nil {
		t.Errorf("an abandoned request closed the channel: %v", c.Err())
	}
}

func TestWriteBlockedByGuest(t *testing.T) {
	// Nobody reads the guest end (like QEMU before the guest opens its
	// port): the request must give up with its context.
	host, guest := net.Pipe()
	defer guest.Close()
	c := NewConn(host, Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Exec(ctx, "/bin/true", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Exec with nobody reading: %v, want context.DeadlineExceeded", err)
	}
}

func TestGuestGoesAway(t *testing.T) {
	c, g, _ := pipe(t)
	g.send(message{Type: msgHeartbeat, HostName: "vm"})
	waitStatus(t, c, func(s Status) bool { return s.Running })
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "/bin/uname", nil)
		done <- err
	}()
	g.next()
	g.c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Exec when the guest went away: %v, want ErrClosed", err)
	}
	<-c.Done()
	if s := c.Status(); s.Running {
		t.Errorf("status after the channel closed: %+v, want not running", s)
	}
	if err := c.Reboot(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Reboot on a closed channel: %v, want ErrClosed", err)
	}
}

func TestCloseFailsPending(t *testing.T) {
	c, g, _ := pipe(t)
	done := make(chan error, 1)
	go func() { done <- c.Shutdown(context.Background()) }()
	g.next()
	c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Shutdown pending at Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestGarbageLinesSkipped(t *testing.T) {
	c, g, _ := pipe(t)
	if _, err := g.c.Write([]byte("boot noise\n{not json\n")); err != nil {
		t.Fatal(err)
	}
	g.send(message{Type: msgHeartbeat, HostName: "after-noise"})
	if s := waitStatus(t, c, func(s Status) bool { return s.Running }); s.HostName != "after-noise" {
		t.Errorf("status = %+v", s)
	}
}
