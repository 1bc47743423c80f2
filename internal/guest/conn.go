package guest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// HeartbeatTimeout is how long after the last heartbeat a guest still counts
// as running. The agent sends one every second.
const HeartbeatTimeout = 5 * time.Second

// ErrClosed is returned by the requests of a Conn whose channel has closed,
// either by Close or because the other end went away (QEMU exited, or the
// socket was reset). Dial again to reconnect.
var ErrClosed = errors.New("guest channel closed")

// Status is what the guest last reported.
type Status struct {
	Running       bool      // a heartbeat arrived within the last HeartbeatTimeout and the channel is open
	HostName      string    // the guest's host name
	IPAddresses   []string  // the guest's IPv4 addresses, loopback excluded
	LastHeartbeat time.Time // zero before the first heartbeat
	AppHeartbeat  time.Time // zero when software in the guest never sent one
	AppStatus     string    // AppStatusGreen, AppStatusRed or AppStatusGray; "" when the guest did not say
}

// ExecResult is the outcome of a command run by the guest agent.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// Options tune a Conn. The zero value is ready to use.
type Options struct {
	// Now is the clock Status uses to judge whether heartbeats stopped;
	// time.Now when nil. Tests inject a fake clock.
	Now func() time.Time
}

// Conn is the host end of one VM's guest channel. Its methods are safe for
// concurrent use. A Conn does not reconnect by itself: when Done is closed,
// the owner Dials again (QEMU keeps the socket and the guest keeps running).
type Conn struct {
	c    net.Conn
	now  func() time.Time
	idPf string // random per Conn, so a late answer never matches another Conn's request

	wmu sync.Mutex // serializes writes

	mu      sync.Mutex
	status  Status
	pending map[string]chan message
	nextID  uint64
	err     error // why the channel closed; nil while open

	done chan struct{}
}

// Dial connects to the host end of a VM's guest channel: the unix socket
// QEMU listens on (see the package documentation). It fails at once when the
// socket does not exist or nobody listens on it.
func Dial(ctx context.Context, path string) (*Conn, error) {
	return DialOptions(ctx, path, Options{})
}

// DialOptions is Dial with options.
func DialOptions(ctx context.Context, path string, opts Options) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("guest channel %s: %w", path, err)
	}
	return NewConn(c, opts), nil
}

// NewConn runs the host end of the protocol over an established connection
// and takes ownership of it.
func NewConn(c net.Conn, opts Options) *Conn {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	conn := &Conn{
		c:       c,
		now:     now,
		idPf:    hex.EncodeToString(b[:]) + "-",
		pending: make(map[string]chan message),
		done:    make(chan struct{}),
	}
	go conn.readLoop()
	return conn
}

// Status returns what the guest last reported.
func (c *Conn) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.IPAddresses = append([]string(nil), s.IPAddresses...)
	s.Running = c.err == nil && !s.LastHeartbeat.IsZero() &&
		c.now().Sub(s.LastHeartbeat) < HeartbeatTimeout
	return s
}

// Done is closed when the channel closes; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is nil while the channel is open, ErrClosed after Close, and the
// read error (wrapping ErrClosed) when the other end went away.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Shutdown asks the guest to power off cleanly. It returns once the agent
// acknowledged; QEMU exits shortly after.
func (c *Conn) Shutdown(ctx context.Context) error {
	_, err := c.request(ctx, message{Type: msgShutdown})
	return err
}

// Reboot asks the guest to restart. It returns once the agent acknowledged.
func (c *Conn) Reboot(ctx context.Context) error {
	_, err := c.request(ctx, message{Type: msgReboot})
	return err
}

// Exec runs path with args in the guest and returns its exit code and
// output. The agent runs only commands on its allow list and refuses others
// with an error; a command that ran and failed is not an error (see
// ExecResult.ExitCode).
func (c *Conn) Exec(ctx context.Context, path string, args []string) (ExecResult, error) {
	m, err := c.request(ctx, message{Type: msgExec, Path: path, Args: args})
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{ExitCode: m.ExitCode, Stdout: m.Stdout, Stderr: m.Stderr}, nil
}

// Close closes the channel. Requests in flight fail with ErrClosed. The guest
// is unaffected.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

// request sends m with a fresh id and waits for the agent's result.
func (c *Conn) request(ctx context.Context, m message) (message, error) {
	ch := make(chan message, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return message{}, fmt.Errorf("guest %s: %w", m.Type, err)
	}
	c.nextID++
	m.ID = c.idPf + strconv.FormatUint(c.nextID, 10)
	c.pending[m.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, m.ID)
		c.mu.Unlock()
	}()

	if err := c.write(ctx, m); err != nil {
		return message{}, fmt.Errorf("guest %s: %w", m.Type, err)
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return r, fmt.Errorf("guest %s: %s", m.Type, r.Error)
		}
		return r, nil
	case <-c.done:
		return message{}, fmt.Errorf("guest %s: %w", m.Type, c.Err())
	case <-ctx.Done():
		return message{}, fmt.Errorf("guest %s: %w", m.Type, ctx.Err())
	}
}

// write sends one message, giving up when ctx ends (QEMU stops reading the
// socket while the guest has not opened its port).
func (c *Conn) write(ctx context.Context, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetWriteDeadline(dl)
	} else {
		_ = c.c.SetWriteDeadline(time.Time{})
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.c.SetWriteDeadline(time.Now())
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired // never let it cut the next writer's deadline short
		}
	}()
	n, err := c.c.Write(b)
	switch {
	case err == nil:
		return nil
	case n == 0 && errors.Is(err, os.ErrDeadlineExceeded):
		// Only ctx sets deadlines; its timer may lag the socket's.
		<-ctx.Done()
		return ctx.Err()
	default:
		// A torn line would garble the stream: give the channel up.
		err = fmt.Errorf("%w: %w", ErrClosed, err)
		c.fail(err)
		return err
	}
}

// readLoop decodes the guest's messages until the channel closes. Lines that
// are not JSON (a guest that has not started its agent may echo garbage) are
// skipped.
func (c *Conn) readLoop() {
	sc := bufio.NewScanner(c.c)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	for sc.Scan() {
		var m message
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		c.handle(m)
	}
	err := sc.Err()
	if err == nil {
		err = errors.New("guest end closed the channel")
	}
	c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
}

// maxLine bounds one message; command output is capped by the agent well
// below it.
const maxLine = 4 << 20

func (c *Conn) handle(m message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Type {
	case msgHeartbeat:
		c.status.LastHeartbeat = c.now()
		c.status.HostName = m.HostName
		c.status.IPAddresses = m.IPAddresses
		c.status.AppStatus = m.AppStatus
		c.status.AppHeartbeat = time.Time{}
		if m.AppHeartbeat > 0 {
			c.status.AppHeartbeat = time.Unix(m.AppHeartbeat, 0)
		}
	case msgResult:
		if ch, ok := c.pending[m.ID]; ok {
			delete(c.pending, m.ID)
			ch <- m
		}
	}
}

// fail closes the channel with err, once.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	_ = c.c.Close()
	close(c.done)
}
