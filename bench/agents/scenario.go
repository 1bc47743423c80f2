package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/app"
	"github.com/vireo-project/vireo/internal/hostconn"
)

const (
	adminUser     = "administrator@vsphere.local"
	adminPassword = "bench-Admin-1!"
)

// scenario is one measurement: agents sim hosts with vmsPerAgent VMs each.
type scenario struct {
	title       string
	agents      int
	vmsPerAgent int
	firstPort   int // the agents listen on firstPort, firstPort+1, ...
}

// result is what one scenario measured.
type result struct {
	scenario
	startAgents, addHosts, createVMs, powerOn time.Duration
	connectedBefore, connectedAfter           int
	vmsOn                                     int // powered on and connected after the window
	lostEvents                                int
	window                                    window
	heartbeatBytes                            int
	agentCPU                                  []float64 // % of one core, per agent
	agentMem                                  []memory  // per agent
	serverCPU                                 float64
	serverMem                                 memory
	loadStart, loadEnd                        string
}

// setup is one scenario in progress.
type setup struct {
	o      options
	s      scenario
	srv    *app.Server
	c      *govmomi.Client
	hostF  *object.Folder
	vmF    *object.Folder
	agents []*agentProc
	hosts  []types.ManagedObjectReference
	pools  []types.ManagedObjectReference
	vms    []types.ManagedObjectReference
}

// measure runs scenario s with a fresh in-process server and fresh agents,
// and stops them all before it returns.
func measure(ctx context.Context, o options, s scenario) (res result, err error) {
	res.scenario = s
	dir, err := os.MkdirTemp("", "vireo-bench-agents-")
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Printf("%s: kept %s for the agents' logs", s.title, dir)
			return
		}
		os.RemoveAll(dir)
	}()
	// The server of an earlier scenario ran in this process: give its
	// memory back so that the RSS measured here is this scenario's.
	runtime.GC()
	debug.FreeOSMemory()

	r := &setup{o: o, s: s}
	defer r.close()
	if err := r.startServer(ctx, filepath.Join(dir, "server")); err != nil {
		return res, err
	}

	step := func(d *time.Duration, what string, fn func(context.Context) error) error {
		t0 := time.Now()
		if err := fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		*d = time.Since(t0)
		log.Printf("%s: %s in %.1f s", s.title, what, d.Seconds())
		return nil
	}
	if err := step(&res.startAgents, "start agents", func(ctx context.Context) error { return r.startAgents(ctx, filepath.Join(dir, "agents")) }); err != nil {
		return res, err
	}
	if err := step(&res.addHosts, "add hosts", r.addHosts); err != nil {
		return res, err
	}
	if err := step(&res.createVMs, "create VMs", r.createVMs); err != nil {
		return res, err
	}
	if err := step(&res.powerOn, "power on VMs", r.powerOnVMs); err != nil {
		return res, err
	}
	if res.connectedBefore, err = r.waitConnected(ctx); err != nil {
		return res, err
	}
	// Let the set-up's tail (task and event bookkeeping) pass.
	if err := sleep(ctx, o.settle); err != nil {
		return res, err
	}
	log.Printf("%s: measuring for %s; the benchmark's client is idle", s.title, o.window)
	if err := r.measureWindow(ctx, &res); err != nil {
		return res, err
	}
	return res, r.check(ctx, &res)
}

// close stops the server, then the agents.
func (r *setup) close() {
	if r.srv != nil {
		r.srv.Close()
	}
	kids.stopAll()
}

