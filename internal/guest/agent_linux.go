//go:build linux

package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// AgentMain runs the guest side of Vireo inside the guest image and returns
// the process exit code. args are the words after the agent's own name:
//
//	init   PID 1 (started by /init): mount the kernel file systems, load
//	       modules, set the host name, start the agent and DHCP, reap orphans
//	agent  the guest agent proper, started and restarted by init
//
// It is meant only for the image Build makes; on any other machine init
// refuses to run.
func AgentMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: vireo-guest init|agent")
		return 2
	}
	switch args[0] {
	case "init":
		if os.Getpid() != 1 {
			fmt.Fprintln(os.Stderr, "vireo-guest: init must run as PID 1 inside the guest image")
			return 2
		}
		runInit()
		return 1 // runInit only returns on a fatal error
	case "agent":
		if err := runAgent(); err != nil {
			logf("agent: %v", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(os.Stderr, "vireo-guest: unknown mode %q (want init or agent)\n", args[0])
		return 2
	}
}

// Paths inside the guest image.
const (
	modulesList      = "/etc/vireo-guest/modules" // module files to load, in dependency order
	dhcpScript       = "/usr/share/udhcpc/default.script"
	appHeartbeatFile = "/run/vireo-guest/app-heartbeat" // see AppHeartbeatCommand
	fwCfgHostName    = "/sys/firmware/qemu_fw_cfg/by_name/" + FwCfgHostName + "/raw"
	defaultHostName  = "vireo-guest"
)

// logf prints one line to the serial console (the agent's stdout is
// /dev/console, which the kernel command line points at ttyS0), stamped
// with the seconds since boot like the kernel's own lines.
func logf(format string, args ...any) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	fmt.Fprintf(os.Stdout, "[%5d.%03d] vireo-guest: "+format+"\n",
		append([]any{ts.Sec, ts.Nsec / 1e6}, args...)...)
}

// runAgent is the guest agent: it opens the guest channel port and serves
// the host until the process is killed.
func runAgent() error {
	dev := waitForPort(PortName)
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()
	a := &agent{port: f}
	logf("agent: guest channel on %s", dev)
	go a.heartbeats()
	a.serve()
	return nil
}

// waitForPort returns the device of the virtio-serial port named name,
// waiting for the driver to create it.
func waitForPort(name string) string {
	warned := false
	for {
		ports, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, p := range ports {
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == name {
				dev := "/dev/" + filepath.Base(filepath.Dir(p))
				if _, err := os.Stat(dev); err == nil {
					return dev
				}
			}
		}
		if !warned {
			logf("agent: waiting for virtio-serial port %s", name)
			warned = true
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type agent struct {
	port *os.File
	wmu  sync.Mutex

	last string // last heartbeat state printed to the console
}

// send writes one message. A write blocks while no host is connected to the
// port; that is fine, it proceeds when one connects.
func (a *agent) send(m message) {
	b, err := json.Marshal(m)
	if err != nil {
		logf("agent: %v", err)
		return
	}
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if _, err := a.port.Write(append(b, '\n')); err != nil {
		logf("agent: write: %v", err)
		time.Sleep(time.Second)
	}
}

// heartbeats sends a heartbeat every second and prints the state to the
// console when it changes, and once a minute.
func (a *agent) heartbeats() {
	for n := 0; ; n++ {
		hb := heartbeat(appHeartbeatFile)
		a.send(hb)
		state := fmt.Sprintf("host %s, addresses %v, app heartbeat %s", hb.HostName, hb.IPAddresses, appState(hb))
		if state != a.last || n%60 == 0 {
			logf("heartbeat %d: %s", n, state)
			a.last = state
		}
		time.Sleep(time.Second)
	}
}

// appState describes the application heartbeat for the console.
func appState(hb message) string {
	if hb.AppHeartbeat == 0 {
		return "none"
	}
	return fmt.Sprintf("%s at %s", hb.AppStatus, time.Unix(hb.AppHeartbeat, 0).UTC().Format(time.RFC3339))
}

// heartbeat reports the guest's state; appFile is where applications leave
// their heartbeat (see AppHeartbeatCommand).
func heartbeat(appFile string) message {
	m := message{Type: msgHeartbeat, IPAddresses: ipAddresses()}
	m.HostName, _ = os.Hostname()
	if fi, err := os.Stat(appFile); err == nil {
		m.AppHeartbeat = fi.ModTime().Unix()
		b, _ := os.ReadFile(appFile)
		m.AppStatus = appStatus(string(b))
	}
	return m
}

// ipAddresses lists the guest's addresses: IPv4 first, then global IPv6;
// loopback and link-local ones are left out.
func ipAddresses() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			v4 = append(v4, ipn.IP.String())
		} else {
			v6 = append(v6, ipn.IP.String())
		}
	}
	return append(v4, v6...)
}

// serve reads the host's requests. A read returns end-of-file at once while
// no host is connected, so it then polls until one is.
func (a *agent) serve() {
	buf := make([]byte, 64*1024)
	var line []byte
	for {
		n, err := a.port.Read(buf)
		if n == 0 || err != nil {
			line = line[:0] // a host that went away may have left half a line
			time.Sleep(200 * time.Millisecond)
			continue
		}
		line = append(line, buf[:n]...)
		for {
			i := bytes.IndexByte(line, '\n')
			if i < 0 {
				break
			}
			var m message
			if json.Unmarshal(line[:i], &m) == nil {
				go a.handle(m)
			}
			line = line[i+1:]
		}
		if len(line) > maxLine {
			line = line[:0]
		}
	}
}

func (a *agent) handle(m message) {
	switch m.Type {
	case msgExec:
		a.send(execAllowed(m))
	case msgShutdown, msgReboot:
		a.send(message{Type: msgResult, ID: m.ID})
		a.power(m.Type)
	default:
		a.send(message{Type: msgResult, ID: m.ID, ExitCode: -1, Error: fmt.Sprintf("unknown request type %q", m.Type)})
	}
}

// power syncs the disks and powers off or restarts the machine; QEMU exits
// on power-off (and resets on restart) by itself.
func (a *agent) power(how string) {
	logf("agent: %s requested by the host", how)
	unix.Sync()
	time.Sleep(200 * time.Millisecond) // let the acknowledgement leave the port
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if how == msgReboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	if err := unix.Reboot(cmd); err != nil {
		logf("agent: %s: %v", how, err)
	}
}

// execTimeout bounds one allowed command.
const execTimeout = 30 * time.Second

// execAllowed runs an allowed command and builds its result.
func execAllowed(m message) message {
	r := message{Type: msgResult, ID: m.ID, ExitCode: -1}
	if err := checkAllowed(m.Path, m.Args); err != nil {
		r.Error = err.Error()
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	var stdout, stderr limitedBuffer
	cmd := exec.CommandContext(ctx, m.Path, m.Args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case err == nil:
		r.ExitCode = 0
	case ctx.Err() != nil:
		r.Error = fmt.Sprintf("%s did not finish within %v", m.Path, execTimeout)
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitCode()
	default:
		r.Error = err.Error()
	}
	return r
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

const maxOutput = 256 << 10

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
