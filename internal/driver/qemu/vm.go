package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/guest"
)

// vm is one VM the driver knows, with its QEMU process while it runs.
type vm struct {
	id  string
	dir string // run directory

	// op serializes the operations on the VM.
	op sync.Mutex

	// mu guards the fields below.
	mu    sync.Mutex
	rec   record
	proc  *process          // the running QEMU; nil when it does not run
	off   driver.PowerState // PoweredOff or Suspended, when proc is nil
	cpu   cpuSample
	gconn *guest.Conn // the guest channel of proc, nil until connected
}

// process is a running QEMU.
type process struct {
	pid int
	qmp *qmpClient // nil when the monitor could not be reached
	// waited is closed when Wait returned, for a QEMU this driver started;
	// nil for an adopted one.
	waited <-chan struct{}
	// exited is closed once the process is gone and the VM's state says so.
	exited chan struct{}
}

// cpuSample is the last reading of a QEMU's CPU time.
type cpuSample struct {
	at    time.Time
	ticks uint64
	mhz   int32
}

// power returns the VM's power state.
func (v *vm) power() driver.PowerState {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.powerLocked()
}

func (v *vm) powerLocked() driver.PowerState {
	if v.proc != nil {
		return driver.PoweredOn
	}
	if v.off == "" {
		return driver.PoweredOff
	}
	return v.off
}

func (v *vm) spec() driver.VMSpec {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.rec.Spec
}

func (v *vm) path(name string) string { return filepath.Join(v.dir, name) }

// save writes the VM's record atomically.
func (v *vm) save() error {
	v.mu.Lock()
	b, err := json.MarshalIndent(v.rec, "", "  ")
	v.mu.Unlock()
	if err != nil {
		return fmt.Errorf("qemu: %s: %w", v.id, err)
	}
	tmp := v.path(recordFile + ".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("qemu: %s: %w", v.id, err)
	}
	if err := os.Rename(tmp, v.path(recordFile)); err != nil {
		return fmt.Errorf("qemu: %s: %w", v.id, err)
	}
	return nil
}

// restingState is the state of a VM whose QEMU does not run: suspended when
// a saved state is on disk, powered off otherwise.
func (v *vm) restingState() driver.PowerState {
	if _, err := os.Stat(v.path(savedState)); err == nil {
		return driver.Suspended
	}
	return driver.PoweredOff
}

// adopt takes over the VM's QEMU if it still runs, the way Nomad's qemu
// driver recovers a task: the pid file names the process, whose
// environment must mark it as this VM's, and the monitor socket reconnects.
func (d *Driver) adopt(v *vm) {
	os.Remove(v.path(savedState + ".tmp")) // an interrupted suspend
	pid := readPid(v.dir)
	if !isVMProcess(pid, v.id) {
		os.Remove(v.path(pidFile))
		v.off = v.restingState()
		return
	}
	p := &process{pid: pid, exited: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), qmpGreetingTimeout)
	defer cancel()
	if q, err := dialQMP(ctx, v.path(qmpSocket)); err == nil {
		p.qmp = q
		resumeInterrupted(ctx, q)
	}
	v.proc = p
	d.watch(v, p)
}

// resumeInterrupted restarts the guest of a QEMU left paused by a suspend
// that an agent exit interrupted: Vireo never leaves a running VM paused.
func resumeInterrupted(ctx context.Context, q *qmpClient) {
	var st struct {
		Status string `json:"status"`
	}
	if err := q.execute(ctx, "query-status", nil, &st); err != nil {
		return
	}
	if st.Status == "paused" || st.Status == "postmigrate" {
		_ = q.execute(ctx, "cont", nil, nil)
	}
}

// exitPollInterval is how often a watcher checks that an adopted QEMU, which
// is not this process's child, still runs; its monitor connection closing
// wakes the watcher at once.
const exitPollInterval = time.Second

