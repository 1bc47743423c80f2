// Package task runs long operations as vim25 Tasks: it creates the Task
// object, moves it through queued → running → success|error with progress,
// result and fault, records who started it, and keeps the recentTask lists of
// the TaskManager and the entity current.
package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/vim"
)

// ManagerRef is the TaskManager's MoRef.
var ManagerRef = types.ManagedObjectReference{Type: "TaskManager", Value: "TaskManager"}

// recentTaskLimit bounds the TaskManager's recentTask list.
const recentTaskLimit = 200

// finishedTaskTTL is how long a finished task stays in recentTask lists.
const finishedTaskTTL = 10 * time.Minute

// ErrCanceled is returned by Task.Canceled checks once a cancel was asked.
var ErrCanceled = errors.New("task: canceled")

// Spec describes a task to start.
type Spec struct {
	// Entity is the object the task operates on.
	Entity types.ManagedObjectReference
	// DescriptionID is vim's task id ("VirtualMachine.powerOn").
	DescriptionID string
	// User is who started it; "" with Reason set for system tasks.
	User string
	// Reason overrides the default TaskReasonUser{User}.
	Reason types.BaseTaskReason
	// Cancelable says whether CancelTask may stop it.
	Cancelable bool
	// ChainID ties the task's events together; 0 lets the manager choose.
	ChainID int32
}

// Func does a task's work. It returns the task's result (nil for none) or an
// error, typically a *vim.Fault.
type Func func(ctx context.Context, t *Task) (types.AnyType, error)

// Manager starts and tracks tasks. It owns the goroutines that run them.
type Manager struct {
	reg    *inventory.Registry
	now    func() time.Time
	logger *slog.Logger

	wg sync.WaitGroup
	// mu guards cancels and recent.
	mu      sync.Mutex
	cancels map[string]context.CancelFunc
	recent  []types.ManagedObjectReference
	ctx     context.Context
	stop    context.CancelFunc
	chain   int32
	// OnFinish, when set, is called after a task ends.
	OnFinish func(info types.TaskInfo)
}

// NewManager returns a Manager that keeps tasks in reg.
func NewManager(reg *inventory.Registry, now func() time.Time, logger *slog.Logger) *Manager {
	ctx, stop := context.WithCancel(context.Background())
	return &Manager{reg: reg, now: now, logger: logger, cancels: map[string]context.CancelFunc{}, ctx: ctx, stop: stop}
}

// Close cancels running tasks and waits for them to end.
func (m *Manager) Close() {
	m.stop()
	m.wg.Wait()
}

// Task is a running task as its Func sees it.
type Task struct {
	m   *Manager
	Ref types.ManagedObjectReference
	// ChainID is the task's event chain id.
	ChainID int32
	// User is the user the task runs for.
	User string
}

// NextChainID returns a fresh event chain id.
func (m *Manager) NextChainID() int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chain++
	return m.chain
}

// Start creates a task for spec and runs fn in the background. It returns the
// Task's MoRef at once, as vCenter's *_Task methods do.
func (m *Manager) Start(ctx context.Context, spec Spec, fn Func) (types.ManagedObjectReference, error) {
	now := m.now()
	if spec.ChainID == 0 {
		spec.ChainID = m.NextChainID()
	}
	reason := spec.Reason
	if reason == nil {
		reason = &types.TaskReasonUser{UserName: spec.User}
	}
	var ref types.ManagedObjectReference
	err := m.reg.Update(ctx, func(tx *inventory.Txn) error {
		ref = tx.NewRef("Task")
		entityName := ""
		if e, ok := tx.Get(spec.Entity).(mo.Entity); ok {
			entityName = e.Entity().Name
		}
		t := &mo.Task{}
		t.Self = ref
		t.Info = types.TaskInfo{
			Key:           ref.Value,
			Task:          ref,
			DescriptionId: spec.DescriptionID,
			Entity:        &spec.Entity,
			EntityName:    entityName,
			State:         types.TaskInfoStateQueued,
			Cancelable:    spec.Cancelable,
			Reason:        reason,
			QueueTime:     now,
			EventChainId:  spec.ChainID,
		}
		if spec.Entity.Value == "" {
			t.Info.Entity = nil
		}
		tx.Create(t, false)
		if spec.Entity.Value != "" {
			if e, ok := tx.Edit(spec.Entity).(mo.Entity); ok {
				me := e.Entity()
				me.RecentTask = append(me.RecentTask, ref)
			}
		}
		return nil
	})
	if err != nil {
		return ref, err
	}
	m.mu.Lock()
	m.recent = append(m.recent, ref)
	if len(m.recent) > recentTaskLimit {
		m.recent = m.recent[len(m.recent)-recentTaskLimit:]
	}
	tctx, cancel := context.WithCancel(m.ctx)
	m.cancels[ref.Value] = cancel
	m.mu.Unlock()

	t := &Task{m: m, Ref: ref, ChainID: spec.ChainID, User: spec.User}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		m.run(tctx, t, spec, fn)
	}()
	return ref, nil
}

