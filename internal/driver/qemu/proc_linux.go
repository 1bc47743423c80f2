package qemu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 on every architecture QEMU hosts run.
const userHZ = 100

// procStat is what /proc/<pid>/stat says about a process.
type procStat struct {
	state      byte   // R, S, D, Z, X ...
	cpuTicks   uint64 // user plus system CPU time, in 1/userHZ s
	startTicks uint64 // start time after boot, in 1/userHZ s
	rssBytes   int64  // resident memory
}

// readProcStat reads /proc/<pid>/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after it start with field 3, the state.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	num := func(k int) uint64 { n, _ := strconv.ParseUint(f[k], 10, 64); return n }
	return procStat{
		state:      f[0][0],
		cpuTicks:   num(11) + num(12),                        // fields 14 utime and 15 stime
		startTicks: num(19),                                  // field 22 starttime
		rssBytes:   int64(num(21)) * int64(os.Getpagesize()), // field 24 rss, in pages
	}, nil
}

// alive reports whether process pid exists and has not exited (a zombie
// has).
func alive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// uptimeTicks returns the time since boot in 1/userHZ s.
func uptimeTicks() (uint64, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("/proc/uptime: empty")
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/uptime: %w", err)
	}
	return uint64(s * userHZ), nil
}

// vmIDEnv names the environment variable that marks a QEMU process as the
// one running a VM, so a restarted agent never adopts a stranger that
// reuses a stale pid.
const vmIDEnv = "VIREO_VM_ID"

// isVMProcess reports whether pid is a live QEMU process started for VM id.
func isVMProcess(pid int, id string) bool {
	if pid <= 0 || !alive(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if !strings.Contains(filepath.Base(string(argv0)), "qemu") {
		return false
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	want := vmIDEnv + "=" + id
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if string(kv) == want {
			return true
		}
	}
	return false
}

// maxSocketPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes, NUL included).
const maxSocketPath = 107

// dialUnix connects to the unix socket at path. A path too long for a
// socket address is reached through /proc/self/fd and an open handle on
// its directory, so deep state directories work.
func dialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	if len(path) <= maxSocketPath {
		return d.DialContext(ctx, "unix", path)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	short := fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	c, err := d.DialContext(ctx, "unix", short)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	return c, nil
}

// hostFacts are the hardware facts of the machine the driver runs on.
type hostFacts struct {
	threads, cores int16
	mhz            int32
	memoryBytes    int64
	model          string
	vendor, system string
	uuid           string
}

// readHostFacts reads the host's hardware from /proc and /sys.
func readHostFacts() hostFacts {
	h := hostFacts{threads: int16(runtime.NumCPU())}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		cores := map[string]bool{}
		var phys string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch k {
			case "model name":
				if h.model == "" {
					h.model = v
				}
			case "cpu MHz":
				if mhz, err := strconv.ParseFloat(v, 64); err == nil && h.mhz == 0 {
					h.mhz = int32(mhz + 0.5)
				}
			case "physical id":
				phys = v
			case "core id":
				cores[phys+"/"+v] = true
			}
		}
		f.Close()
		h.cores = int16(len(cores))
	}
	if khz := readTrimmed("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); khz != "" {
		if n, err := strconv.Atoi(khz); err == nil && n > 0 {
			h.mhz = int32(n / 1000)
		}
	}
	if h.cores == 0 || h.cores > h.threads {
		h.cores = h.threads
	}
	if h.mhz == 0 {
		h.mhz = 1000
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		h.memoryBytes = int64(si.Totalram) * int64(si.Unit)
	}
	h.vendor = readTrimmed("/sys/class/dmi/id/sys_vendor")
	h.system = readTrimmed("/sys/class/dmi/id/product_name")
	h.uuid = strings.ToLower(readTrimmed("/sys/class/dmi/id/product_uuid"))
	if h.uuid == "" {
		h.uuid = uuidFrom(readTrimmed("/etc/machine-id"))
	}
	return h
}

func readTrimmed(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// uuidFrom derives a stable UUID-formatted id from s (a machine id).
func uuidFrom(s string) string {
	if s == "" {
		s, _ = os.Hostname()
	}
	b := sha256.Sum256([]byte("vireo-host:" + s))
	b[6] = b[6]&0x0f | 0x50 // version 5 style
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newCommand returns the command that runs QEMU for VM id in dir. QEMU
// gets a session of its own, so it outlives the agent and no signal sent to
// the agent's process group (a Ctrl-C) reaches it; the environment marks
// it as the VM's (see isVMProcess).
func newCommand(qemu string, args []string, dir, id string) *exec.Cmd {
	cmd := exec.Command(qemu, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), vmIDEnv+"="+id)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

// killProcess sends SIGKILL to pid; a process already gone is no error.
func killProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill QEMU (pid %d): %w", pid, err)
	}
	return nil
}
