package api_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	vtask "github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/testserver"
	"github.com/vireo-project/vireo/internal/vim"
)

// mgrRunTask starts a task on entity and waits for it to end.
func mgrRunTask(t *testing.T, s *testserver.Server, entity types.ManagedObjectReference, desc, user string, fail bool) types.ManagedObjectReference {
	t.Helper()
	ref, err := api.StartTestTask(s.Service(), vtask.Spec{Entity: entity, DescriptionID: desc, User: user},
		func(context.Context, *vtask.Task) (types.AnyType, error) {
			if fail {
				return nil, vim.InvalidState("cannot")
			}
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgrWaitTask(mgrContext(t), s, ref); err != nil && !fail {
		t.Fatal(err)
	}
	return ref
}

func mgrTaskObject(s *testserver.Server, ref types.ManagedObjectReference) *object.Task {
	return object.NewTask(s.Client.Client, ref)
}

func mgrWaitTask(ctx context.Context, s *testserver.Server, ref types.ManagedObjectReference) error {
	_, err := mgrTaskObject(s, ref).WaitForResult(ctx)
	return err
}

func TestTaskHistoryCollector(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	t1 := mgrRunTask(t, s, inv.vm1, "VirtualMachine.powerOn", testserver.AdminUser, false)
	t2 := mgrRunTask(t, s, inv.vm2, "VirtualMachine.powerOn", "bob", true)
	t3 := mgrRunTask(t, s, inv.host, "HostSystem.reconnect", testserver.AdminUser, false)

	m := task.NewManager(s.Client.Client)
	keys := func(infos []types.TaskInfo) []string {
		var out []string
		for _, i := range infos {
			out = append(out, i.Key)
		}
		return out
	}
	tests := []struct {
		name   string
		filter types.TaskFilterSpec
		want   []string // oldest first
	}{
		{"all", types.TaskFilterSpec{}, []string{t1.Value, t2.Value, t3.Value}},
		{"root all", types.TaskFilterSpec{Entity: &types.TaskFilterSpecByEntity{Entity: api.RootFolderRef, Recursion: "all"}},
			[]string{t1.Value, t2.Value, t3.Value}},
		{"vm folder children", types.TaskFilterSpec{Entity: &types.TaskFilterSpecByEntity{Entity: inv.vmFolder, Recursion: "children"}},
			[]string{t1.Value, t2.Value}},
		{"vm self", types.TaskFilterSpec{Entity: &types.TaskFilterSpecByEntity{Entity: inv.vm2, Recursion: "self"}}, []string{t2.Value}},
		{"cluster all", types.TaskFilterSpec{Entity: &types.TaskFilterSpecByEntity{Entity: inv.cluster, Recursion: "all"}}, []string{t3.Value}},
		{"error state", types.TaskFilterSpec{State: []types.TaskInfoState{types.TaskInfoStateError}}, []string{t2.Value}},
		{"user", types.TaskFilterSpec{UserName: &types.TaskFilterSpecByUsername{UserList: []string{"bob"}}}, []string{t2.Value}},
		{"started recently", types.TaskFilterSpec{Time: &types.TaskFilterSpecByTime{TimeType: types.TaskFilterSpecTimeOptionStartedTime,
			BeginTime: types.NewTime(time.Now().Add(-time.Hour))}}, []string{t1.Value, t2.Value, t3.Value}},
		{"completed in the future", types.TaskFilterSpec{Time: &types.TaskFilterSpecByTime{TimeType: types.TaskFilterSpecTimeOptionCompletedTime,
			BeginTime: types.NewTime(time.Now().Add(time.Hour))}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := m.CreateCollectorForTasks(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Destroy(ctx)
			got, err := c.ReadNextTasks(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(keys(got), tc.want) {
				t.Fatalf("ReadNextTasks = %v, want %v", keys(got), tc.want)
			}
		})
	}

	c, err := m.CreateCollectorForTasks(ctx, types.TaskFilterSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetPageSize(ctx, 2); err != nil {
		t.Fatal(err)
	}
	page, err := c.LatestPage(ctx)
	if err != nil || !reflect.DeepEqual(keys(page), []string{t3.Value, t2.Value}) {
		t.Fatalf("latestPage = %v, %v", keys(page), err)
	}
	if page[1].State != types.TaskInfoStateError || page[1].Error == nil {
		t.Fatalf("failed task in the page = %+v", page[1])
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	prev, err := c.ReadPreviousTasks(ctx, 5)
	if err != nil || !reflect.DeepEqual(keys(prev), []string{t1.Value}) {
		t.Fatalf("ReadPreviousTasks after reset = %v, %v", keys(prev), err)
	}
	_, err = c.ReadPreviousTasks(ctx, -1)
	mgrFault(t, err, &types.InvalidArgument{})

	_, err = m.CreateCollectorForTasks(ctx, types.TaskFilterSpec{Time: &types.TaskFilterSpecByTime{TimeType: "someday"}})
	mgrFault(t, err, &types.InvalidArgument{})
}

func TestTaskCollectorFollowsStateChanges(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	release := make(chan struct{})
	var once sync.Once
	releaseTask := func() { once.Do(func() { close(release) }) }
	defer releaseTask()
	ref, err := api.StartTestTask(s.Service(), vtask.Spec{Entity: inv.vm1, DescriptionID: "VirtualMachine.powerOn", User: "alice"},
		func(context.Context, *vtask.Task) (types.AnyType, error) { <-release; return "ok", nil })
	if err != nil {
		t.Fatal(err)
	}
	c, err := task.NewManager(s.Client.Client).CreateCollectorForTasks(ctx, types.TaskFilterSpec{})
	if err != nil {
		t.Fatal(err)
	}
	err = property.Wait(ctx, property.DefaultCollector(s.Client.Client), c.Reference(), []string{"latestPage"},
		func(pc []types.PropertyChange) bool {
			for _, ch := range pc {
				infos, _ := ch.Val.(types.ArrayOfTaskInfo)
				for _, info := range infos.TaskInfo {
					if info.Key == ref.Value && info.State == types.TaskInfoStateSuccess {
						return true
					}
				}
			}
			releaseTask()
			return false
		})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTaskEventPosted(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	ref := mgrRunTask(t, s, inv.vm1, "VirtualMachine.powerOn", testserver.AdminUser, false)
	evs, err := event.NewManager(s.Client.Client).QueryEvents(ctx, types.EventFilterSpec{
		Entity: &types.EventFilterSpecByEntity{Entity: inv.vm1, Recursion: "self"}, EventTypeId: []string{"TaskEvent"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("task events = %v", evs)
	}
	e := evs[0].(*types.TaskEvent)
	if e.Info.Key != ref.Value || e.FullFormattedMessage != "Task: Power On virtual machine" ||
		e.UserName != testserver.AdminUser || e.ChainId != e.Info.EventChainId || e.Vm == nil || e.Vm.Name != "vm1" {
		t.Fatalf("task event = %+v", e)
	}
}

func TestTaskManagerProperties(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	ref := mgrRunTask(t, s, inv.vm1, "VirtualMachine.powerOn", testserver.AdminUser, false)
	var tm mo.TaskManager
	err := property.DefaultCollector(s.Client.Client).RetrieveOne(ctx, *s.Client.ServiceContent.TaskManager,
		[]string{"recentTask", "description.methodInfo", "maxCollector"}, &tm)
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.RecentTask) != 1 || tm.RecentTask[0] != ref || tm.MaxCollector != 32 || len(tm.Description.MethodInfo) == 0 {
		t.Fatalf("task manager = recent %v max %d methods %d", tm.RecentTask, tm.MaxCollector, len(tm.Description.MethodInfo))
	}
}

func TestRecentTaskFollowed(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	var ref types.ManagedObjectReference
	err := property.Wait(ctx, property.DefaultCollector(s.Client.Client), *s.Client.ServiceContent.TaskManager, []string{"recentTask"},
		func(pc []types.PropertyChange) bool {
			if ref.Value == "" {
				ref = mgrRunTask(t, s, inv.vm1, "VirtualMachine.powerOn", testserver.AdminUser, false)
				return false
			}
			for _, ch := range pc {
				if refs, ok := ch.Val.(types.ArrayOfManagedObjectReference); ok {
					for _, r := range refs.ManagedObjectReference {
						if r == ref {
							return true
						}
					}
				}
			}
			return false
		})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCreateTaskNeedsRegisteredType(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	_, err := methods.CreateTask(ctx, s.Client.Client, &types.CreateTask{This: *s.Client.ServiceContent.TaskManager,
		Obj: inv.vm1, TaskTypeId: "enoent"})
	mgrFault(t, err, &types.InvalidArgument{})

	// A client cannot drive a task the server runs.
	release := make(chan struct{})
	defer close(release)
	ref, err := api.StartTestTask(s.Service(), vtask.Spec{Entity: inv.vm1, DescriptionID: "VirtualMachine.powerOn"},
		func(context.Context, *vtask.Task) (types.AnyType, error) { <-release; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	_, err = methods.SetTaskState(ctx, s.Client.Client, &types.SetTaskState{This: ref, State: types.TaskInfoStateSuccess})
	mgrFault(t, err, &types.NotSupported{})
}

func TestRunTask(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	res, err := s.Service().RunTask(ctx, vtask.Spec{Entity: inv.vm1, DescriptionID: "VirtualMachine.powerOn", User: "sim"},
		func(context.Context, *vtask.Task) (types.AnyType, error) { return "on", nil })
	if err != nil || res != "on" {
		t.Fatalf("RunTask = %v, %v", res, err)
	}
	_, err = s.Service().RunTask(ctx, vtask.Spec{Entity: inv.vm1, DescriptionID: "VirtualMachine.powerOn", User: "sim"},
		func(context.Context, *vtask.Task) (types.AnyType, error) { return nil, vim.InvalidState("no") })
	var f *vim.Fault
	if !errors.As(err, &f) {
		t.Fatalf("RunTask error = %v, want a vim fault", err)
	}
	if _, ok := f.Fault.(*types.InvalidState); !ok {
		t.Fatalf("fault = %T", f.Fault)
	}
	var vm mo.VirtualMachine
	if err := property.DefaultCollector(s.Client.Client).RetrieveOne(ctx, inv.vm1, []string{"recentTask"}, &vm); err != nil {
		t.Fatal(err)
	}
	if len(vm.RecentTask) != 2 {
		t.Fatalf("recentTask = %v", vm.RecentTask)
	}
}
