package task

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var vmRef = types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-1"}

// newManager returns a manager over a registry holding one VM named "vm1".
func newManager(t *testing.T) (*Manager, *inventory.Registry, *clock) {
	t.Helper()
	reg := inventory.New(nil)
	err := reg.Update(context.Background(), func(tx *inventory.Txn) error {
		vm := &mo.VirtualMachine{}
		vm.Self = vmRef
		vm.Name = "vm1"
		tx.Create(vm, false)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	m := NewManager(reg, c.now, nil)
	t.Cleanup(m.Close)
	return m, reg, c
}

// finished starts a task and returns its info, as the registry holds it,
// once it has ended.
func finished(t *testing.T, m *Manager, reg *inventory.Registry, spec Spec, fn Func) types.TaskInfo {
	t.Helper()
	done := make(chan types.TaskInfo, 64)
	m.Observe(func(ch Change) {
		if ch.Info.State == types.TaskInfoStateSuccess || ch.Info.State == types.TaskInfoStateError {
			select {
			case done <- ch.Info:
			default:
			}
		}
	})
	ref, err := m.Start(context.Background(), spec, fn)
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case info := <-done:
			if info.Key != ref.Value {
				continue
			}
			got := inventory.Get[mo.Task](reg, ref)
			if got == nil || got.Info.State != info.State {
				t.Fatalf("registry task = %+v, observed state %s", got, info.State)
			}
			return got.Info
		case <-timeout:
			t.Fatal("task did not finish")
		}
	}
}

