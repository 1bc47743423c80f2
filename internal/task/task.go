// Package task runs long operations as vim25 Tasks: it creates the Task
// object, moves it through queued → running → success|error with progress,
// result and fault, records who started it, and keeps the recentTask lists of
// the TaskManager and the entity current. It also keeps the tasks an API
// client runs itself (TaskManager.CreateTask), and a bounded history of
// every task's info for TaskHistoryCollectors, with observers that hear of
// every change.
package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// ManagerRef is the TaskManager's MoRef.
var ManagerRef = types.ManagedObjectReference{Type: "TaskManager", Value: "TaskManager"}

// recentTaskLimit bounds the TaskManager's recentTask list.
const recentTaskLimit = 200

// finishedTaskTTL is how long a finished task stays in recentTask lists.
const finishedTaskTTL = 10 * time.Minute

// historyLimit bounds the task history kept for TaskHistoryCollectors; the
// oldest entries are dropped first.
const historyLimit = 5000

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
	// ParentTaskKey and ActivationID are set for tasks created through
	// TaskManager.CreateTask.
	ParentTaskKey, ActivationID string
	// Name is the vim method that created the task ("PowerOnVM_Task"); when
	// empty it is taken from a *soap.Context passed to Start.
	Name string
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
	// mu guards cancels, done, external and recent.
	mu      sync.Mutex
	cancels map[string]context.CancelFunc
	// done holds a channel per unfinished task, closed when it ends.
	done map[string]chan struct{}
	// external marks the unfinished tasks that a client runs (Create).
	external map[string]bool
	recent   []types.ManagedObjectReference
	ctx      context.Context
	stop     context.CancelFunc
	chain    int32
	// history holds every task's latest info, oldest first, and byKey indexes
	// it by task key; both guarded by mu.
	history []*Record
	byKey   map[string]*Record
	seq     uint64
	// observers are told about every change; guarded by mu (appended only).
	observers []func(Change)
	// OnFinish, when set, is called after a task ends.
	OnFinish func(info types.TaskInfo)
}

// Record is one task in the manager's history. Seq orders tasks by creation.
// Info is a snapshot that must not be modified.
type Record struct {
	Seq  uint64
	Info types.TaskInfo
}

// Change reports a task's info after a change was published. Created is true
// for the change that created the task, Removed for its removal from the
// registry and the recentTask lists by Prune (it stays in the history).
type Change struct {
	Seq     uint64
	Info    types.TaskInfo
	Created bool
	Removed bool
}

// NewManager returns a Manager that keeps tasks in reg.
func NewManager(reg *inventory.Registry, now func() time.Time, logger *slog.Logger) *Manager {
	ctx, stop := context.WithCancel(context.Background())
	return &Manager{reg: reg, now: now, logger: logger, cancels: map[string]context.CancelFunc{},
		done: map[string]chan struct{}{}, external: map[string]bool{}, byKey: map[string]*Record{}, ctx: ctx, stop: stop}
}

// Observe registers fn to be called after every published task change, in
// the order of each task's changes, outside any registry lock. fn must be
// quick; it must not call Start or wait for tasks.
func (m *Manager) Observe(fn func(Change)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observers = append(m.observers, fn)
}

// History returns the tasks this manager has run, oldest first, at most the
// newest 5000. The records are snapshots shared with the manager: read only.
func (m *Manager) History() []*Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Record(nil), m.history...)
}

