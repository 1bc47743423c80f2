package api

import (
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/vireo-project/vireo/internal/soap"
)

type licenseManager struct {
	mo.LicenseManager
	svc *Service
}

func (s *Service) registerLicenseManager(t *soap.Table) {}
