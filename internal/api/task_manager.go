package api

import (
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
)

// taskManager is the TaskManager; recentTask comes from the task package.
type taskManager struct {
	mo.TaskManager
	svc *Service
}

func (m *taskManager) forSession(ctx *soap.Context) mo.Reference {
	c := &taskManager{TaskManager: m.TaskManager}
	c.RecentTask = m.svc.tasks.Recent()
	return c
}

// taskDescription is vCenter's task description catalog (captured data).
func taskDescription() types.TaskDescription { return vpx.Description }

func (s *Service) registerTaskManager(t *soap.Table) {
	soap.Register(t, "Task", "CancelTask", s.cancelTask)
}

func (s *Service) cancelTask(ctx *soap.Context, _ *types.CancelTask) (any, error) {
	if err := s.tasks.Cancel(ctx.This); err != nil {
		return nil, err
	}
	return &types.CancelTaskResponse{}, nil
}
