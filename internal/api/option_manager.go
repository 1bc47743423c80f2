package api

import (
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/vireo-project/vireo/internal/soap"
)

type optionManager struct {
	mo.OptionManager
	svc *Service
}

func (s *Service) registerOptionManager(t *soap.Table) {}
