package agentproto

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vireo-project/vireo/internal/driver"
)

// ThumbprintError is returned when the agent's certificate is not the one
// the caller trusts: Expected is what the caller gave ("" for none), Actual
// the agent's SHA-1 thumbprint, to be shown to the user for confirmation.
type ThumbprintError struct {
	Expected, Actual string
}

func (e *ThumbprintError) Error() string {
	if e.Expected == "" {
		return "the host's certificate is not trusted; its SHA-1 thumbprint is " + e.Actual
	}
	return fmt.Sprintf("the host's certificate thumbprint %s does not match the expected %s", e.Actual, e.Expected)
}

// UnreachableError is returned when no connection to the agent can be made.
type UnreachableError struct {
	Address string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot contact the host at %s: %v", e.Address, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Thumbprint returns the SHA-1 thumbprint of a DER certificate in vSphere's
// colon-separated upper-case hex form.
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// NormalizeThumbprint returns t in the form Thumbprint returns.
func NormalizeThumbprint(t string) string {
	return strings.ToUpper(strings.TrimSpace(t))
}

// DialOptions configure a Client.
type DialOptions struct {
	// Thumbprint is the SHA-1 thumbprint the agent's certificate must have;
	// empty refuses every certificate with a ThumbprintError that names it.
	Thumbprint string
	// Transport, when set, carries the calls instead of TLS over TCP (the
	// server's in-process hosts); Address is then only a name.
	Transport http.RoundTripper
	// Timeout bounds each call other than the stream; zero means 2 minutes.
	Timeout time.Duration
}

// Client is the server's side of the protocol for one agent. It implements
// driver.Driver and driver.Files, so the server runs VMs on a remote host
// exactly as on an in-process one.
type Client struct {
	address string
	base    string
	http    *http.Client
	stream  *http.Client
	timeout time.Duration

	// mu guards token.
	mu    sync.Mutex
	token string
	// cert is the agent's leaf certificate (DER), set by the TLS handshake.
	cert []byte
}

var (
	_ driver.Driver = (*Client)(nil)
	_ driver.Files  = (*Client)(nil)
)

// NewClient returns a client for the agent at address (host:port; the port
// defaults to 443). It does not connect.
func NewClient(address string, opts DialOptions) *Client {
	if _, _, err := net.SplitHostPort(address); err != nil {
		address = net.JoinHostPort(strings.Trim(address, "[]"), "443")
	}
	c := &Client{address: address, base: "https://" + address + Prefix, timeout: opts.Timeout}
	if c.timeout == 0 {
		c.timeout = 2 * time.Minute
	}
	rt := opts.Transport
	if rt == nil {
		want := NormalizeThumbprint(opts.Thumbprint)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{
			InsecureSkipVerify: true, // the thumbprint check below replaces chain verification, as vCenter pins host certificates
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("agentproto: the host sent no certificate")
				}
				der := cs.PeerCertificates[0].Raw
				c.mu.Lock()
				c.cert = der
				c.mu.Unlock()
				if got := Thumbprint(der); got != want {
					return &ThumbprintError{Expected: want, Actual: got}
				}
				return nil
			},
		}
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.ResponseHeaderTimeout = 0
		rt = tr
	}
	c.http = &http.Client{Transport: rt}
	c.stream = &http.Client{Transport: rt}
	return c
}

// Address returns the agent's host:port.
func (c *Client) Address() string { return c.address }

// Certificate returns the agent's certificate (DER) as last seen, nil before
// the first TLS connection.
func (c *Client) Certificate() *x509.Certificate {
	c.mu.Lock()
	der := c.cert
	c.mu.Unlock()
	if der == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	return cert
}

// SetToken sets the token calls authenticate with.
func (c *Client) SetToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

// Login authenticates with req and keeps the token it returns.
func (c *Client) Login(ctx context.Context, req LoginRequest) (LoginResponse, error) {
	var res LoginResponse
	if err := c.call(ctx, http.MethodPost, "login", req, &res); err != nil {
		return res, err
	}
	if res.Version != Version {
		return res, fmt.Errorf("agentproto: the host speaks protocol %q, this server %q", res.Version, Version)
	}
	c.SetToken(res.Token)
	return res, nil
}

