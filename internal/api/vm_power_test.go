package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/testserver"
)

func TestPowerTransitions(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(guestSpec("p1", add(newNIC[types.VirtualE1000]("VM Network"))))
	const (
		on  = types.VirtualMachinePowerStatePoweredOn
		off = types.VirtualMachinePowerStatePoweredOff
		sus = types.VirtualMachinePowerStateSuspended
	)
	ops := map[string]func() (*object.Task, error){
		"on":      func() (*object.Task, error) { return vm.PowerOn(f.ctx) },
		"off":     func() (*object.Task, error) { return vm.PowerOff(f.ctx) },
		"reset":   func() (*object.Task, error) { return vm.Reset(f.ctx) },
		"suspend": func() (*object.Task, error) { return vm.Suspend(f.ctx) },
	}
	steps := []struct {
		op       string
		want     types.VirtualMachinePowerState
		existing types.VirtualMachinePowerState // set: the op fails with InvalidPowerState
	}{
		{op: "off", existing: off},
		{op: "reset", existing: off},
		{op: "suspend", existing: off},
		{op: "on", want: on},
		{op: "on", existing: on},
		{op: "reset", want: on},
		{op: "suspend", want: sus},
		{op: "suspend", existing: sus},
		{op: "reset", existing: sus},
		{op: "on", want: on},
		{op: "off", want: off},
	}
	for i, st := range steps {
		err := f.wait(ops[st.op]())
		if st.existing != "" {
			ips := vmFault(t, err, &types.InvalidPowerState{}).(*types.InvalidPowerState)
			if ips.ExistingState != st.existing {
				t.Errorf("step %d %s: existingState %s, want %s", i, st.op, ips.ExistingState, st.existing)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d %s: %v", i, st.op, err)
		}
		o := f.vm(vm)
		if o.Runtime.PowerState != st.want || o.Summary.Runtime.PowerState != st.want {
			t.Fatalf("step %d %s: runtime %s summary %s, want %s", i, st.op, o.Runtime.PowerState, o.Summary.Runtime.PowerState, st.want)
		}
		if (o.Runtime.BootTime != nil) != (st.want == on) {
			t.Errorf("step %d %s: bootTime %v in state %s", i, st.op, o.Runtime.BootTime, st.want)
		}
		nic := object.VirtualDeviceList(o.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil))[0]
		if c := nic.GetVirtualDevice().Connectable; c.Connected != (st.want == on) {
			t.Errorf("step %d %s: NIC connected %v in state %s", i, st.op, c.Connected, st.want)
		}
		if st.want == on {
			if o.Guest.ToolsRunningStatus != "guestToolsRunning" || o.GuestHeartbeatStatus != types.ManagedEntityStatusGreen || o.Guest.HostName != "p1" {
				t.Errorf("step %d: guest %s heartbeat %s host %q, want tools running, green, p1", i, o.Guest.ToolsRunningStatus, o.GuestHeartbeatStatus, o.Guest.HostName)
			}
		} else if o.GuestHeartbeatStatus != types.ManagedEntityStatusGray {
			t.Errorf("step %d: heartbeat %s when not running", i, o.GuestHeartbeatStatus)
		}
	}

	evs := f.vmEvents(vm.Reference(), "VmStartingEvent", "VmPoweredOnEvent", "VmResettingEvent", "VmSuspendedEvent", "VmPoweredOffEvent")
	var msgs []string
	for _, e := range evs {
		msgs = append(msgs, e.GetEvent().FullFormattedMessage)
	}
	want := []string{
		"p1 on host h0 in DC0 is starting",
		"p1 on h0 in DC0 is powered on",
		"p1 on h0 in DC0 is reset",
		"p1 on h0 in DC0 is suspended",
		"p1 on h0 in DC0 is powered on",
		"p1 on h0 in DC0 is powered off",
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

func TestGuestOperations(t *testing.T) {
	f := newVMFx(t)
	// A VM without a disk has no guest OS, so no tools: it cannot be asked
	// to reboot, but shuts down (and sleeps) through ACPI.
	bare := f.create(vmSpec("bare"))
	f.must(f.wait(bare.PowerOn(f.ctx)))
	if o := f.vm(bare); o.Guest.ToolsRunningStatus != "guestToolsNotRunning" || o.Guest.ToolsStatus != types.VirtualMachineToolsStatusToolsNotInstalled {
		t.Errorf("tools of a VM without a guest: %s, %s", o.Guest.ToolsRunningStatus, o.Guest.ToolsStatus)
	}
	vmFault(t, bare.RebootGuest(f.ctx), &types.ToolsUnavailable{})
	f.must(bare.ShutdownGuest(f.ctx))
	if ps := f.vm(bare).Runtime.PowerState; ps != types.VirtualMachinePowerStatePoweredOff {
		t.Errorf("after ShutdownGuest: %s", ps)
	}
	vmFault(t, bare.ShutdownGuest(f.ctx), &types.InvalidPowerState{})

	guest := f.create(guestSpec("guest"))
	f.must(f.wait(guest.PowerOn(f.ctx)))
	f.must(guest.RebootGuest(f.ctx))
	_, err := methods.StandbyGuest(f.ctx, f.c, &types.StandbyGuest{This: guest.Reference()})
	f.must(err)
	if ps := f.vm(guest).Runtime.PowerState; ps != types.VirtualMachinePowerStateSuspended {
		t.Errorf("after StandbyGuest: %s", ps)
	}
	if n := len(f.vmEvents(guest.Reference(), "VmGuestRebootEvent", "VmGuestStandbyEvent")); n != 2 {
		t.Errorf("%d guest events, want 2", n)
	}
}

func TestConcurrentPowerOnsOfOneVM(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("race"))
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.wait(vm.PowerOn(f.ctx))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		vmFault(t, err, &types.InvalidPowerState{})
	}
	if ok != 1 {
		t.Errorf("%d power-ons succeeded, want exactly 1", ok)
	}
}

