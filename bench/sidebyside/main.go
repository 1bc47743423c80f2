// Command sidebyside measures Vireo and vcsim on the same inventory in one
// run: start-up time and memory, full-inventory PropertyCollector retrieval,
// WaitForUpdatesEx latency after a power change, and the throughput of
// concurrent power operations. It prints a Markdown table.
//
//	go run ./bench/sidebyside -vireo /tmp/vireo -vcsim ~/go/bin/vcsim \
//	    -model "-dc 1 -cluster 10 -host 20 -standalone-host 0 -pool 0 -vm 400"
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type result struct {
	name       string
	startup    time.Duration
	rssStart   int64 // KiB after start-up
	rssPeak    int64 // KiB high-water mark at the end
	vms        int
	retrieve   time.Duration // median full retrieval
	waitMedian time.Duration
	waitP95    time.Duration
	opsPerSec  float64
	opErrors   int
}

func main() {
	vireo := flag.String("vireo", "", "path to the vireo binary (run as `vireo sim`)")
	vcsim := flag.String("vcsim", "", "path to the vcsim binary")
	model := flag.String("model", "-dc 1 -cluster 10 -host 20 -standalone-host 0 -pool 0 -vm 400", "model flags given to both servers")
	retrieves := flag.Int("retrieves", 5, "full retrievals to time (median reported)")
	waits := flag.Int("waits", 20, "power changes to time through WaitForUpdatesEx")
	ops := flag.Int("ops", 400, "power operations for the throughput test")
	conc := flag.Int("conc", 16, "concurrent clients for the throughput test")
	flag.Parse()
	if *vireo == "" && *vcsim == "" {
		log.Fatal("give -vireo and/or -vcsim")
	}
	var results []result
	for _, srv := range []struct{ name, cmd string }{{"Vireo", *vireo}, {"vcsim", *vcsim}} {
		if srv.cmd == "" {
			continue
		}
		var sub []string
		if srv.name == "Vireo" {
			sub = []string{"sim"}
		}
		r, err := measure(srv.name, srv.cmd, sub, strings.Fields(*model), *retrieves, *waits, *ops, *conc)
		if err != nil {
			log.Fatalf("%s: %v", srv.name, err)
		}
		results = append(results, r)
	}
	printTable(*model, results)
}

// measure runs bin with its subcommand sub (none for vcsim), a loopback
// listener, a fifo for the -E line and the model flags.
func measure(name, bin string, sub, model []string, retrieves, waits, ops, conc int) (result, error) {
	r := result{name: name}
	dir, err := os.MkdirTemp("", "sidebyside")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	fifo := filepath.Join(dir, "env")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return r, err
	}
	args := append(append(sub, "-l", "127.0.0.1:0", "-E", fifo), model...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	lines := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			exited <- err
			return
		}
		defer f.Close()
		line, err := bufio.NewReader(f).ReadString('\n')
		if err != nil {
			exited <- fmt.Errorf("reading -E: %w", err)
			return
		}
		lines <- line
	}()
	go func() { exited <- fmt.Errorf("server exited before it was ready: %v", cmd.Wait()) }()
	var line string
	select {
	case line = <-lines:
	case err := <-exited:
		return r, err
	}
	r.startup = time.Since(start)
	r.rssStart, _ = memKiB(cmd.Process.Pid, "VmRSS")
	u, err := parseEnv(line)
	if err != nil {
		return r, err
	}
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return r, fmt.Errorf("login: %w", err)
	}
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return r, err
	}
	var vms []mo.VirtualMachine
	var times []time.Duration
	for i := 0; i < retrieves; i++ {
		vms = nil
		t0 := time.Now()
		if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState", "config.hardware.memoryMB"}, &vms); err != nil {
			return r, fmt.Errorf("retrieve: %w", err)
		}
		times = append(times, time.Since(t0))
	}
	r.vms = len(vms)
	r.retrieve = median(times)

	if r.waitMedian, r.waitP95, err = watchLatency(ctx, u, c, v, vms, waits); err != nil {
		return r, fmt.Errorf("watch: %w", err)
	}
	r.opsPerSec, r.opErrors = throughput(ctx, c, vms, ops, conc)
	r.rssPeak, _ = memKiB(cmd.Process.Pid, "VmHWM")
	return r, nil
}

