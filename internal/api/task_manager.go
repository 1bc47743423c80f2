package api

import (
	"context"
	"sync"

	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// taskManager is the TaskManager; recentTask comes from the task package.
type taskManager struct {
	mo.TaskManager
	svc *Service
}

func (m *taskManager) forSession(*soap.Context) mo.Reference { return m.refreshed() }

// refreshed implements pageRefresher: recentTask lives in the task manager.
func (m *taskManager) refreshed() mo.Reference {
	c := *m
	c.RecentTask = m.svc.tasks.Recent()
	c.MaxCollector = maxCollectorsPerSession
	return &c
}

// taskDescription is vCenter's task description catalog (captured data).
func taskDescription() types.TaskDescription { return vpx.Description }

// taskLabels maps a task descriptionId to its catalog label.
var taskLabels = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for _, d := range vpx.Description.MethodInfo {
		e := d.GetElementDescription()
		m[e.Key] = e.Label
	}
	return m
})

// postTaskEvent posts the TaskEvent vCenter logs when a task is created.
func (s *Service) postTaskEvent(info types.TaskInfo) {
	label := taskLabels()[info.DescriptionId]
	if label == "" {
		label = info.DescriptionId
	}
	user := ""
	if r, ok := info.Reason.(*types.TaskReasonUser); ok {
		user = r.UserName
	}
	var entity types.ManagedObjectReference
	if info.Entity != nil {
		entity = *info.Entity
	}
	s.postEvent(&types.TaskEvent{Info: info}, user, info.EventChainId, entity, "Task: "+label)
}

func (s *Service) registerTaskManager(t *soap.Table) {
	soap.Register(t, "Task", "CancelTask", s.cancelTask)
	soap.Register(t, "Task", "SetTaskState", s.setTaskState)
	soap.Register(t, "Task", "UpdateProgress", s.updateProgress)
	soap.Register(t, "Task", "SetTaskDescription", s.setTaskDescription)
	soap.Register(t, "TaskManager", "CreateTask", s.createTask)
	soap.Register(t, "TaskManager", "CreateCollectorForTasks", s.createCollectorForTasks)
	soap.Register(t, "TaskHistoryCollector", "ReadNextTasks", s.readNextTasks)
	soap.Register(t, "TaskHistoryCollector", "ReadPreviousTasks", s.readPreviousTasks)
}

func (s *Service) cancelTask(ctx *soap.Context, _ *types.CancelTask) (any, error) {
	if err := s.tasks.Cancel(ctx.This); err != nil {
		return nil, err
	}
	return &types.CancelTaskResponse{}, nil
}

// RunTask runs fn as a vim25 Task, as a *_Task method does (the task shows
// in recentTask lists, the task history and the event log), and waits for
// it to end. It returns the task's result, or its fault as a *vim.Fault.
// In-process builders use it to leave the tasks a client would have left.
func (s *Service) RunTask(ctx context.Context, spec task.Spec, fn task.Func) (types.AnyType, error) {
	ref, err := s.tasks.Start(ctx, spec, fn)
	if err != nil {
		return nil, err
	}
	info, err := s.tasks.Wait(ctx, ref)
	if err != nil {
		return nil, err
	}
	if info.Error != nil {
		return nil, &vim.Fault{Fault: info.Error.Fault, Msg: info.Error.LocalizedMessage}
	}
	return info.Result, nil
}

// createTask implements TaskManager.CreateTask: a task that the calling
// client (an extension) runs and reports on with SetTaskState,
// UpdateProgress and SetTaskDescription. Its type must be in the task list
// of a registered extension.
func (s *Service) createTask(ctx *soap.Context, req *types.CreateTask) (any, error) {
	if _, ok := s.reg.Get(req.Obj).(mo.Entity); !ok {
		return nil, vim.ManagedObjectNotFound(req.Obj)
	}
	if !s.taskTypeRegistered(req.TaskTypeId) {
		return nil, vim.InvalidArgument("taskTypeId",
			"The task type %q is not in the task list of any registered extension.", req.TaskTypeId)
	}
	user := req.InitiatedBy
	if user == "" {
		user = ctx.UserName()
	}
	info, err := s.tasks.Create(ctx, task.Spec{Entity: req.Obj, DescriptionID: req.TaskTypeId, User: user,
		Cancelable: req.Cancelable, ParentTaskKey: req.ParentTaskKey, ActivationID: req.ActivationId})
	if err != nil {
		return nil, err
	}
	return &types.CreateTaskResponse{Returnval: info}, nil
}

// taskTypeRegistered reports whether an extension declares the task type.
func (s *Service) taskTypeRegistered(id string) bool {
	if s.content.ExtensionManager == nil {
		return false
	}
	v, _ := vim.Property(s.reg.Get(*s.content.ExtensionManager), "extensionList")
	list, _ := v.([]types.Extension)
	for _, ext := range list {
		for _, tt := range ext.TaskList {
			if tt.TaskID == id {
				return true
			}
		}
	}
	return false
}

