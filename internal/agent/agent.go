// Package agent is the host side of the agent protocol (internal/agentproto):
// an http.Handler that authenticates the server, runs its commands on a
// driver.Driver exactly once per operation id, streams heartbeats with the
// host's facts, and serves datastore files. `vireo host` serves it over TLS;
// the server's in-process hosts serve it without a network.
package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/driver"
)

// Config configures an Agent.
type Config struct {
	// Driver runs the host's VMs; when it also implements driver.Files the
	// agent serves file operations.
	Driver driver.Driver
	// Password is root's password. Empty means only tokens log in.
	Password string
	// StateDir holds the tokens issued to servers, so they survive a
	// restart; empty keeps them in memory.
	StateDir string
	// HeartbeatInterval overrides agentproto.HeartbeatInterval.
	HeartbeatInterval time.Duration
	// AgentVersion names the build in LoginResponse.
	AgentVersion string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Agent serves the agent protocol for one host.
type Agent struct {
	cfg   Config
	files driver.Files

	// mu guards tokens and ops.
	mu     sync.Mutex
	tokens map[string]bool // sha256 hex of each token
	ops    map[string]*op
	order  []string // op ids, oldest first, for eviction
}

// op is one command's execution; done closes when res is set.
type op struct {
	done chan struct{}
	res  agentproto.Result
}

// New returns an agent for cfg, loading the tokens saved in cfg.StateDir.
func New(cfg Config) (*Agent, error) {
	if cfg.Driver == nil {
		return nil, errors.New("agent: no driver")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = agentproto.HeartbeatInterval
	}
	a := &Agent{cfg: cfg, tokens: map[string]bool{}, ops: map[string]*op{}}
	a.files, _ = cfg.Driver.(driver.Files)
	if cfg.StateDir != "" {
		b, err := os.ReadFile(a.tokenFile())
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("agent: %w", err)
		}
		for _, line := range strings.Fields(string(b)) {
			a.tokens[line] = true
		}
	}
	return a, nil
}

func (a *Agent) tokenFile() string { return filepath.Join(a.cfg.StateDir, "tokens") }

// ServeHTTP implements http.Handler.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, agentproto.Prefix)
	if !ok {
		writeError(w, http.StatusNotFound, &agentproto.Error{Code: agentproto.CodeBadRequest,
			Message: fmt.Sprintf("unknown path %q; this agent speaks protocol %s", r.URL.Path, agentproto.Version)})
		return
	}
	if name == "login" && r.Method == http.MethodPost {
		a.login(w, r)
		return
	}
	if !a.authorized(r) {
		writeError(w, http.StatusUnauthorized, &agentproto.Error{Code: agentproto.CodeNotAuthenticated, Message: "log in first"})
		return
	}
	switch {
	case name == "op" && r.Method == http.MethodPost:
		a.command(w, r)
	case name == "stream" && r.Method == http.MethodGet:
		a.stream(w, r)
	case name == "file" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		a.getFile(w, r)
	case name == "file" && r.Method == http.MethodPut:
		a.putFile(w, r)
	default:
		writeError(w, http.StatusNotFound, &agentproto.Error{Code: agentproto.CodeBadRequest,
			Message: fmt.Sprintf("no call %s %s", r.Method, r.URL.Path)})
	}
}

func writeError(w http.ResponseWriter, status int, e *agentproto.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func (a *Agent) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokens[hashToken(tok)]
}

func (a *Agent) login(w http.ResponseWriter, r *http.Request) {
	var req agentproto.LoginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, &agentproto.Error{Code: agentproto.CodeBadRequest, Message: "login: " + err.Error()})
		return
	}
	token, err := a.authenticate(req)
	if err != nil {
		a.cfg.Logger.Warn("agent: login refused", "user", req.User, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, agentproto.Encode(err))
		return
	}
	info, err := a.cfg.Driver.Info(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, agentproto.Encode(err))
		return
	}
	writeJSON(w, agentproto.LoginResponse{Token: token, Version: agentproto.Version, AgentVersion: a.cfg.AgentVersion, Host: info})
}