func TestPowerOnMultiVM(t *testing.T) {
	f := newVMFx(t)
	a, b, c := f.create(vmSpec("a")), f.create(vmSpec("b")), f.create(vmSpec("c"))
	f.must(f.wait(a.PowerOn(f.ctx)))
	dc := object.NewDatacenter(f.c, f.dc.Self)
	task, err := dc.PowerOnVM(f.ctx, []types.ManagedObjectReference{a.Reference(), b.Reference(), c.Reference()})
	f.must(err)
	info, err := task.WaitForResult(f.ctx)
	f.must(err)
	res := info.Result.(types.ClusterPowerOnVmResult)
	if len(res.Attempted) != 2 || len(res.NotAttempted) != 1 || res.NotAttempted[0].Vm.Value != a.Reference().Value {
		t.Errorf("attempted %d, not attempted %v; want b and c attempted, a not", len(res.Attempted), res.NotAttempted)
	}
	for _, vm := range []*object.VirtualMachine{a, b, c} {
		if ps := f.vm(vm).Runtime.PowerState; ps != types.VirtualMachinePowerStatePoweredOn {
			t.Errorf("%s is %s", vm.Reference(), ps)
		}
	}
}

func TestPowerStateSurvivesRestart(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("durable", add(lsiLogic(-1)), addFile(newDisk(-1, 1024, ""))))
	f.must(f.wait(vm.PowerOn(f.ctx)))
	before := f.vm(vm)

	g := f.reopen()
	vm = object.NewVirtualMachine(g.c, vm.Reference())
	after := g.vm(vm)
	if after.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || !after.Runtime.BootTime.Equal(*before.Runtime.BootTime) {
		t.Fatalf("after restart: %s boot %v, want poweredOn boot %v", after.Runtime.PowerState, after.Runtime.BootTime, before.Runtime.BootTime)
	}
	for _, p := range []struct {
		name          string
		before, after any
	}{
		{"config", before.Config, after.Config}, {"summary", before.Summary, after.Summary},
		{"guest", before.Guest, after.Guest}, {"layoutEx", before.LayoutEx, after.LayoutEx},
		{"storage", before.Storage, after.Storage}, {"datastore", before.Datastore, after.Datastore},
	} {
		b, _ := json.Marshal(p.before)
		a, _ := json.Marshal(p.after)
		if string(a) != string(b) {
			t.Errorf("%s changed across restart:\nbefore %s\nafter  %s", p.name, b, a)
		}
	}
	// The host still knows the VM: it powers off, and not twice.
	g.must(g.wait(vm.PowerOff(g.ctx)))
	vmFault(t, g.wait(vm.PowerOff(g.ctx)), &types.InvalidPowerState{})
}

// BenchmarkPowerVMParallel measures power-on/off cycles of distinct VMs run
// concurrently (through the builder methods, so that the SOAP client does
// not dominate).
func BenchmarkPowerVMParallel(b *testing.B) {
	f := newVMFx(b)
	const n = 32
	refs := make([]types.ManagedObjectReference, n)
	for i := range refs {
		refs[i] = f.create(vmSpec(fmt.Sprintf("bench-%d", i))).Reference()
	}
	var mu sync.Mutex
	next := 0
	b.SetParallelism(n / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		ref := refs[next%n]
		next++
		mu.Unlock()
		for pb.Next() {
			for _, st := range []types.VirtualMachinePowerState{types.VirtualMachinePowerStatePoweredOn, types.VirtualMachinePowerStatePoweredOff} {
				if err := f.svc.PowerVM(f.ctx, testserver.AdminUser, ref, st); err != nil {
					b.Error(err)
				}
			}
		}
	})
}

func TestReconcileVMsWithHosts(t *testing.T) {
	f := newVMFx(t)
	stopped := f.create(guestSpec("stopped-behind"))
	lost := f.create(vmSpec("lost"))
	f.must(f.wait(stopped.PowerOn(f.ctx)))
	ids := map[string]string{}
	for _, vm := range []*object.VirtualMachine{stopped, lost} {
		ids[vm.Reference().Value] = f.vm(vm).Config.InstanceUuid
	}

	// While the server is down, the host powers one VM off and forgets the
	// other.
	f.srv.Close()
	dir := filepath.Join(f.srv.DataDir, "hosts", f.h0.Value)
	state := filepath.Join(dir, ids[stopped.Reference().Value]+".json")
	b, err := os.ReadFile(state)
	f.must(err)
	var st map[string]any
	f.must(json.Unmarshal(b, &st))
	st["power"] = "poweredOff"
	delete(st, "bootTime")
	b, _ = json.Marshal(st)
	f.must(os.WriteFile(state, b, 0o644))
	f.must(os.Remove(filepath.Join(dir, ids[lost.Reference().Value]+".json")))

	g := f.reopen()
	g.must(g.svc.ReconcileVMs(g.ctx))
	s := g.vm(object.NewVirtualMachine(g.c, stopped.Reference()))
	if s.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff || s.Runtime.BootTime != nil || s.Guest.ToolsRunningStatus != "guestToolsNotRunning" {
		t.Errorf("VM stopped on its host: %s boot %v tools %s", s.Runtime.PowerState, s.Runtime.BootTime, s.Guest.ToolsRunningStatus)
	}
	if l := g.vm(object.NewVirtualMachine(g.c, lost.Reference())); l.Runtime.ConnectionState != types.VirtualMachineConnectionStateOrphaned {
		t.Errorf("VM its host forgot: connectionState %s, want orphaned", l.Runtime.ConnectionState)
	}
}