// startServer starts the server in process, logs in and makes a datacenter.
func (r *setup) startServer(ctx context.Context, dir string) error {
	var err error
	r.srv, err = app.Start(ctx, app.Config{
		DataDir: dir, Listen: "127.0.0.1:" + strconv.Itoa(r.o.serverPort),
		AdminUser: adminUser, AdminPassword: adminPassword, SessionIdle: time.Hour,
		HostTimeout: r.o.hostTimeout,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	u, err := soap.ParseURL(r.srv.URL())
	if err != nil {
		return err
	}
	u.User = url.UserPassword(adminUser, adminPassword)
	if r.c, err = govmomi.NewClient(ctx, u, true); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	dc, err := object.NewRootFolder(r.c.Client).CreateDatacenter(ctx, "DC")
	if err != nil {
		return err
	}
	f, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	r.hostF, r.vmF = f.HostFolder, f.VmFolder
	return nil
}

// startAgents starts the scenario's agents, ten at a time.
func (r *setup) startAgents(ctx context.Context, dir string) error {
	r.agents = make([]*agentProc, r.s.agents)
	return parallel(ctx, r.s.agents, 10, func(ctx context.Context, i int) error {
		p, err := startAgent(ctx, r.o.vireo, dir, fmt.Sprintf("sim-%03d", i),
			"127.0.0.1:"+strconv.Itoa(r.s.firstPort+i), r.o.heartbeat)
		r.agents[i] = p
		return err
	})
}

// addHosts adds every agent as a standalone host (AddStandaloneHost_Task
// with the thumbprint the agent printed).
func (r *setup) addHosts(ctx context.Context) error {
	r.hosts = make([]types.ManagedObjectReference, len(r.agents))
	r.pools = make([]types.ManagedObjectReference, len(r.agents))
	return parallel(ctx, len(r.agents), r.o.parallel, func(ctx context.Context, i int) error {
		p := r.agents[i]
		task, err := r.hostF.AddStandaloneHost(ctx, types.HostConnectSpec{
			HostName: p.addr, UserName: agentproto.RootUser, Password: agentPassword, SslThumbprint: p.thumbprint,
		}, true, nil, nil)
		if err != nil {
			return err
		}
		ref, err := taskResult(ctx, task)
		if err != nil {
			return fmt.Errorf("add %s: %w", p.addr, err)
		}
		var cr mo.ComputeResource
		if err := property.DefaultCollector(r.c.Client).RetrieveOne(ctx, ref, []string{"host", "resourcePool"}, &cr); err != nil {
			return err
		}
		if len(cr.Host) != 1 || cr.ResourcePool == nil {
			return fmt.Errorf("add %s: compute resource %s has hosts %v and pool %v", p.addr, cr.Self.Value, cr.Host, cr.ResourcePool)
		}
		r.hosts[i], r.pools[i] = cr.Host[0], *cr.ResourcePool
		return nil
	})
}

// createVMs creates vmsPerAgent small VMs on every host (no disks).
func (r *setup) createVMs(ctx context.Context) error {
	n := r.s.vmsPerAgent
	r.vms = make([]types.ManagedObjectReference, len(r.agents)*n)
	return parallel(ctx, len(r.vms), r.o.parallel, func(ctx context.Context, i int) error {
		a := i / n
		spec := types.VirtualMachineConfigSpec{
			Name: fmt.Sprintf("%s-vm%04d", r.agents[a].name, i%n), GuestId: string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
			NumCPUs: 1, MemoryMB: 128,
			Files: &types.VirtualMachineFileInfo{VmPathName: "[" + r.agents[a].datastore + "]"},
		}
		task, err := r.vmF.CreateVM(ctx, spec, object.NewResourcePool(r.c.Client, r.pools[a]), object.NewHostSystem(r.c.Client, r.hosts[a]))
		if err != nil {
			return err
		}
		if r.vms[i], err = taskResult(ctx, task); err != nil {
			return fmt.Errorf("create %s: %w", spec.Name, err)
		}
		return nil
	})
}

// taskResult waits for task and returns the object it resulted in.
func taskResult(ctx context.Context, task *object.Task) (types.ManagedObjectReference, error) {
	info, err := task.WaitForResult(ctx)
	if err == nil && info == nil { // govmomi's answer to a cancelled ctx
		err = ctx.Err()
	}
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return ref, fmt.Errorf("task %s resulted in %T, not an object", task.Reference().Value, info.Result)
	}
	return ref, nil
}

// powerOnVMs powers on every VM, each waiting for its task.
func (r *setup) powerOnVMs(ctx context.Context) error {
	return parallel(ctx, len(r.vms), r.o.parallel, func(ctx context.Context, i int) error {
		task, err := object.NewVirtualMachine(r.c.Client, r.vms[i]).PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("power on %s: %w", r.vms[i].Value, err)
		}
		return nil
	})
}

// connected counts the hosts whose runtime.connectionState is connected.
func (r *setup) connected(ctx context.Context) (int, error) {
	var hs []mo.HostSystem
	if err := property.DefaultCollector(r.c.Client).Retrieve(ctx, r.hosts, []string{"runtime.connectionState"}, &hs); err != nil {
		return 0, err
	}
	n := 0
	for _, h := range hs {
		if h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected {
			n++
		}
	}
	return n, nil
}

// waitConnected waits up to a minute for every host to be connected.
func (r *setup) waitConnected(ctx context.Context) (int, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := r.connected(ctx)
		if err != nil || n == len(r.hosts) || time.Now().After(deadline) {
			return n, err
		}
		if err := sleep(ctx, time.Second); err != nil {
			return n, err
		}
	}
}

