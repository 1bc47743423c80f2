package api

import (
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/vireo-project/vireo/internal/soap"
)

type customFieldsManager struct {
	mo.CustomFieldsManager
	svc *Service
}

func (s *Service) registerCustomFields(t *soap.Table) {}