// watchLatency keeps a second session waiting on every VM's power state and
// times, for n power changes, the interval from issuing the change to the
// watcher seeing it.
func watchLatency(ctx context.Context, u *url.URL, c *govmomi.Client, v *view.ContainerView, vms []mo.VirtualMachine, n int) (time.Duration, time.Duration, error) {
	w, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return 0, 0, err
	}
	pc, err := property.DefaultCollector(w.Client).Create(ctx)
	if err != nil {
		return 0, 0, err
	}
	wv, err := view.NewManager(w.Client).CreateContainerView(ctx, w.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return 0, 0, err
	}
	spec := types.CreateFilter{Spec: types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: wv.Reference(), Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{wv.TraversalSpec()}}},
		PropSet:   []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"runtime.powerState"}}},
	}}
	if _, err := pc.CreateFilter(ctx, spec); err != nil {
		return 0, 0, err
	}
	seen := make(chan string, 1024)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	go func() {
		version := ""
		first := true
		for wctx.Err() == nil {
			res, err := methodsWait(wctx, w, pc, version)
			if err != nil {
				return
			}
			if res == nil {
				continue
			}
			version = res.Version
			if first {
				first = false
				close(ready)
				continue
			}
			for _, fs := range res.FilterSet {
				for _, ou := range fs.ObjectSet {
					seen <- ou.Obj.Value
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Minute):
		return 0, 0, fmt.Errorf("initial WaitForUpdatesEx did not return")
	}
	var times []time.Duration
	for i := 0; i < n && i < len(vms); i++ {
		vm := object.NewVirtualMachine(c.Client, vms[i].Self)
		var task *object.Task
		t0 := time.Now()
		if vms[i].Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			task, err = vm.PowerOff(ctx)
		} else {
			task, err = vm.PowerOn(ctx)
		}
		if err != nil {
			return 0, 0, err
		}
		for got := ""; got != vms[i].Self.Value; {
			select {
			case got = <-seen:
			case <-time.After(2 * time.Minute):
				return 0, 0, fmt.Errorf("no update for %s", vms[i].Self.Value)
			}
		}
		times = append(times, time.Since(t0))
		_ = task.Wait(ctx)
	}
	return median(times), percentile(times, 95), nil
}

func methodsWait(ctx context.Context, c *govmomi.Client, pc *property.Collector, version string) (*types.UpdateSet, error) {
	wait := int32(60)
	req := types.WaitForUpdatesEx{This: pc.Reference(), Version: version, Options: &types.WaitOptions{MaxWaitSeconds: &wait}}
	res, err := methods.WaitForUpdatesEx(ctx, c.Client, &req)
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}

// throughput powers VMs off and on from conc clients and reports ops/s.
func throughput(ctx context.Context, c *govmomi.Client, vms []mo.VirtualMachine, ops, conc int) (float64, int) {
	if ops > len(vms) {
		ops = len(vms)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := 0
	next := 0
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= ops {
					return
				}
				vm := object.NewVirtualMachine(c.Client, vms[len(vms)-1-i].Self)
				var task *object.Task
				var err error
				if vms[len(vms)-1-i].Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
					task, err = vm.PowerOff(ctx)
				} else {
					task, err = vm.PowerOn(ctx)
				}
				if err == nil {
					err = task.Wait(ctx)
				}
				if err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return float64(ops) / time.Since(t0).Seconds(), errs
}

func parseEnv(line string) (*url.URL, error) {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "GOVC_URL="); ok {
			return soap.ParseURL(v)
		}
	}
	return nil, fmt.Errorf("no GOVC_URL in %q", line)
}

func memKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s", field)
}

func median(d []time.Duration) time.Duration { return percentile(d, 50) }

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i]
}

func printTable(model string, rs []result) {
	fmt.Printf("Model flags: `%s`\n\n", model)
	fmt.Print("| measure |")
	for _, r := range rs {
		fmt.Printf(" %s |", r.name)
	}
	if len(rs) == 2 {
		fmt.Print(" vcsim / Vireo |")
	}
	fmt.Print("\n|---|")
	for range rs {
		fmt.Print("---|")
	}
	if len(rs) == 2 {
		fmt.Print("---|")
	}
	fmt.Println()
	row := func(label string, f func(r result) float64, format string, lowerBetter bool) {
		fmt.Printf("| %s |", label)
		for _, r := range rs {
			fmt.Printf(" "+format+" |", f(r))
		}
		if len(rs) == 2 {
			a, b := f(rs[0]), f(rs[1])
			if lowerBetter && a > 0 {
				fmt.Printf(" %.1f× |", b/a)
			} else if !lowerBetter && b > 0 {
				fmt.Printf(" %.1f× |", a/b)
			} else {
				fmt.Print(" – |")
			}
		}
		fmt.Println()
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	row("VMs in inventory", func(r result) float64 { return float64(r.vms) }, "%.0f", false)
	row("start-up until ready (s)", func(r result) float64 { return r.startup.Seconds() }, "%.2f", true)
	row("RSS after start-up (MiB)", func(r result) float64 { return float64(r.rssStart) / 1024 }, "%.0f", true)
	row("peak RSS at end (MiB)", func(r result) float64 { return float64(r.rssPeak) / 1024 }, "%.0f", true)
	row("retrieve name+power+memory of all VMs (ms, median)", func(r result) float64 { return ms(r.retrieve) }, "%.1f", true)
	row("WaitForUpdatesEx latency after power change (ms, median)", func(r result) float64 { return ms(r.waitMedian) }, "%.1f", true)
	row("WaitForUpdatesEx latency after power change (ms, p95)", func(r result) float64 { return ms(r.waitP95) }, "%.1f", true)
	row("concurrent power ops (ops/s)", func(r result) float64 { return r.opsPerSec }, "%.0f", false)
	for _, r := range rs {
		if r.opErrors > 0 {
			fmt.Printf("\n%s: %d power operations failed\n", r.name, r.opErrors)
		}
	}
}