// authenticate checks req and returns the token the server uses from now on.
func (a *Agent) authenticate(req agentproto.LoginRequest) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.Token != "" {
		if a.tokens[hashToken(req.Token)] {
			return req.Token, nil
		}
		return "", fmt.Errorf("the token is not known to this host; add the host again with root's password: %w", agentproto.ErrNotAuthenticated)
	}
	if a.cfg.Password == "" || req.User != agentproto.RootUser ||
		subtle.ConstantTimeCompare([]byte(req.Password), []byte(a.cfg.Password)) != 1 {
		return "", fmt.Errorf("cannot complete login due to an incorrect user name or password: %w", agentproto.ErrNotAuthenticated)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	h := hashToken(token)
	if a.cfg.StateDir != "" {
		if err := appendLine(a.tokenFile(), h); err != nil {
			return "", err
		}
	}
	a.tokens[h] = true
	return token, nil
}

func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if _, err = f.WriteString(line + "\n"); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

func (a *Agent) command(w http.ResponseWriter, r *http.Request) {
	var cmd agentproto.Command
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<22)).Decode(&cmd); err != nil {
		writeError(w, http.StatusBadRequest, &agentproto.Error{Code: agentproto.CodeBadRequest, Message: "command: " + err.Error()})
		return
	}
	if cmd.OpID == "" {
		writeError(w, http.StatusBadRequest, &agentproto.Error{Code: agentproto.CodeBadRequest, Message: "command: opId is required"})
		return
	}
	if readOnly(cmd.Op) {
		// Nothing to apply twice: a retry simply reads again.
		writeJSON(w, a.run(r.Context(), cmd))
		return
	}
	o, first := a.claim(cmd.OpID)
	if first {
		// The operation runs to its end even if this request goes away:
		// a retry with the same id then gets its result.
		o.res = a.run(context.WithoutCancel(r.Context()), cmd)
		close(o.done)
	}
	select {
	case <-o.done:
		writeJSON(w, o.res)
	case <-r.Context().Done():
	}
}

// readOnly reports whether op only reads, so its result need not be
// remembered for retries.
func readOnly(op string) bool {
	switch op {
	case agentproto.OpInfo, agentproto.OpState, agentproto.OpList, agentproto.OpStat, agentproto.OpReadDir:
		return true
	}
	return false
}

// claim returns the op for id, and whether the caller must run it.
func (a *Agent) claim(id string) (*op, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if o, ok := a.ops[id]; ok {
		return o, false
	}
	o := &op{done: make(chan struct{})}
	a.ops[id] = o
	a.order = append(a.order, id)
	if len(a.order) > agentproto.MaxRememberedOps {
		delete(a.ops, a.order[0])
		a.order = a.order[1:]
	}
	return o, true
}

// run executes one command on the driver.
func (a *Agent) run(ctx context.Context, cmd agentproto.Command) (res agentproto.Result) {
	d := a.cfg.Driver
	var err error
	needFiles := func() bool {
		if a.files == nil {
			err = fmt.Errorf("this host's backend has no datastore file access: %w", errors.ErrUnsupported)
			return false
		}
		return true
	}
	needSpec := func() bool {
		if cmd.Spec == nil {
			err = errors.New("the command has no VM spec")
			return false
		}
		return true
	}
	switch cmd.Op {
	case agentproto.OpInfo:
		var info driver.HostInfo
		if info, err = d.Info(ctx); err == nil {
			res.Host = &info
		}
	case agentproto.OpCreate:
		if needSpec() {
			err = d.Create(ctx, *cmd.Spec)
		}
	case agentproto.OpReconfigure:
		if needSpec() {
			err = d.Reconfigure(ctx, *cmd.Spec)
		}
	case agentproto.OpDestroy:
		err = d.Destroy(ctx, cmd.VM, cmd.DeleteFiles)
	case agentproto.OpDeleteFile:
		err = d.DeleteFile(ctx, cmd.Path)
	case agentproto.OpPowerOn:
		err = d.PowerOn(ctx, cmd.VM)
	case agentproto.OpPowerOff:
		err = d.PowerOff(ctx, cmd.VM)
	case agentproto.OpReset:
		err = d.Reset(ctx, cmd.VM)
	case agentproto.OpSuspend:
		err = d.Suspend(ctx, cmd.VM)
	case agentproto.OpShutdownGuest:
		err = d.ShutdownGuest(ctx, cmd.VM)
	case agentproto.OpRebootGuest:
		err = d.RebootGuest(ctx, cmd.VM)
	case agentproto.OpState:
		var st driver.VMState
		if st, err = d.State(ctx, cmd.VM); err == nil {
			res.State = &st
		}
	case agentproto.OpList:
		res.VMs, err = d.List(ctx)
	case agentproto.OpStat:
		if needFiles() {
			var fi driver.FileInfo
			if fi, err = a.files.Stat(ctx, cmd.Path); err == nil {
				res.File = &fi
			}
		}
	case agentproto.OpReadDir:
		if needFiles() {
			res.Files, err = a.files.ReadDir(ctx, cmd.Path)
		}
	case agentproto.OpMkdir:
		if needFiles() {
			err = a.files.Mkdir(ctx, cmd.Path, cmd.Parents)
		}
	case agentproto.OpRemove:
		if needFiles() {
			err = a.files.Remove(ctx, cmd.Path)
		}
	case agentproto.OpMove:
		if needFiles() {
			err = a.files.Move(ctx, cmd.Path, cmd.Dest, cmd.Force)
		}
	case agentproto.OpCopy:
		if needFiles() {
			err = a.files.Copy(ctx, cmd.Path, cmd.Dest, cmd.Force)
		}
	case agentproto.OpCreateDisk:
		if needFiles() {
			err = a.files.CreateDisk(ctx, cmd.Path, cmd.Size)
		}
	default:
		res.Error = &agentproto.Error{Code: agentproto.CodeBadRequest, Message: fmt.Sprintf("unknown operation %q", cmd.Op)}
		return res
	}
	if err != nil {
		a.cfg.Logger.Debug("agent: operation failed", "op", cmd.Op, "vm", cmd.VM, "path", cmd.Path, "err", err)
	}
	res.Error = agentproto.Encode(err)
	return res
}