// watch starts the goroutine that notices when p exits, whether asked to
// or on its own (the guest powered off, QEMU crashed or was killed), and
// records the VM's new state.
func (d *Driver) watch(v *vm, p *process) {
	d.watchers.Add(1)
	go func() {
		defer d.watchers.Done()
		var qmpDone <-chan struct{}
		if p.qmp != nil {
			qmpDone = p.qmp.Done()
		}
		tick := time.NewTicker(exitPollInterval)
		defer tick.Stop()
		for {
			select {
			case <-d.closing:
				d.release(v, p)
				return
			case <-p.waited:
			case <-qmpDone:
				qmpDone = nil
				tick.Reset(20 * time.Millisecond) // QEMU is on its way out
				continue
			case <-tick.C:
				if alive(p.pid) {
					continue
				}
			}
			d.exited(v, p)
			return
		}
	}()
}

// release closes the driver's connections to a QEMU that keeps running.
func (d *Driver) release(v *vm, p *process) {
	if p.qmp != nil {
		p.qmp.Close()
	}
	v.mu.Lock()
	g := v.gconn
	v.gconn = nil
	v.mu.Unlock()
	if g != nil {
		g.Close()
	}
}

// exited records that p is gone: the VM is powered off, or suspended when
// it left a saved state.
func (d *Driver) exited(v *vm, p *process) {
	v.mu.Lock()
	if v.proc == p {
		v.proc = nil
		v.off = v.restingState()
		v.cpu = cpuSample{}
	}
	v.mu.Unlock()
	d.release(v, p)
	if readPid(v.dir) == p.pid {
		os.Remove(v.path(pidFile))
	}
	close(p.exited)
}

// errExitedAtStart is the error of a QEMU that exited before its monitor
// answered, when it said nothing.
var errExitedAtStart = errors.New("QEMU exited at start")