func TestTaskOutcomes(t *testing.T) {
	fault := vim.InvalidPowerState(types.VirtualMachinePowerStatePoweredOn, types.VirtualMachinePowerStatePoweredOn)
	tests := []struct {
		name      string
		fn        Func
		wantState types.TaskInfoState
		wantFault any
		wantMsg   string
		wantRes   any
	}{
		{
			name:      "success with result",
			fn:        func(context.Context, *Task) (types.AnyType, error) { return "done", nil },
			wantState: types.TaskInfoStateSuccess,
			wantRes:   "done",
		},
		{
			name:      "vim fault",
			fn:        func(context.Context, *Task) (types.AnyType, error) { return nil, fault },
			wantState: types.TaskInfoStateError,
			wantFault: &types.InvalidPowerState{},
			wantMsg:   fault.Msg,
		},
		{
			name: "wrapped vim fault",
			fn: func(context.Context, *Task) (types.AnyType, error) {
				return nil, errors.Join(errors.New("context"), fault)
			},
			wantState: types.TaskInfoStateError,
			wantFault: &types.InvalidPowerState{},
			wantMsg:   fault.Msg,
		},
		{
			name:      "plain error",
			fn:        func(context.Context, *Task) (types.AnyType, error) { return nil, errors.New("disk on fire") },
			wantState: types.TaskInfoStateError,
			wantFault: &types.SystemError{},
			wantMsg:   "A general system error occurred: disk on fire",
		},
		{
			name:      "panic",
			fn:        func(context.Context, *Task) (types.AnyType, error) { panic("boom") },
			wantState: types.TaskInfoStateError,
			wantFault: &types.SystemError{},
			wantMsg:   "A general system error occurred: internal error in task VirtualMachine.powerOn",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, reg, _ := newManager(t)
			info := finished(t, m, reg, Spec{Entity: vmRef, DescriptionID: "VirtualMachine.powerOn", User: "alice"}, tc.fn)
			if info.State != tc.wantState {
				t.Fatalf("state = %s, want %s", info.State, tc.wantState)
			}
			if tc.wantFault == nil {
				if info.Error != nil || info.Result != tc.wantRes || info.Progress != 100 {
					t.Fatalf("info = error %v result %v progress %d", info.Error, info.Result, info.Progress)
				}
				return
			}
			if info.Error == nil || info.Result != nil {
				t.Fatalf("info = error %v result %v", info.Error, info.Result)
			}
			if got, want := typeName(info.Error.Fault), typeName(tc.wantFault); got != want {
				t.Fatalf("fault = %s, want %s", got, want)
			}
			if info.Error.LocalizedMessage != tc.wantMsg {
				t.Fatalf("message = %q, want %q", info.Error.LocalizedMessage, tc.wantMsg)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *types.InvalidPowerState:
		return "InvalidPowerState"
	case *types.SystemError:
		return "SystemError"
	case *types.RequestCanceled:
		return "RequestCanceled"
	}
	return "other"
}

func TestTaskInfoFields(t *testing.T) {
	m, reg, c := newManager(t)
	var created []Change
	var mu sync.Mutex
	m.Observe(func(ch Change) {
		mu.Lock()
		defer mu.Unlock()
		if ch.Created {
			created = append(created, ch)
		}
	})
	sc := &soap.Context{Context: context.Background(), Method: "PowerOnVM_Task"}
	done := make(chan types.TaskInfo, 1)
	m.Observe(func(ch Change) {
		if ch.Info.State == types.TaskInfoStateSuccess {
			done <- ch.Info
		}
	})
	ref, err := m.Start(sc, Spec{Entity: vmRef, DescriptionID: "VirtualMachine.powerOn", User: "alice"},
		func(ctx context.Context, tk *Task) (types.AnyType, error) {
			c.advance(2 * time.Second)
			tk.SetProgress(50)
			if p := inventory.Get[mo.Task](reg, tk.Ref).Info.Progress; p != 50 {
				t.Errorf("progress while running = %d, want 50", p)
			}
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	info := <-done
	if info.Name != "PowerOnVM_Task" || info.DescriptionId != "VirtualMachine.powerOn" {
		t.Errorf("name %q descriptionId %q", info.Name, info.DescriptionId)
	}
	if info.Entity == nil || *info.Entity != vmRef || info.EntityName != "vm1" {
		t.Errorf("entity %v %q", info.Entity, info.EntityName)
	}
	if r, ok := info.Reason.(*types.TaskReasonUser); !ok || r.UserName != "alice" {
		t.Errorf("reason = %#v", info.Reason)
	}
	if info.StartTime == nil || info.CompleteTime == nil || info.QueueTime.IsZero() ||
		info.CompleteTime.Sub(*info.StartTime) != 2*time.Second || info.StartTime.Before(info.QueueTime) {
		t.Errorf("times queue %v start %v complete %v", info.QueueTime, info.StartTime, info.CompleteTime)
	}
	if info.EventChainId == 0 {
		t.Error("no event chain id")
	}
	e := inventory.Get[mo.VirtualMachine](reg, vmRef)
	if len(e.RecentTask) != 1 || e.RecentTask[0] != ref {
		t.Errorf("entity recentTask = %v", e.RecentTask)
	}
	if r := m.Recent(); len(r) != 1 || r[0] != ref {
		t.Errorf("manager recentTask = %v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(created) != 1 || created[0].Info.State != types.TaskInfoStateQueued {
		t.Errorf("created changes = %+v", created)
	}
}

func TestSystemTaskReason(t *testing.T) {
	m, reg, _ := newManager(t)
	info := finished(t, m, reg, Spec{Entity: vmRef, DescriptionID: "VirtualMachine.powerOn"},
		func(context.Context, *Task) (types.AnyType, error) { return nil, nil })
	if _, ok := info.Reason.(*types.TaskReasonSystem); !ok {
		t.Fatalf("reason = %#v, want TaskReasonSystem", info.Reason)
	}
}

func TestCancel(t *testing.T) {
	m, reg, _ := newManager(t)
	started := make(chan struct{})
	done := make(chan types.TaskInfo, 1)
	m.Observe(func(ch Change) {
		if ch.Info.State == types.TaskInfoStateError || ch.Info.State == types.TaskInfoStateSuccess {
			done <- ch.Info
		}
	})
	ref, err := m.Start(context.Background(), Spec{Entity: vmRef, DescriptionID: "VirtualMachine.clone", User: "bob", Cancelable: true},
		func(ctx context.Context, tk *Task) (types.AnyType, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := m.Cancel(ref); err != nil {
		t.Fatal(err)
	}
	info := <-done
	if info.State != types.TaskInfoStateError || !info.Cancelled {
		t.Fatalf("state %s cancelled %v", info.State, info.Cancelled)
	}
	if _, ok := info.Error.Fault.(*types.RequestCanceled); !ok {
		t.Fatalf("fault = %#v, want RequestCanceled", info.Error.Fault)
	}
	var f *vim.Fault
	if err := m.Cancel(ref); !errors.As(err, &f) {
		t.Fatalf("cancel of a finished task: %v", err)
	} else if _, ok := f.Fault.(*types.InvalidState); !ok {
		t.Fatalf("cancel of a finished task = %T, want InvalidState", f.Fault)
	}
	_ = reg
}

func TestCancelRefused(t *testing.T) {
	m, _, _ := newManager(t)
	release := make(chan struct{})
	ref, err := m.Start(context.Background(), Spec{Entity: vmRef, DescriptionID: "VirtualMachine.powerOn", User: "bob"},
		func(ctx context.Context, tk *Task) (types.AnyType, error) { <-release; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	var f *vim.Fault
	if err := m.Cancel(ref); !errors.As(err, &f) {
		t.Fatalf("cancel of a non-cancelable task: %v", err)
	} else if _, ok := f.Fault.(*types.NotSupported); !ok {
		t.Fatalf("fault %T, want NotSupported", f.Fault)
	}
	missing := types.ManagedObjectReference{Type: "Task", Value: "task-999"}
	if err := m.Cancel(missing); !errors.As(err, &f) {
		t.Fatalf("cancel of a missing task: %v", err)
	} else if _, ok := f.Fault.(*types.ManagedObjectNotFound); !ok {
		t.Fatalf("fault %T, want ManagedObjectNotFound", f.Fault)
	}
}

func TestPruneAndHistory(t *testing.T) {
	m, reg, c := newManager(t)
	first := finished(t, m, reg, Spec{Entity: vmRef, DescriptionID: "VirtualMachine.powerOn", User: "alice"},
		func(context.Context, *Task) (types.AnyType, error) { return nil, nil })
	c.advance(finishedTaskTTL + time.Minute)
	second := finished(t, m, reg, Spec{Entity: vmRef, DescriptionID: "VirtualMachine.powerOff", User: "alice"},
		func(context.Context, *Task) (types.AnyType, error) { return nil, nil })

	var removed []string
	m.Observe(func(ch Change) {
		if ch.Removed {
			removed = append(removed, ch.Info.Key)
		}
	})
	m.Prune(context.Background())
	if len(removed) != 1 || removed[0] != first.Key {
		t.Errorf("removed changes = %v, want [%s]", removed, first.Key)
	}

	if reg.Get(first.Task) != nil {
		t.Error("the old task is still in the registry")
	}
	if reg.Get(second.Task) == nil {
		t.Error("the recent task was pruned")
	}
	if r := m.Recent(); len(r) != 1 || r[0] != second.Task {
		t.Errorf("recentTask = %v, want [%s]", r, second.Task.Value)
	}
	if r := inventory.Get[mo.VirtualMachine](reg, vmRef).RecentTask; len(r) != 1 || r[0] != second.Task {
		t.Errorf("entity recentTask = %v", r)
	}
	h := m.History()
	if len(h) != 2 || h[0].Info.Key != first.Key || h[1].Info.Key != second.Key || h[0].Seq >= h[1].Seq {
		t.Fatalf("history = %+v", h)
	}
	if h[0].Info.State != types.TaskInfoStateSuccess {
		t.Errorf("pruned task's history state = %s", h[0].Info.State)
	}
}

func TestHistoryLimit(t *testing.T) {
	m, _, _ := newManager(t)
	for i := 0; i < historyLimit+10; i++ {
		m.record(types.TaskInfo{Key: "task-" + itoa(i)}, true)
	}
	h := m.History()
	if len(h) != historyLimit || h[0].Info.Key != "task-10" {
		t.Fatalf("history has %d entries starting %s", len(h), h[0].Info.Key)
	}
	// An update of a dropped task does not resurrect the order.
	m.record(types.TaskInfo{Key: "task-20", State: types.TaskInfoStateSuccess}, false)
	h = m.History()
	if len(h) != historyLimit || h[10].Info.State != types.TaskInfoStateSuccess {
		t.Fatalf("update not applied in place: %+v", h[10])
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}

func TestClientRunTask(t *testing.T) {
	m, reg, _ := newManager(t)
	ctx := context.Background()
	info, err := m.Create(ctx, Spec{Entity: vmRef, DescriptionID: "com.example.backup", User: "carol", Cancelable: true, ActivationID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	ref := info.Task
	if info.State != types.TaskInfoStateQueued || info.ActivationId != "a1" || info.EntityName != "vm1" {
		t.Fatalf("created = %+v", info)
	}
	faultOf := func(err error) types.BaseMethodFault {
		t.Helper()
		var f *vim.Fault
		if !errors.As(err, &f) {
			t.Fatalf("err = %v, want a vim fault", err)
		}
		return f.Fault
	}
	if _, ok := faultOf(m.UpdateProgress(ref, 10)).(*types.InvalidState); !ok {
		t.Fatal("progress on a queued task was accepted")
	}
	if err := m.SetState(ref, types.TaskInfoStateRunning, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.UpdateProgress(ref, 42); err != nil {
		t.Fatal(err)
	}
	if _, ok := faultOf(m.UpdateProgress(ref, 101)).(*types.InvalidArgument); !ok {
		t.Fatal("progress 101 was accepted")
	}
	if err := m.SetDescription(ref, types.LocalizableMessage{Key: "k", Message: "copying"}); err != nil {
		t.Fatal(err)
	}
	got := inventory.Get[mo.Task](reg, ref).Info
	if got.State != types.TaskInfoStateRunning || got.Progress != 42 || got.Description == nil || got.StartTime == nil {
		t.Fatalf("running task = %+v", got)
	}
	if err := m.SetState(ref, types.TaskInfoStateSuccess, "saved", nil); err != nil {
		t.Fatal(err)
	}
	final, err := m.Wait(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if final.State != types.TaskInfoStateSuccess || final.Result != "saved" || final.CompleteTime == nil {
		t.Fatalf("final = %+v", final)
	}
	if _, ok := faultOf(m.SetState(ref, types.TaskInfoStateRunning, nil, nil)).(*types.InvalidState); !ok {
		t.Fatal("a completed task changed state")
	}

	// A server-run task cannot be driven by a client.
	release := make(chan struct{})
	defer close(release)
	own, err := m.Start(ctx, Spec{Entity: vmRef, DescriptionID: "VirtualMachine.powerOn"},
		func(context.Context, *Task) (types.AnyType, error) { <-release; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := faultOf(m.SetState(own, types.TaskInfoStateSuccess, nil, nil)).(*types.NotSupported); !ok {
		t.Fatal("a client finished a server-run task")
	}
}

func TestCancelClientRunTask(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	info, err := m.Create(ctx, Spec{Entity: vmRef, DescriptionID: "com.example.backup", User: "carol", Cancelable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Cancel(info.Task); err != nil {
		t.Fatal(err)
	}
	final, err := m.Wait(ctx, info.Task)
	if err != nil {
		t.Fatal(err)
	}
	if !final.Cancelled || final.State != types.TaskInfoStateError {
		t.Fatalf("canceled task = %+v", final)
	}
	if _, ok := final.Error.Fault.(*types.RequestCanceled); !ok {
		t.Fatalf("fault = %T", final.Error.Fault)
	}
}

func TestWaitCanceled(t *testing.T) {
	m, _, _ := newManager(t)
	info, err := m.Create(context.Background(), Spec{Entity: vmRef, DescriptionID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Wait(ctx, info.Task); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}