func (s *Service) setTaskState(ctx *soap.Context, req *types.SetTaskState) (any, error) {
	if err := s.tasks.SetState(ctx.This, req.State, req.Result, req.Fault); err != nil {
		return nil, err
	}
	return &types.SetTaskStateResponse{}, nil
}

func (s *Service) updateProgress(ctx *soap.Context, req *types.UpdateProgress) (any, error) {
	if err := s.tasks.UpdateProgress(ctx.This, req.PercentDone); err != nil {
		return nil, err
	}
	return &types.UpdateProgressResponse{}, nil
}

func (s *Service) setTaskDescription(ctx *soap.Context, req *types.SetTaskDescription) (any, error) {
	if err := s.tasks.SetDescription(ctx.This, req.Description); err != nil {
		return nil, err
	}
	return &types.SetTaskDescriptionResponse{}, nil
}

// taskCollector is the state of a TaskHistoryCollector. Its items are the
// tasks of the task manager's history that match its filter now (a task's
// state and times change), ordered by creation.
type taskCollector struct {
	ref     types.ManagedObjectReference
	session string
	filter  types.TaskFilterSpec
	match   func(*types.TaskInfo) bool
	src     *task.Manager

	// mu guards pos, pageSize and inPage.
	mu       sync.Mutex
	pos      cursor
	pageSize int
	// inPage holds the keys of the tasks last published in latestPage.
	inPage map[string]bool
}

// items returns the matching tasks, oldest first, with their sequences.
func (c *taskCollector) items() ([]uint64, []types.TaskInfo) {
	var seqs []uint64
	var infos []types.TaskInfo
	for _, r := range c.src.History() {
		if c.match(&r.Info) {
			seqs = append(seqs, r.Seq)
			infos = append(infos, r.Info)
		}
	}
	return seqs, infos
}

// concerns reports whether a task change may alter the latest page.
func (c *taskCollector) concerns(ch task.Change) bool {
	if c.match(&ch.Info) {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inPage[ch.Info.Key]
}

// latestPage returns the newest pageSize matching tasks, newest first.
func (c *taskCollector) latestPage() []types.TaskInfo {
	_, infos := c.items()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(c.pageSize, len(infos))
	out := make([]types.TaskInfo, 0, n)
	c.inPage = make(map[string]bool, n)
	for i := len(infos) - 1; i >= len(infos)-n; i-- {
		out = append(out, infos[i])
		c.inPage[infos[i].Key] = true
	}
	return out
}

func (c *taskCollector) readNext(n int) []types.TaskInfo {
	seqs, infos := c.items()
	c.mu.Lock()
	defer c.mu.Unlock()
	lo, hi, next := c.pos.readNext(seqs, n)
	c.pos = next
	return infos[lo:hi]
}

func (c *taskCollector) readPrev(n int) []types.TaskInfo {
	seqs, infos := c.items()
	c.mu.Lock()
	defer c.mu.Unlock()
	lo, hi, next := c.pos.readPrev(seqs, n)
	c.pos = next
	out := make([]types.TaskInfo, 0, hi-lo)
	for i := hi - 1; i >= lo; i-- {
		out = append(out, infos[i])
	}
	return out
}

func (c *taskCollector) reference() types.ManagedObjectReference { return c.ref }
func (c *taskCollector) owner() string                           { return c.session }
func (c *taskCollector) close()                                  {}

func (c *taskCollector) rewind() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = 0
}

func (c *taskCollector) reset() {
	seqs, _ := c.items()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = resetCursor(seqs, c.pageSize)
}

func (c *taskCollector) setPageSize(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pageSize = n
}

// taskHistoryCollector is the TaskHistoryCollector managed object.
type taskHistoryCollector struct {
	mo.TaskHistoryCollector
	c *taskCollector
}

func (o *taskHistoryCollector) forSession(*soap.Context) mo.Reference { return o.refreshed() }

// refreshed implements pageRefresher.
func (o *taskHistoryCollector) refreshed() mo.Reference {
	cp := *o
	cp.LatestPage = o.c.latestPage()
	return &cp
}

func (s *Service) createCollectorForTasks(ctx *soap.Context, req *types.CreateCollectorForTasks) (any, error) {
	if s.isESX() {
		return nil, vim.NotSupported("An ESX host keeps no task history; use recentTask, or ask the vCenter server that manages it.")
	}
	match, err := s.taskMatcher(&req.Filter)
	if err != nil {
		return nil, err
	}
	c := &taskCollector{session: sessionKey(ctx.Session), filter: req.Filter, match: match, src: s.tasks, pageSize: defaultPageSize}
	c.ref = newSessionRef("TaskHistoryCollector", ctx.Session)
	obj := &taskHistoryCollector{c: c}
	obj.Self = c.ref
	obj.Filter = req.Filter
	if err := s.publishCollector(ctx, c, obj); err != nil {
		return nil, err
	}
	s.mgr.notify.mark(c.ref)
	return &types.CreateCollectorForTasksResponse{Returnval: c.ref}, nil
}