// measureWindow watches the hosts' heartbeats for the window and measures
// the CPU time and memory of the agents and of this process (the server).
func (r *setup) measureWindow(ctx context.Context, res *result) error {
	pids := make([]int, len(r.agents)+1) // pids[0] = 0 is this process
	for i, p := range r.agents {
		pids[i+1] = p.cmd.Process.Pid
	}
	cpu0, err := cpuTimes(pids)
	if err != nil {
		return err
	}
	res.loadStart = loadAvg()
	t0 := time.Now()
	if res.window, err = watch(ctx, r.srv.Agents(), r.hosts, r.o.window, r.o.heartbeat); err != nil {
		return err
	}
	cpu1, err := cpuTimes(pids)
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	res.loadEnd = loadAvg()
	pct := func(i int) float64 { return 100 * float64(cpu1[i]-cpu0[i]) / float64(wall) }
	res.serverCPU = pct(0)
	if res.serverMem, err = memoryOf(0); err != nil {
		return err
	}
	for i, pid := range pids[1:] {
		res.agentCPU = append(res.agentCPU, pct(i+1))
		m, err := memoryOf(pid)
		if err != nil {
			return err
		}
		res.agentMem = append(res.agentMem, m)
	}
	return nil
}

func cpuTimes(pids []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		var err error
		if out[i], err = cpuTime(pid); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// check reads, after the window, what the API says of the hosts and VMs,
// the HostConnectionLostEvents logged, and the size of a heartbeat.
func (r *setup) check(ctx context.Context, res *result) error {
	var err error
	if res.connectedAfter, err = r.connected(ctx); err != nil {
		return err
	}
	var vms []mo.VirtualMachine
	if err := property.DefaultCollector(r.c.Client).Retrieve(ctx, r.vms, []string{"runtime.powerState", "runtime.connectionState"}, &vms); err != nil {
		return err
	}
	for _, vm := range vms {
		if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn && vm.Runtime.ConnectionState == types.VirtualMachineConnectionStateConnected {
			res.vmsOn++
		}
	}
	evs, err := event.NewManager(r.c.Client).QueryEvents(ctx, types.EventFilterSpec{EventTypeId: []string{"HostConnectionLostEvent"}})
	if err != nil {
		return err
	}
	res.lostEvents = len(evs)
	res.heartbeatBytes, err = heartbeatSize(ctx, r.agents[0])
	return err
}

// heartbeatSize logs in to agent p on its own and returns the size of the
// first message of a stream (JSON, as sent, without the newline).
func heartbeatSize(ctx context.Context, p *agentProc) (int, error) {
	c := agentproto.NewClient(p.addr, agentproto.DialOptions{Thumbprint: p.thumbprint})
	if _, err := c.Login(ctx, agentproto.LoginRequest{User: agentproto.RootUser, Password: agentPassword}); err != nil {
		return 0, fmt.Errorf("heartbeat size: %w", err)
	}
	s, err := c.Stream(ctx)
	if err != nil {
		return 0, fmt.Errorf("heartbeat size: %w", err)
	}
	defer s.Close()
	msg, err := s.Next()
	if err != nil {
		return 0, fmt.Errorf("heartbeat size: %w", err)
	}
	b, err := json.Marshal(msg)
	return len(b), err
}

// window is what the hosts' message statistics showed during the window.
type window struct {
	length   time.Duration // as measured: d rounded up to the next poll
	msgs     uint64
	expected float64         // hosts × length / heartbeat interval
	lags     []time.Duration // the lag of every message seen
	maxLag   time.Duration
	// setupMaxLag is the largest lag before the window, since the hosts
	// were added (while VMs were created and powered on).
	setupMaxLag time.Duration
	// maxSilence is the longest interval between two messages of a host
	// (or from a host's last message to the window's end).
	maxSilence time.Duration
}

// watch polls the statistics of hosts every 250 ms for d.
func watch(ctx context.Context, m *hostconn.Manager, hosts []types.ManagedObjectReference, d, heartbeat time.Duration) (window, error) {
	var w window
	first := make([]hostconn.Stats, len(hosts))
	last := make([]hostconn.Stats, len(hosts))
	for i, h := range hosts {
		first[i], _ = m.Stats(h)
		last[i] = first[i]
		w.setupMaxLag = max(w.setupMaxLag, first[i].MaxLag)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	end := start.Add(d)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		done = !now.Before(end)
		for i, h := range hosts {
			st, _ := m.Stats(h)
			if st.Messages != last[i].Messages {
				w.lags = append(w.lags, st.LastLag)
				w.maxLag = max(w.maxLag, st.LastLag)
				w.maxSilence = max(w.maxSilence, st.LastSeen.Sub(last[i].LastSeen))
			}
			if done {
				w.maxSilence = max(w.maxSilence, now.Sub(st.LastSeen))
				w.msgs += st.Messages - first[i].Messages
				if st.MaxLag > first[i].MaxLag { // a message between two polls set it
					w.maxLag = max(w.maxLag, st.MaxLag)
				}
			}
			last[i] = st
		}
	}
	w.length = time.Since(start)
	w.expected = float64(len(hosts)) * w.length.Seconds() / heartbeat.Seconds()
	return w, nil
}

// parallel calls fn for 0..n-1 from workers goroutines and returns the
// first error, after which no new calls start.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

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