// Recent returns the TaskManager's recentTask list.
func (m *Manager) Recent() []types.ManagedObjectReference {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]types.ManagedObjectReference(nil), m.recent...)
}

func (m *Manager) run(ctx context.Context, t *Task, spec Spec, fn Func) {
	m.set(t.Ref, func(info *types.TaskInfo) {
		info.State = types.TaskInfoStateRunning
		info.StartTime = types.NewTime(m.now())
		info.Progress = 0
	})
	var (
		res types.AnyType
		err error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				if m.logger != nil {
					m.logger.Error("task panic", "task", t.Ref.Value, "panic", p)
				}
				err = vim.SystemError(fmt.Sprintf("internal error in task %s", spec.DescriptionID))
			}
		}()
		res, err = fn(ctx, t)
	}()
	var final types.TaskInfo
	m.set(t.Ref, func(info *types.TaskInfo) {
		info.CompleteTime = types.NewTime(m.now())
		if err != nil {
			info.State = types.TaskInfoStateError
			info.Error = toLocalized(err)
			info.Result = nil
		} else {
			info.State = types.TaskInfoStateSuccess
			info.Result = res
			info.Progress = 100
		}
		final = *info
	})
	m.mu.Lock()
	delete(m.cancels, t.Ref.Value)
	m.mu.Unlock()
	if m.OnFinish != nil {
		m.OnFinish(final)
	}
}

func toLocalized(err error) *types.LocalizedMethodFault {
	var f *vim.Fault
	if errors.As(err, &f) {
		return f.Localized()
	}
	if errors.Is(err, ErrCanceled) || errors.Is(err, context.Canceled) {
		return &types.LocalizedMethodFault{Fault: &types.RequestCanceled{}, LocalizedMessage: "The task was canceled by a user."}
	}
	return vim.SystemError(err.Error()).Localized()
}

// set applies fn to the task's info in one registry update.
func (m *Manager) set(ref types.ManagedObjectReference, fn func(*types.TaskInfo)) {
	err := m.reg.Update(context.Background(), func(tx *inventory.Txn) error {
		t := inventory.Edit[mo.Task](tx, ref)
		if t == nil {
			return nil
		}
		fn(&t.Info)
		return nil
	})
	if err != nil && m.logger != nil {
		m.logger.Error("update task", "task", ref.Value, "err", err)
	}
}

// SetProgress reports percent done (0-100).
func (t *Task) SetProgress(p int32) {
	t.m.set(t.Ref, func(info *types.TaskInfo) { info.Progress = p })
}

// Cancel asks a cancelable task to stop; its Func sees its context canceled.
func (m *Manager) Cancel(ref types.ManagedObjectReference) error {
	t := inventory.Get[mo.Task](m.reg, ref)
	if t == nil {
		return vim.ManagedObjectNotFound(ref)
	}
	if !t.Info.Cancelable {
		return vim.NotSupported("The task %s cannot be canceled.", ref.Value)
	}
	if t.Info.State == types.TaskInfoStateSuccess || t.Info.State == types.TaskInfoStateError {
		return vim.InvalidState("The task %s has already completed.", ref.Value)
	}
	m.mu.Lock()
	cancel := m.cancels[ref.Value]
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return nil
}

// Prune drops finished tasks older than the TTL from recentTask lists and the
// registry. The owner calls it periodically.
func (m *Manager) Prune(ctx context.Context) {
	cut := m.now().Add(-finishedTaskTTL)
	var old []types.ManagedObjectReference
	m.reg.Each("Task", func(o mo.Reference) bool {
		t := o.(*mo.Task)
		if t.Info.CompleteTime != nil && t.Info.CompleteTime.Before(cut) {
			old = append(old, t.Self)
		}
		return true
	})
	if len(old) == 0 {
		return
	}
	dead := map[string]bool{}
	for _, r := range old {
		dead[r.Value] = true
	}
	_ = m.reg.Update(ctx, func(tx *inventory.Txn) error {
		for _, r := range old {
			t := inventory.Get[mo.Task](tx, r)
			if t != nil && t.Info.Entity != nil {
				if e, ok := tx.Get(*t.Info.Entity).(mo.Entity); ok && hasAny(e.Entity().RecentTask, dead) {
					me := tx.Edit(*t.Info.Entity).(mo.Entity).Entity()
					me.RecentTask = filter(me.RecentTask, dead)
				}
			}
			tx.Delete(r)
		}
		return nil
	})
	m.mu.Lock()
	m.recent = filter(m.recent, dead)
	m.mu.Unlock()
}

func hasAny(refs []types.ManagedObjectReference, set map[string]bool) bool {
	for _, r := range refs {
		if set[r.Value] {
			return true
		}
	}
	return false
}

func filter(refs []types.ManagedObjectReference, drop map[string]bool) []types.ManagedObjectReference {
	out := refs[:0:0]
	for _, r := range refs {
		if !drop[r.Value] {
			out = append(out, r)
		}
	}
	return out
}

// Key returns a numeric key for a task ref, for ordering.
func Key(ref types.ManagedObjectReference) int {
	n, _ := strconv.Atoi(ref.Value[len(inventory.Prefix("Task")):])
	return n
}
