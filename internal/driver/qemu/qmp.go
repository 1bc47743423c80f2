package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// errQMPClosed is returned by commands on a monitor connection that closed,
// usually because QEMU exited.
var errQMPClosed = errors.New("qmp: connection closed")

// qmpError is an error QEMU answered a command with.
type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qmpError) Error() string { return "qmp: " + e.Class + ": " + e.Desc }

// qmpMessage is anything QEMU sends: a greeting, a reply or an event.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *qmpError       `json:"error"`
	ID     *uint64         `json:"id"`
}

// qmpClient is a QEMU Machine Protocol connection: JSON commands tagged with
// an id and their replies, over QEMU's monitor socket. Events are read and
// dropped: the driver learns of QEMU's exit from the connection closing and
// from the process. Its methods are safe for concurrent use.
type qmpClient struct {
	c net.Conn

	wmu sync.Mutex // serializes writes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan qmpMessage
	err     error // why the connection closed; nil while open

	done chan struct{}
}

// qmpGreetingTimeout bounds the wait for QEMU's greeting after connecting.
const qmpGreetingTimeout = 10 * time.Second

// dialQMP connects to the QMP socket at path, reads QEMU's greeting and
// leaves capabilities negotiation mode.
func dialQMP(ctx context.Context, path string) (*qmpClient, error) {
	c, err := dialUnix(ctx, path)
	if err != nil {
		return nil, err
	}
	q, err := newQMPClient(ctx, c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

func newQMPClient(ctx context.Context, c net.Conn) (*qmpClient, error) {
	deadline := time.Now().Add(qmpGreetingTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetReadDeadline(deadline)
	dec := json.NewDecoder(c)
	var greeting qmpMessage
	if err := dec.Decode(&greeting); err != nil {
		return nil, fmt.Errorf("qmp: reading greeting: %w", err)
	}
	if greeting.QMP == nil {
		return nil, errors.New("qmp: the socket did not greet with QMP")
	}
	_ = c.SetReadDeadline(time.Time{})
	q := &qmpClient{c: c, pending: map[uint64]chan qmpMessage{}, done: make(chan struct{})}
	go q.readLoop(dec)
	if err := q.execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// execute runs a command with arguments (nil for none) and decodes its
// return value into out (nil to ignore it).
func (q *qmpClient) execute(ctx context.Context, cmd string, args, out any) error {
	return q.executeFile(ctx, cmd, args, out, nil)
}

// executeFile is execute passing QEMU the descriptor of f along with the
// command (SCM_RIGHTS), as getfd and add-fd expect.
func (q *qmpClient) executeFile(ctx context.Context, cmd string, args, out any, f *os.File) error {
	ch := make(chan qmpMessage, 1)
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return q.err
	}
	q.nextID++
	id := q.nextID
	q.pending[id] = ch
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.pending, id)
		q.mu.Unlock()
	}()

	req := struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
		ID        uint64 `json:"id"`
	}{cmd, args, id}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("qmp: %s: %w", cmd, err)
	}
	q.wmu.Lock()
	err = q.write(append(b, '\n'), f)
	q.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("qmp: %s: %w", cmd, err)
	}

	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %w", cmd, m.Error)
		}
		if out != nil {
			if err := json.Unmarshal(m.Return, out); err != nil {
				return fmt.Errorf("qmp: %s: decoding reply: %w", cmd, err)
			}
		}
		return nil
	case <-q.done:
		return fmt.Errorf("qmp: %s: %w", cmd, q.Err())
	case <-ctx.Done():
		return fmt.Errorf("qmp: %s: %w", cmd, ctx.Err())
	}
}

// write sends b, with f's descriptor when f is not nil.
func (q *qmpClient) write(b []byte, f *os.File) error {
	if f == nil {
		_, err := q.c.Write(b)
		return err
	}
	uc, ok := q.c.(*net.UnixConn)
	if !ok {
		return errors.New("qmp: passing a file needs a unix socket")
	}
	_, _, err := uc.WriteMsgUnix(b, syscall.UnixRights(int(f.Fd())), nil)
	return err
}

func (q *qmpClient) readLoop(dec *json.Decoder) {
	for {
		var m qmpMessage
		if err := dec.Decode(&m); err != nil {
			q.fail(fmt.Errorf("%w: %w", errQMPClosed, err))
			return
		}
		if m.ID == nil {
			continue // an event
		}
		q.mu.Lock()
		ch := q.pending[*m.ID]
		q.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

func (q *qmpClient) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return
	}
	q.err = err
	close(q.done)
}

// Done is closed when the connection closed; for a connection not closed by
// Close, that means QEMU exited.
func (q *qmpClient) Done() <-chan struct{} { return q.done }

// Err says why the connection closed, nil while it is open.
func (q *qmpClient) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Close closes the connection; QEMU keeps running.
func (q *qmpClient) Close() error {
	q.fail(errQMPClosed)
	return q.c.Close()
}
