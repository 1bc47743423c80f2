// Command agents measures Vireo's host agents in one run on this machine:
//
//   - one `vireo host --backend sim` with 1,000 powered-on VMs: whether the
//     server keeps up with its heartbeats, and the CPU and memory of the
//     agent and of the server;
//   - 100 sim agents with 5 VMs each connected at once: whether all stay
//     connected, their heartbeat lag, and the CPU and memory of the agents
//     and of the server.
//
// The server runs in this process (internal/app), so the benchmark reads
// the heartbeat statistics of internal/hostconn directly; the agents are
// child processes on loopback, added and populated through the vim25 API
// with the govmomi client. During each measured window the client is idle,
// so the CPU time of this process is the server's. It prints a Markdown
// table.
//
//	go run ./bench/agents                # builds ./cmd/vireo itself
//	go run ./bench/agents -vireo /tmp/vireo -window 60s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vireo-project/vireo/internal/agentproto"
)

// options are the benchmark's flags.
type options struct {
	vireo       string
	vms         int
	agents      int
	vmsPerAgent int
	window      time.Duration
	settle      time.Duration
	heartbeat   time.Duration
	hostTimeout time.Duration
	parallel    int
	serverPort  int
	only        string
}

func main() {
	var o options
	flag.StringVar(&o.vireo, "vireo", "", "the vireo binary to run agents from (default: build ./cmd/vireo into a temporary directory)")
	flag.IntVar(&o.vms, "vms", 1000, "VMs on the single agent")
	flag.IntVar(&o.agents, "agents", 100, "agents connected at once")
	flag.IntVar(&o.vmsPerAgent, "vms-per-agent", 5, "VMs on each of the many agents")
	flag.DurationVar(&o.window, "window", 60*time.Second, "length of each measured window")
	flag.DurationVar(&o.settle, "settle", 6*time.Second, "pause between the set-up and the window")
	flag.DurationVar(&o.heartbeat, "heartbeat", agentproto.HeartbeatInterval, "the agents' --heartbeat")
	flag.DurationVar(&o.hostTimeout, "host-timeout", agentproto.HeartbeatTimeout, "the server's host timeout (silence before notResponding)")
	flag.IntVar(&o.parallel, "parallel", 8, "concurrent vim25 calls while setting up")
	flag.IntVar(&o.serverPort, "port", 19800, "the server's port; the agents use the ports after it")
	flag.StringVar(&o.only, "only", "", "run one scenario only: one (1 agent, many VMs) or many (many agents)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	os.Exit(run(o))
}

// run measures the scenarios o selects and prints the table; it returns
// the exit status. Every child process is stopped before it returns, and
// also when a signal interrupts it.
func run(o options) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer kids.stopAll()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { // ends with the process
		<-sigs
		log.Print("interrupted: stopping the agents")
		cancel()
		// The run returns promptly once ctx is done; should it not (or
		// on a second signal), stop the children and leave anyway.
		select {
		case <-sigs:
		case <-time.After(30 * time.Second):
		}
		kids.stopAll()
		os.Exit(130)
	}()

	if o.agents < 1 || o.agents > 150 {
		log.Printf("-agents must be between 1 and 150 (ports %d-%d)", o.serverPort+2, o.serverPort+151)
		return 2
	}
	if o.vireo == "" {
		dir, err := os.MkdirTemp("", "vireo-bench-bin-")
		if err != nil {
			log.Print(err)
			return 1
		}
		defer os.RemoveAll(dir)
		if o.vireo, err = build(ctx, dir); err != nil {
			log.Print(err)
			return 1
		}
	}
	all := []scenario{
		{title: fmt.Sprintf("1 agent × %d VMs", o.vms), agents: 1, vmsPerAgent: o.vms, firstPort: o.serverPort + 1},
		{title: fmt.Sprintf("%d agents × %d VMs", o.agents, o.vmsPerAgent), agents: o.agents, vmsPerAgent: o.vmsPerAgent, firstPort: o.serverPort + 2},
	}
	switch o.only {
	case "":
	case "one":
		all = all[:1]
	case "many":
		all = all[1:]
	default:
		log.Printf("-only %q: want one or many", o.only)
		return 2
	}
	t0 := time.Now()
	var results []result
	for _, s := range all {
		r, err := measure(ctx, o, s)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				log.Print("interrupted")
				return 130
			}
			log.Printf("%s: %v", s.title, err)
			return 1
		}
		results = append(results, r)
	}
	printTable(o, results, time.Since(t0))
	return 0
}

// build compiles ./cmd/vireo into dir.
func build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "vireo")
	log.Print("building vireo")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/vireo-project/vireo/cmd/vireo")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build vireo: %w", err)
	}
	return bin, nil
}