// record stores info in the history and tells the observers.
func (m *Manager) record(info types.TaskInfo, created bool) {
	m.mu.Lock()
	r := m.byKey[info.Key]
	if r == nil {
		m.seq++
		r = &Record{Seq: m.seq}
		m.byKey[info.Key] = r
		m.history = append(m.history, r)
		if len(m.history) > historyLimit {
			drop := len(m.history) - historyLimit
			for _, old := range m.history[:drop] {
				delete(m.byKey, old.Info.Key)
			}
			m.history = append([]*Record(nil), m.history[drop:]...)
		}
	}
	// Replace rather than modify: History's callers may hold the old value.
	nr := &Record{Seq: r.Seq, Info: info}
	m.byKey[info.Key] = nr
	for i := len(m.history) - 1; i >= 0; i-- {
		if m.history[i] == r {
			m.history[i] = nr
			break
		}
	}
	obs := m.observers
	m.mu.Unlock()
	for _, fn := range obs {
		fn(Change{Seq: nr.Seq, Info: info, Created: created})
	}
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
	ref, _, err := m.create(ctx, spec, false)
	if err != nil {
		return ref, err
	}
	tctx, cancel := context.WithCancel(m.ctx)
	m.mu.Lock()
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

// Create creates a task that an API client runs itself
// (TaskManager.CreateTask): it stays queued until the client moves it on
// with SetState.
func (m *Manager) Create(ctx context.Context, spec Spec) (types.TaskInfo, error) {
	_, info, err := m.create(ctx, spec, true)
	return info, err
}

// create publishes a queued task for spec and records it.
func (m *Manager) create(ctx context.Context, spec Spec, external bool) (types.ManagedObjectReference, types.TaskInfo, error) {
	now := m.now()
	if spec.ChainID == 0 {
		spec.ChainID = m.NextChainID()
	}
	reason := spec.Reason
	switch {
	case reason != nil:
	case spec.User == "":
		reason = &types.TaskReasonSystem{}
	default:
		reason = &types.TaskReasonUser{UserName: spec.User}
	}
	if spec.Name == "" {
		if sc, ok := ctx.(*soap.Context); ok && strings.HasSuffix(sc.Method, "_Task") {
			spec.Name = sc.Method
		}
	}
	var (
		ref     types.ManagedObjectReference
		created types.TaskInfo
	)
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
			Name:          spec.Name,
			DescriptionId: spec.DescriptionID,
			Entity:        &spec.Entity,
			EntityName:    entityName,
			State:         types.TaskInfoStateQueued,
			Cancelable:    spec.Cancelable,
			Reason:        reason,
			QueueTime:     now,
			EventChainId:  spec.ChainID,
			ParentTaskKey: spec.ParentTaskKey,
			ActivationId:  spec.ActivationID,
		}
		if spec.Entity.Value == "" {
			t.Info.Entity = nil
		}
		created = t.Info
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
		return ref, created, err
	}
	m.mu.Lock()
	m.recent = append(m.recent, ref)
	if len(m.recent) > recentTaskLimit {
		m.recent = m.recent[len(m.recent)-recentTaskLimit:]
	}
	m.done[ref.Value] = make(chan struct{})
	if external {
		m.external[ref.Value] = true
	}
	m.mu.Unlock()
	m.record(created, true)
	return ref, created, nil
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
	if err != nil {
		m.finish(t.Ref, nil, toLocalized(err))
	} else {
		m.finish(t.Ref, res, nil)
	}
}

// finish ends a task with a result, or with fault when it is not nil, and
// wakes its waiters.
func (m *Manager) finish(ref types.ManagedObjectReference, res types.AnyType, fault *types.LocalizedMethodFault) {
	var final types.TaskInfo
	m.set(ref, func(info *types.TaskInfo) {
		now := m.now()
		info.CompleteTime = types.NewTime(now)
		if info.StartTime == nil {
			info.StartTime = types.NewTime(now)
		}
		if fault != nil {
			info.State = types.TaskInfoStateError
			info.Error = fault
			info.Result = nil
		} else {
			info.State = types.TaskInfoStateSuccess
			info.Result = res
			info.Progress = 100
		}
		final = *info
	})
	m.mu.Lock()
	delete(m.cancels, ref.Value)
	delete(m.external, ref.Value)
	if ch := m.done[ref.Value]; ch != nil {
		close(ch)
		delete(m.done, ref.Value)
	}
	m.mu.Unlock()
	if m.OnFinish != nil {
		m.OnFinish(final)
	}
}

// Wait blocks until the task ref has ended or ctx is done, and returns its
// final info. A task that ended long ago is found in the history.
func (m *Manager) Wait(ctx context.Context, ref types.ManagedObjectReference) (types.TaskInfo, error) {
	m.mu.Lock()
	ch := m.done[ref.Value]
	m.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return types.TaskInfo{}, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.byKey[ref.Value]; r != nil {
		return r.Info, nil
	}
	return types.TaskInfo{}, vim.ManagedObjectNotFound(ref)
}

// canceledFault is the error of a canceled task.
func canceledFault() *types.LocalizedMethodFault {
	return &types.LocalizedMethodFault{Fault: &types.RequestCanceled{}, LocalizedMessage: "The task was canceled by a user."}
}

func toLocalized(err error) *types.LocalizedMethodFault {
	var f *vim.Fault
	if errors.As(err, &f) {
		return f.Localized()
	}
	if errors.Is(err, ErrCanceled) || errors.Is(err, context.Canceled) {
		return canceledFault()
	}
	return vim.SystemError(err.Error()).Localized()
}

// set applies fn to the task's info in one registry update, then records
// the new info in the history.
func (m *Manager) set(ref types.ManagedObjectReference, fn func(*types.TaskInfo)) {
	var (
		info  types.TaskInfo
		found bool
	)
	err := m.reg.Update(context.Background(), func(tx *inventory.Txn) error {
		t := inventory.Edit[mo.Task](tx, ref)
		if t == nil {
			return nil
		}
		fn(&t.Info)
		info, found = t.Info, true
		return nil
	})
	if err != nil {
		if m.logger != nil {
			m.logger.Error("update task", "task", ref.Value, "err", err)
		}
		return
	}
	if found {
		m.record(info, false)
	}
}