// stream writes a hello, then a heartbeat every interval, until the client
// goes away.
func (a *Agent) stream(w http.ResponseWriter, r *http.Request) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	ctx := r.Context()
	ticker := time.NewTicker(a.cfg.HeartbeatInterval)
	defer ticker.Stop()
	var sampled time.Time // the period of the last sample sent
	for seq := uint64(1); ; seq++ {
		msg := agentproto.Message{Type: agentproto.MessageHeartbeat, Seq: seq, Time: a.cfg.Now()}
		if seq == 1 {
			msg.Type = agentproto.MessageHello
		}
		if info, err := a.cfg.Driver.Info(ctx); err == nil {
			msg.Host = &info
		} else {
			a.cfg.Logger.Warn("agent: host facts", "err", err)
		}
		vms, err := a.cfg.Driver.List(ctx)
		if err != nil {
			a.cfg.Logger.Warn("agent: VM states", "err", err)
		}
		msg.VMs = vms
		if period := msg.Time.Truncate(agentproto.SamplePeriod); err == nil && period.After(sampled) {
			msg.Sample, sampled = agentproto.NewSample(period, vms), period
		}
		if err := enc.Encode(msg); err != nil {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (a *Agent) getFile(w http.ResponseWriter, r *http.Request) {
	if a.files == nil {
		writeError(w, http.StatusNotImplemented, &agentproto.Error{Code: agentproto.CodeBadRequest, Message: "this host's backend has no datastore file access"})
		return
	}
	path := r.URL.Query().Get("path")
	fi, err := a.files.Stat(r.Context(), path)
	if err == nil && fi.IsDir {
		err = fmt.Errorf("%s: %w", path, driver.ErrIsDirectory)
	}
	if err != nil {
		writeError(w, statusOf(err), agentproto.Encode(err))
		return
	}
	f, err := a.files.OpenFile(r.Context(), path)
	if err != nil {
		writeError(w, statusOf(err), agentproto.Encode(err))
		return
	}
	defer f.Close()
	http.ServeContent(w, r, fi.Name, fi.ModTime, f)
}

func (a *Agent) putFile(w http.ResponseWriter, r *http.Request) {
	if a.files == nil {
		writeError(w, http.StatusNotImplemented, &agentproto.Error{Code: agentproto.CodeBadRequest, Message: "this host's backend has no datastore file access"})
		return
	}
	f, err := a.files.CreateFile(r.Context(), r.URL.Query().Get("path"))
	if err != nil {
		writeError(w, statusOf(err), agentproto.Encode(err))
		return
	}
	_, err = driver.CopySparse(f, r.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		writeError(w, statusOf(err), agentproto.Encode(err))
		return
	}
	writeJSON(w, agentproto.Result{})
}

func statusOf(err error) int {
	switch agentproto.Encode(err).Code {
	case agentproto.CodeFileNotFound, agentproto.CodeDatastoreNotFound:
		return http.StatusNotFound
	case agentproto.CodeFileExists, agentproto.CodeIsDirectory, agentproto.CodeNotDirectory:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