// printTable prints the results side by side.
func printTable(o options, rs []result, took time.Duration) {
	fmt.Printf("\nHeartbeat %s, host timeout %s, window %s; run took %.0f s.\n\n", o.heartbeat, o.hostTimeout, o.window, took.Seconds())
	fmt.Print("| measure |")
	for _, r := range rs {
		fmt.Printf(" %s |", r.title)
	}
	fmt.Print("\n|---|" + strings.Repeat("---|", len(rs)) + "\n")
	row := func(label string, f func(r result) string) {
		fmt.Printf("| %s |", label)
		for _, r := range rs {
			fmt.Printf(" %s |", f(r))
		}
		fmt.Println()
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	rate := func(d time.Duration, n int) string {
		return fmt.Sprintf("%.1f (%.0f/s)", d.Seconds(), float64(n)/d.Seconds())
	}
	row("set-up: start agents (s)", func(r result) string { return fmt.Sprintf("%.1f", r.startAgents.Seconds()) })
	row("set-up: add hosts (s)", func(r result) string { return rate(r.addHosts, r.agents) })
	row("set-up: create VMs (s)", func(r result) string { return rate(r.createVMs, r.agents*r.vmsPerAgent) })
	row("set-up: power on VMs (s)", func(r result) string { return rate(r.powerOn, r.agents*r.vmsPerAgent) })
	row("hosts connected before / after the window", func(r result) string {
		return fmt.Sprintf("%d / %d of %d", r.connectedBefore, r.connectedAfter, r.agents)
	})
	row("VMs poweredOn and connected after the window", func(r result) string {
		return fmt.Sprintf("%d of %d", r.vmsOn, r.agents*r.vmsPerAgent)
	})
	row("HostConnectionLostEvent (whole run)", func(r result) string { return fmt.Sprint(r.lostEvents) })
	row("heartbeats received / expected in the window", func(r result) string {
		return fmt.Sprintf("%d / %.0f", r.window.msgs, r.window.expected)
	})
	row("heartbeat lag, median (ms)", func(r result) string { return ms(percentile(r.window.lags, 50)) })
	row("heartbeat lag, p99 (ms)", func(r result) string { return ms(percentile(r.window.lags, 99)) })
	row("heartbeat lag, max (ms)", func(r result) string { return ms(r.window.maxLag) })
	row("heartbeat lag, max during set-up (ms)", func(r result) string { return ms(r.window.setupMaxLag) })
	row("longest silence of a host (s)", func(r result) string { return fmt.Sprintf("%.2f", r.window.maxSilence.Seconds()) })
	row("heartbeat message size (KiB)", func(r result) string { return fmt.Sprintf("%.1f", float64(r.heartbeatBytes)/1024) })
	row("agent CPU, % of one core (each: mean / max)", func(r result) string {
		mean, hi := stats(r.agentCPU)
		return fmt.Sprintf("%.2f / %.2f", mean, hi)
	})
	row("agent CPU, % of one core (all agents)", func(r result) string { return fmt.Sprintf("%.1f", sum(r.agentCPU)) })
	row("agent RSS, MiB (each: mean / max)", func(r result) string {
		return meanMax(r.agentMem, func(m memory) int64 { return m.rss }, "%.1f / %.1f")
	})
	row("agent anonymous memory (RssAnon), MiB (each: mean / max)", func(r result) string {
		return meanMax(r.agentMem, func(m memory) int64 { return m.anon }, "%.1f / %.1f")
	})
	row("agents' memory together (sum of PSS), MiB", func(r result) string {
		return fmt.Sprintf("%.0f", sum(mib(r.agentMem, func(m memory) int64 { return m.pss })))
	})
	row("server CPU, % of one core", func(r result) string { return fmt.Sprintf("%.1f", r.serverCPU) })
	row("server RSS, MiB (RssAnon)", func(r result) string {
		return fmt.Sprintf("%.0f (%.0f)", float64(r.serverMem.rss)/1024, float64(r.serverMem.anon)/1024)
	})
	row("load average (1 min) at start / end of window", func(r result) string { return r.loadStart + " / " + r.loadEnd })
}

// mib returns field of every m in MiB.
func mib(ms []memory, field func(memory) int64) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = float64(field(m)) / 1024
	}
	return out
}

// meanMax formats the mean and the maximum of field over ms, in MiB.
func meanMax(ms []memory, field func(memory) int64, format string) string {
	mean, hi := stats(mib(ms, field))
	return fmt.Sprintf(format, mean, hi)
}

func sum(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}

// stats returns the mean and the maximum of v.
func stats(v []float64) (mean, hi float64) {
	for _, x := range v {
		hi = max(hi, x)
	}
	if len(v) > 0 {
		mean = sum(v) / float64(len(v))
	}
	return mean, hi
}