// SetProgress reports percent done (0-100).
func (t *Task) SetProgress(p int32) {
	t.m.set(t.Ref, func(info *types.TaskInfo) { info.Progress = p })
}

// Cancel asks a cancelable task to stop: it sets info.cancelled and cancels
// the context its Func runs with. The task ends when its Func returns, with
// RequestCanceled unless the Func finished its work anyway. Cancel fails with
// NotSupported for a task that is not cancelable and InvalidState for one
// that has completed or was already canceled.
func (m *Manager) Cancel(ref types.ManagedObjectReference) error {
	t := inventory.Get[mo.Task](m.reg, ref)
	if t == nil {
		return vim.ManagedObjectNotFound(ref)
	}
	if t.Info.State == types.TaskInfoStateSuccess || t.Info.State == types.TaskInfoStateError {
		return vim.InvalidState("The task %s has already completed.", ref.Value)
	}
	if !t.Info.Cancelable {
		return vim.NotSupported("The task %s cannot be canceled.", ref.Value)
	}
	if t.Info.Cancelled {
		return vim.InvalidState("The task %s is already being canceled.", ref.Value)
	}
	m.mu.Lock()
	cancel := m.cancels[ref.Value]
	external := m.external[ref.Value]
	m.mu.Unlock()
	m.set(ref, func(info *types.TaskInfo) { info.Cancelled = true })
	if cancel != nil {
		cancel()
	}
	if external {
		// Nobody here runs it: it ends now, as vCenter ends it for the client.
		m.finish(ref, nil, canceledFault())
	}
	return nil
}

// externalTask returns the unfinished client-run task ref.
func (m *Manager) externalTask(ref types.ManagedObjectReference) (*mo.Task, error) {
	t := inventory.Get[mo.Task](m.reg, ref)
	if t == nil {
		return nil, vim.ManagedObjectNotFound(ref)
	}
	m.mu.Lock()
	external := m.external[ref.Value]
	m.mu.Unlock()
	if t.Info.State == types.TaskInfoStateSuccess || t.Info.State == types.TaskInfoStateError {
		return nil, vim.InvalidState("The task %s has already completed.", ref.Value)
	}
	if !external {
		return nil, vim.NotSupported("The task %s is run by the server; only tasks created with CreateTask can be changed by a client.", ref.Value)
	}
	return t, nil
}

// SetState moves a client-run task to state: running sets its start time,
// success and error end it with result or fault (a SystemError when
// fault is nil). A task that has completed
// cannot change (InvalidState).
func (m *Manager) SetState(ref types.ManagedObjectReference, state types.TaskInfoState, res types.AnyType, fault *types.LocalizedMethodFault) error {
	t, err := m.externalTask(ref)
	if err != nil {
		return err
	}
	switch state {
	case types.TaskInfoStateQueued:
		if t.Info.State != types.TaskInfoStateQueued {
			return vim.InvalidState("The task %s is already running; it cannot return to the queue.", ref.Value)
		}
	case types.TaskInfoStateRunning:
		m.set(ref, func(info *types.TaskInfo) {
			info.State = types.TaskInfoStateRunning
			if info.StartTime == nil {
				info.StartTime = types.NewTime(m.now())
			}
		})
	case types.TaskInfoStateSuccess:
		m.finish(ref, res, nil)
	case types.TaskInfoStateError:
		if fault == nil {
			fault = vim.SystemError("the task failed without a fault").Localized()
		}
		m.finish(ref, nil, fault)
	default:
		return vim.InvalidArgument("state", "Unknown task state %q; use queued, running, success or error.", state)
	}
	return nil
}

// UpdateProgress sets the percentage done (0-100) of a running client-run
// task.
func (m *Manager) UpdateProgress(ref types.ManagedObjectReference, percent int32) error {
	t, err := m.externalTask(ref)
	if err != nil {
		return err
	}
	if t.Info.State != types.TaskInfoStateRunning {
		return vim.InvalidState("The task %s is not running; set it running before reporting progress.", ref.Value)
	}
	if percent < 0 || percent > 100 {
		return vim.InvalidArgument("percentDone", "Progress %d is out of range; use 0 to 100.", percent)
	}
	m.set(ref, func(info *types.TaskInfo) { info.Progress = percent })
	return nil
}

// SetDescription sets the description of an unfinished client-run task.
func (m *Manager) SetDescription(ref types.ManagedObjectReference, msg types.LocalizableMessage) error {
	if _, err := m.externalTask(ref); err != nil {
		return err
	}
	m.set(ref, func(info *types.TaskInfo) { info.Description = &msg })
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
	var removed []Change
	for _, r := range old {
		if rec := m.byKey[r.Value]; rec != nil {
			removed = append(removed, Change{Seq: rec.Seq, Info: rec.Info, Removed: true})
		}
	}
	obs := m.observers
	m.mu.Unlock()
	for _, ch := range removed {
		for _, fn := range obs {
			fn(ch)
		}
	}
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