func (s *Service) taskCollectorOf(ctx *soap.Context) (*taskCollector, error) {
	hc, err := s.mgr.collector(ctx)
	if err != nil {
		return nil, err
	}
	return hc.(*taskCollector), nil
}

func (s *Service) readNextTasks(ctx *soap.Context, req *types.ReadNextTasks) (any, error) {
	c, err := s.taskCollectorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkReadCount(req.MaxCount); err != nil {
		return nil, err
	}
	return &types.ReadNextTasksResponse{Returnval: c.readNext(int(req.MaxCount))}, nil
}

func (s *Service) readPreviousTasks(ctx *soap.Context, req *types.ReadPreviousTasks) (any, error) {
	c, err := s.taskCollectorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkReadCount(req.MaxCount); err != nil {
		return nil, err
	}
	return &types.ReadPreviousTasksResponse{Returnval: c.readPrev(int(req.MaxCount))}, nil
}

// taskMatcher compiles a TaskFilterSpec into a predicate.
func (s *Service) taskMatcher(f *types.TaskFilterSpec) (func(*types.TaskInfo) bool, error) {
	var checks []func(*types.TaskInfo) bool
	if f.Entity != nil {
		scope, err := s.newEntityScope("filter.entity", f.Entity.Entity, string(f.Entity.Recursion))
		if err != nil {
			return nil, err
		}
		if !scope.everything() {
			checks = append(checks, func(t *types.TaskInfo) bool { return t.Entity != nil && scope.covers(*t.Entity) })
		}
	}
	if f.Time != nil {
		check, err := taskTimeCheck(f.Time)
		if err != nil {
			return nil, err
		}
		checks = append(checks, check)
	}
	if f.UserName != nil {
		uf := &userFilter{system: f.UserName.SystemUser, users: f.UserName.UserList}
		checks = append(checks, func(t *types.TaskInfo) bool { return uf.matches(taskUser(t)) })
	}
	if len(f.State) > 0 {
		checks = append(checks, func(t *types.TaskInfo) bool {
			for _, st := range f.State {
				if t.State == st {
					return true
				}
			}
			return false
		})
	}
	if len(f.EventChainId) > 0 {
		checks = append(checks, func(t *types.TaskInfo) bool {
			for _, id := range f.EventChainId {
				if t.EventChainId == id {
					return true
				}
			}
			return false
		})
	}
	for _, sel := range []struct {
		list []string
		get  func(*types.TaskInfo) string
	}{
		{f.ActivationId, func(t *types.TaskInfo) string { return t.ActivationId }},
		{f.Tag, func(t *types.TaskInfo) string { return t.ChangeTag }},
		{f.ParentTaskKey, func(t *types.TaskInfo) string { return t.ParentTaskKey }},
		{f.RootTaskKey, func(t *types.TaskInfo) string { return t.RootTaskKey }},
	} {
		if len(sel.list) > 0 {
			checks = append(checks, func(t *types.TaskInfo) bool { return containsString(sel.list, sel.get(t)) })
		}
	}
	if f.Alarm != nil {
		checks = append(checks, func(t *types.TaskInfo) bool {
			r, ok := t.Reason.(*types.TaskReasonAlarm)
			return ok && r.Alarm.Value == f.Alarm.Value
		})
	}
	if f.ScheduledTask != nil {
		checks = append(checks, func(t *types.TaskInfo) bool {
			r, ok := t.Reason.(*types.TaskReasonSchedule)
			return ok && r.ScheduledTask.Value == f.ScheduledTask.Value
		})
	}
	return func(t *types.TaskInfo) bool {
		for _, c := range checks {
			if !c(t) {
				return false
			}
		}
		return true
	}, nil
}

// taskTimeCheck compiles a by-time task filter: a task passes when the
// chosen time is set and within the range.
func taskTimeCheck(f *types.TaskFilterSpecByTime) (func(*types.TaskInfo) bool, error) {
	tr, err := newTimeRange("filter.time", f.BeginTime, f.EndTime)
	if err != nil {
		return nil, err
	}
	switch f.TimeType {
	case types.TaskFilterSpecTimeOptionQueuedTime:
		return func(t *types.TaskInfo) bool { return tr.contains(t.QueueTime) }, nil
	case types.TaskFilterSpecTimeOptionStartedTime:
		return func(t *types.TaskInfo) bool { return t.StartTime != nil && tr.contains(*t.StartTime) }, nil
	case types.TaskFilterSpecTimeOptionCompletedTime:
		return func(t *types.TaskInfo) bool { return t.CompleteTime != nil && tr.contains(*t.CompleteTime) }, nil
	}
	return nil, vim.InvalidArgument("filter.time.timeType", "Unknown time type %q; use queuedTime, startedTime or completedTime.", f.TimeType)
}

// taskUser returns the user who started a task, "" for the system.
func taskUser(t *types.TaskInfo) string {
	if r, ok := t.Reason.(*types.TaskReasonUser); ok {
		return r.UserName
	}
	return ""
}
