package api

import (
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
)

// serviceInstance is the ServiceInstance managed object.
type serviceInstance struct {
	mo.ServiceInstance
}

func (s *Service) registerServiceInstance(t *soap.Table) {
	soap.Register(t, "ServiceInstance", "RetrieveServiceContent", s.retrieveServiceContent)
	soap.Register(t, "ServiceInstance", "CurrentTime", s.currentTime)
	t.Anonymous("RetrieveServiceContent")
	t.Anonymous("CurrentTime")
}

func (s *Service) retrieveServiceContent(ctx *soap.Context, _ *types.RetrieveServiceContent) (any, error) {
	return &types.RetrieveServiceContentResponse{Returnval: s.content}, nil
}

func (s *Service) currentTime(ctx *soap.Context, _ *types.CurrentTime) (any, error) {
	return &types.CurrentTimeResponse{Returnval: s.now()}, nil
}