// transportError classifies a failed round trip.
func (c *Client) transportError(err error) error {
	var te *ThumbprintError
	if errors.As(err, &te) {
		return te
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &UnreachableError{Address: c.address, Err: err}
}

// call sends one request and decodes its JSON answer into out.
func (c *Client) call(ctx context.Context, method, name string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("agentproto: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+name, body)
	if err != nil {
		return fmt.Errorf("agentproto: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	return decodeResponse(resp, out)
}

func (c *Client) authorize(req *http.Request) {
	c.mu.Lock()
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.mu.Unlock()
}

func decodeResponse(resp *http.Response, out any) error {
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &e) != nil || e.Code == "" {
			return fmt.Errorf("agentproto: %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		return &e
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("agentproto: reading the answer: %w", err)
	}
	return nil
}

// Do runs cmd on the agent. A command that got no answer (a broken
// connection) is sent again with the same operation id, so it applies at
// most once.
func (c *Client) Do(ctx context.Context, cmd Command) (Result, error) {
	if cmd.OpID == "" {
		cmd.OpID = uuid.NewString()
	}
	var res Result
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		res = Result{}
		err = c.call(ctx, http.MethodPost, "op", cmd, &res)
		var ue *UnreachableError
		if !errors.As(err, &ue) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	if err != nil {
		return res, err
	}
	return res, Decode(res.Error)
}

// Stream opens the agent's message stream. The caller reads it until an
// error and closes it.
func (c *Client) Stream(ctx context.Context) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"stream", nil)
	if err != nil {
		return nil, fmt.Errorf("agentproto: %w", err)
	}
	c.authorize(req)
	resp, err := c.stream.Do(req)
	if err != nil {
		return nil, c.transportError(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decodeResponse(resp, nil)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4<<10), 64<<20)
	return &Stream{body: resp.Body, sc: sc}, nil
}

// Stream reads an agent's messages.
type Stream struct {
	body io.Closer
	sc   *bufio.Scanner
}

// Next returns the next message; it blocks until one arrives or the stream
// breaks (io.EOF when the agent closed it).
func (s *Stream) Next() (Message, error) {
	var m Message
	if !s.sc.Scan() {
		if err := s.sc.Err(); err != nil {
			return m, err
		}
		return m, io.EOF
	}
	if err := json.Unmarshal(s.sc.Bytes(), &m); err != nil {
		return m, fmt.Errorf("agentproto: bad message: %w", err)
	}
	return m, nil
}

// Close ends the stream.
func (s *Stream) Close() error { return s.body.Close() }

func (c *Client) vmOp(ctx context.Context, op, id string) error {
	_, err := c.Do(ctx, Command{Op: op, VM: id})
	return err
}

// Info implements driver.Driver.
func (c *Client) Info(ctx context.Context) (driver.HostInfo, error) {
	res, err := c.Do(ctx, Command{Op: OpInfo})
	if err != nil || res.Host == nil {
		return driver.HostInfo{}, errOr(err, "info")
	}
	return *res.Host, nil
}

func errOr(err error, what string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("agentproto: the host's %s answer is empty", what)
}

// Create implements driver.Driver.
func (c *Client) Create(ctx context.Context, spec driver.VMSpec) error {
	_, err := c.Do(ctx, Command{Op: OpCreate, VM: spec.ID, Spec: &spec})
	return err
}

// Reconfigure implements driver.Driver.
func (c *Client) Reconfigure(ctx context.Context, spec driver.VMSpec) error {
	_, err := c.Do(ctx, Command{Op: OpReconfigure, VM: spec.ID, Spec: &spec})
	return err
}

// Destroy implements driver.Driver.
func (c *Client) Destroy(ctx context.Context, id string, deleteFiles bool) error {
	_, err := c.Do(ctx, Command{Op: OpDestroy, VM: id, DeleteFiles: deleteFiles})
	return err
}

// DeleteFile implements driver.Driver.
func (c *Client) DeleteFile(ctx context.Context, path string) error {
	_, err := c.Do(ctx, Command{Op: OpDeleteFile, Path: path})
	return err
}

// PowerOn implements driver.Driver.
func (c *Client) PowerOn(ctx context.Context, id string) error { return c.vmOp(ctx, OpPowerOn, id) }

// PowerOff implements driver.Driver.
func (c *Client) PowerOff(ctx context.Context, id string) error { return c.vmOp(ctx, OpPowerOff, id) }

// Reset implements driver.Driver.
func (c *Client) Reset(ctx context.Context, id string) error { return c.vmOp(ctx, OpReset, id) }

// Suspend implements driver.Driver.
func (c *Client) Suspend(ctx context.Context, id string) error { return c.vmOp(ctx, OpSuspend, id) }

// ShutdownGuest implements driver.Driver.
func (c *Client) ShutdownGuest(ctx context.Context, id string) error {
	return c.vmOp(ctx, OpShutdownGuest, id)
}

// RebootGuest implements driver.Driver.
func (c *Client) RebootGuest(ctx context.Context, id string) error {
	return c.vmOp(ctx, OpRebootGuest, id)
}

// State implements driver.Driver.
func (c *Client) State(ctx context.Context, id string) (driver.VMState, error) {
	res, err := c.Do(ctx, Command{Op: OpState, VM: id})
	if err != nil || res.State == nil {
		return driver.VMState{}, errOr(err, "state")
	}
	return *res.State, nil
}

// List implements driver.Driver.
func (c *Client) List(ctx context.Context) ([]driver.VMState, error) {
	res, err := c.Do(ctx, Command{Op: OpList})
	return res.VMs, err
}

// Stat implements driver.Files.
func (c *Client) Stat(ctx context.Context, path string) (driver.FileInfo, error) {
	res, err := c.Do(ctx, Command{Op: OpStat, Path: path})
	if err != nil || res.File == nil {
		return driver.FileInfo{}, errOr(err, "stat")
	}
	return *res.File, nil
}

// ReadDir implements driver.Files.
func (c *Client) ReadDir(ctx context.Context, path string) ([]driver.FileInfo, error) {
	res, err := c.Do(ctx, Command{Op: OpReadDir, Path: path})
	return res.Files, err
}

// Mkdir implements driver.Files.
func (c *Client) Mkdir(ctx context.Context, path string, parents bool) error {
	_, err := c.Do(ctx, Command{Op: OpMkdir, Path: path, Parents: parents})
	return err
}

// Remove implements driver.Files.
func (c *Client) Remove(ctx context.Context, path string) error {
	_, err := c.Do(ctx, Command{Op: OpRemove, Path: path})
	return err
}

// Move implements driver.Files.
func (c *Client) Move(ctx context.Context, src, dst string, force bool) error {
	_, err := c.Do(ctx, Command{Op: OpMove, Path: src, Dest: dst, Force: force})
	return err
}

// Copy implements driver.Files.
func (c *Client) Copy(ctx context.Context, src, dst string, force bool) error {
	_, err := c.Do(ctx, Command{Op: OpCopy, Path: src, Dest: dst, Force: force})
	return err
}

// CreateDisk implements driver.Files.
func (c *Client) CreateDisk(ctx context.Context, path string, capacityBytes int64) error {
	_, err := c.Do(ctx, Command{Op: OpCreateDisk, Path: path, Size: capacityBytes})
	return err
}

func (c *Client) fileURL(path string) string {
	return c.base + "file?" + url.Values{"path": {path}}.Encode()
}

// OpenFile implements driver.Files: the file is read with ranged GETs, so
// it can be seeked.
func (c *Client) OpenFile(ctx context.Context, path string) (io.ReadSeekCloser, error) {
	fi, err := c.Stat(ctx, path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir {
		return nil, fmt.Errorf("%s: %w", path, driver.ErrIsDirectory)
	}
	return &remoteFile{c: c, ctx: ctx, path: path, size: fi.Size}, nil
}

// remoteFile reads a file on an agent from offset off.
type remoteFile struct {
	c    *Client
	ctx  context.Context
	path string
	size int64
	off  int64
	body io.ReadCloser
}

func (f *remoteFile) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	if f.body == nil {
		req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.c.fileURL(f.path), nil)
		if err != nil {
			return 0, err
		}
		f.c.authorize(req)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", f.off))
		resp, err := f.c.stream.Do(req)
		if err != nil {
			return 0, f.c.transportError(err)
		}
		if err := decodeResponse(resp, nil); err != nil {
			resp.Body.Close()
			return 0, err
		}
		f.body = resp.Body
	}
	n, err := f.body.Read(p)
	f.off += int64(n)
	return n, err
}

func (f *remoteFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.size
	}
	if offset < 0 {
		return 0, errors.New("agentproto: seek before the start of the file")
	}
	if offset != f.off && f.body != nil {
		f.body.Close()
		f.body = nil
	}
	f.off = offset
	return offset, nil
}

func (f *remoteFile) Close() error {
	if f.body != nil {
		return f.body.Close()
	}
	return nil
}

// CreateFile implements driver.Files: what is written streams to the agent
// in one PUT, which Close completes.
func (c *Client) CreateFile(ctx context.Context, path string) (io.WriteCloser, error) {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.fileURL(path), pr)
	if err != nil {
		return nil, fmt.Errorf("agentproto: %w", err)
	}
	c.authorize(req)
	w := &remoteWriter{pw: pw, done: make(chan error, 1)}
	go func() { // owned by w: Close waits for it
		resp, err := c.stream.Do(req)
		if err != nil {
			err = c.transportError(err)
		} else {
			err = decodeResponse(resp, nil)
			resp.Body.Close()
		}
		pr.CloseWithError(err)
		w.done <- err
	}()
	return w, nil
}

type remoteWriter struct {
	pw   *io.PipeWriter
	done chan error
}

func (w *remoteWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

func (w *remoteWriter) Close() error {
	w.pw.Close()
	return <-w.done
}
