package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// agentPassword is root's password on every benchmark agent.
const agentPassword = "bench-Root-1!"

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// agentProc is one `vireo host` child process, in its own process group.
type agentProc struct {
	name       string
	addr       string // host:port it listens on
	thumbprint string // its certificate's SHA-1 thumbprint, as it printed it
	datastore  string // the name of its one datastore
	logPath    string
	cmd        *exec.Cmd
	exited     chan struct{}
}

// children holds every child process, so that any exit path (an error, a
// signal) can stop them all.
type children struct {
	mu    sync.Mutex
	procs []*agentProc
}

// kids are the benchmark's child processes.
var kids children

func (c *children) add(p *agentProc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs = append(c.procs, p)
}

// stopAll sends SIGTERM to every child's process group, waits up to 10 s
// for them to exit, then kills what is left. It is safe to call more than
// once.
func (c *children) stopAll() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.After(10 * time.Second)
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-deadline:
		}
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	}
}

// startAgent starts `vireo host --backend sim` listening on listen, with
// one datastore under dir, and waits until it prints its address and
// thumbprint. The process is in kids from the moment it starts.
func startAgent(ctx context.Context, bin, dir, name, listen string, heartbeat time.Duration) (*agentProc, error) {
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	p := &agentProc{name: name, datastore: "local-" + name, logPath: filepath.Join(home, "agent.log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, "host", "--listen", listen, "--backend", "sim", "--name", name,
		"--state-dir", filepath.Join(home, "state"), "--datastore", p.datastore+"="+filepath.Join(home, "ds"),
		"--heartbeat", heartbeat.String(), "--log-level", "warn")
	p.cmd.Env = append(os.Environ(), "VIREO_HOST_PASSWORD="+agentPassword)
	// Its own process group, so that stopAll reaches anything it starts;
	// Pdeathsig kills it should the benchmark itself be killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = logFile
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	kids.add(p)
	go func() { // ends when the process exits
		_ = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	ready := make(chan [2]string, 1)
	go func() { // ends at the end of the agent's output
		defer logFile.Close()
		readBanner(pr, logFile, ready)
	}()
	select {
	case got := <-ready:
		p.addr, p.thumbprint = got[0], got[1]
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before it listened; see %s:\n%s", name, p.logPath, tail(p.logPath))
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("%s did not print its address within a minute; see %s", name, p.logPath)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readBanner copies an agent's output to log and sends its address and
// thumbprint on ready once it printed both.
func readBanner(r io.Reader, log io.Writer, ready chan<- [2]string) {
	var addr, thumb string
	sent := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if _, a, ok := strings.Cut(line, "listening on "); ok {
			addr = strings.TrimSpace(a)
		}
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "thumbprint:"); ok {
			thumb = strings.TrimSpace(t)
		}
		if addr != "" && thumb != "" && !sent {
			ready <- [2]string{addr, thumb}
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// tail returns the last lines of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// procDir is /proc/PID, or /proc/self for pid 0.
func procDir(pid int) string {
	if pid == 0 {
		return "/proc/self"
	}
	return "/proc/" + strconv.Itoa(pid)
}

// cpuTime is the CPU time (user + system) process pid used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(procDir(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which may hold spaces, start
	// with field 3 (state); utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed " + procDir(pid) + "/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short " + procDir(pid) + "/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// memory is a process's memory use, in KiB.
type memory struct {
	rss  int64 // resident set (VmRSS)
	anon int64 // its anonymous part: heap, stacks (RssAnon)
	// pss is the proportional set size: pages shared with other
	// processes (the executable's, among the agents) count in part, so
	// the sum over processes is their memory together.
	pss int64
}

// memoryOf reads process pid's memory use.
func memoryOf(pid int) (memory, error) {
	var m memory
	fields := map[string]*int64{"VmRSS:": &m.rss, "RssAnon:": &m.anon}
	if err := readKiB(procDir(pid)+"/status", fields); err != nil {
		return m, err
	}
	return m, readKiB(procDir(pid)+"/smaps_rollup", map[string]*int64{"Pss:": &m.pss})
}

// readKiB reads the "Name: N kB" lines of a /proc file that fields names.
func readKiB(path string, fields map[string]*int64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	seen := 0
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || fields[f[0]] == nil {
			continue
		}
		if *fields[f[0]], err = strconv.ParseInt(f[1], 10, 64); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		seen++
	}
	if seen != len(fields) {
		return fmt.Errorf("%s lacks some of %v", path, fields)
	}
	return nil
}

// loadAvg is the machine's 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