// start runs QEMU with args for the VM and waits until its monitor
// answers; incoming, when set, is a saved state for QEMU to load. A QEMU
// that exits first yields an error with what it wrote to its standard
// error.
func (d *Driver) start(ctx context.Context, v *vm, args []string, incoming *os.File) (*process, error) {
	for _, f := range []string{pidFile, qmpSocket, guestSocket} {
		os.Remove(v.path(f))
	}
	logf, err := os.OpenFile(v.path(qemuLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	logStart, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "%s vireo: starting %s\n", d.cfg.Now().UTC().Format(time.RFC3339), d.cfg.QEMUPath)
	if incoming != nil {
		args = append(args, "-incoming", "fd:3") // ExtraFiles[0]
	}
	cmd := newCommand(d.cfg.QEMUPath, args, v.dir, v.id)
	cmd.Stdout, cmd.Stderr = logf, logf
	if incoming != nil {
		cmd.ExtraFiles = []*os.File{incoming}
	}
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return nil, err
	}
	waited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(waited)
	}()
	p := &process{pid: cmd.Process.Pid, waited: waited, exited: make(chan struct{})}

	ctx, cancel := context.WithTimeout(ctx, d.cfg.StartTimeout)
	defer cancel()
	// fail stops the QEMU and returns why it failed: what QEMU said when it
	// exited on its own, err with what it said otherwise.
	fail := func(err error) (*process, error) {
		exited := errors.Is(err, errExitedAtStart) || (p.qmp != nil && p.qmp.Err() != nil)
		if exited {
			select {
			case <-waited:
			case <-time.After(stopTimeout):
				exited = false
			}
		}
		_ = cmd.Process.Kill()
		<-waited
		if p.qmp != nil {
			p.qmp.Close()
		}
		msg := d.datastorePaths(qemuErrors(v.path(qemuLog), logStart))
		switch {
		case msg == "":
			return nil, err
		case exited:
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("%w; QEMU: %s", err, msg)
	}
	for {
		q, err := dialQMP(ctx, v.path(qmpSocket))
		if err == nil {
			p.qmp = q
			break
		}
		select {
		case <-waited:
			return fail(errExitedAtStart)
		case <-ctx.Done():
			return fail(fmt.Errorf("QEMU did not answer on its monitor: %w", ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if incoming != nil {
		if err := waitIncoming(ctx, p.qmp, waited); err != nil {
			return fail(err)
		}
	}
	return p, nil
}

// waitIncoming waits until QEMU loaded its saved state, and runs the guest:
// a state saved from a paused VM loads paused.
func waitIncoming(ctx context.Context, q *qmpClient, waited <-chan struct{}) error {
	for {
		var st struct {
			Status string `json:"status"`
		}
		if err := q.execute(ctx, "query-status", nil, &st); err != nil {
			return fmt.Errorf("loading the saved state: %w", err)
		}
		switch st.Status {
		case "running":
			return nil
		case "paused", "postmigrate", "prelaunch":
			return q.execute(ctx, "cont", nil, nil)
		case "inmigrate":
		default:
			return fmt.Errorf("loading the saved state: QEMU is %s", st.Status)
		}
		select {
		case <-waited:
			return errors.New("QEMU exited loading the saved state")
		case <-ctx.Done():
			return fmt.Errorf("loading the saved state: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// qemuErrors returns the lines QEMU wrote to its log after offset, without
// Vireo's own, joined with "; ".
func qemuErrors(logPath string, offset int64) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 16<<10))
	var lines []string
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSpace(l)
		if l != "" && !strings.Contains(l, " vireo: ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// datastorePaths replaces the host paths of files on datastores in a QEMU
// message with their datastore paths, which is what a client knows.
func (d *Driver) datastorePaths(msg string) string {
	mounts := d.Mounts()
	names := make([]string, 0, len(mounts))
	for name := range mounts {
		names = append(names, name)
	}
	// Longest directory first, in case one datastore lies inside another.
	sort.Slice(names, func(i, j int) bool { return len(mounts[names[i]]) > len(mounts[names[j]]) })
	for _, name := range names {
		dir := filepath.Clean(mounts[name])
		msg = strings.ReplaceAll(msg, dir+"/", "["+name+"] ")
		msg = strings.ReplaceAll(msg, dir, "["+name+"]")
	}
	return msg
}

// stopTimeout bounds how long a QEMU asked to quit may take before it is
// killed.
const stopTimeout = 10 * time.Second

// stop ends p: quit over the monitor, then SIGKILL if it lingers. It returns
// once the VM's state records the exit.
func (d *Driver) stop(ctx context.Context, p *process) error {
	if p.qmp != nil {
		qctx, cancel := context.WithTimeout(ctx, stopTimeout)
		err := p.qmp.execute(qctx, "quit", nil, nil)
		cancel()
		if err == nil || errors.Is(err, errQMPClosed) {
			select {
			case <-p.exited:
				return nil
			case <-time.After(stopTimeout):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := killProcess(p.pid); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("QEMU (pid %d) did not exit", p.pid)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// usage returns the CPU the VM's QEMU used since the last reading (since it
// started, at the first) in MHz of the host's CPUs, and its resident memory.
func (v *vm) usage(pid int, hostMHz int32) (cpuMHz, memMB int32) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, 0
	}
	memMB = int32(st.rssBytes >> 20)
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	prev := v.cpu
	switch {
	case prev.at.IsZero():
		up, err := uptimeTicks()
		if err != nil || up <= st.startTicks {
			return 0, memMB
		}
		v.cpu = cpuSample{at: now, ticks: st.cpuTicks,
			mhz: int32(float64(st.cpuTicks) / float64(up-st.startTicks) * float64(hostMHz))}
	case now.Sub(prev.at) >= time.Second && st.cpuTicks >= prev.ticks:
		busy := float64(st.cpuTicks-prev.ticks) / userHZ
		v.cpu = cpuSample{at: now, ticks: st.cpuTicks,
			mhz: int32(busy / now.Sub(prev.at).Seconds() * float64(hostMHz))}
	}
	return v.cpu.mhz, memMB
}

// guestConn returns the connection to p's guest channel, connecting when
// there is none (after a start or an agent restart) or it closed; nil when
// the channel cannot be reached.
func (d *Driver) guestConn(ctx context.Context, v *vm, p *process) *guest.Conn {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.proc != p {
		return nil
	}
	if v.gconn != nil && v.gconn.Err() == nil {
		return v.gconn
	}
	select {
	case <-d.closing:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := dialUnix(ctx, v.path(guestSocket))
	if err != nil {
		return nil
	}
	if v.gconn != nil {
		v.gconn.Close()
	}
	v.gconn = guest.NewConn(c, guest.Options{})
	return v.gconn
}
