package api

import (
	"context"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/task"
)

// StartTestTask starts a task through the service's task manager, as a
// *_Task handler does (for tests of the task history).
func StartTestTask(s *Service, spec task.Spec, fn task.Func) (types.ManagedObjectReference, error) {
	return s.tasks.Start(context.Background(), spec, fn)
}

// WaitPagesPublished blocks until every pending latestPage change is
// published in the registry.
func WaitPagesPublished(s *Service) { s.mgr.notify.wait() }
