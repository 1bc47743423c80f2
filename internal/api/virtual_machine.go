package api

import "github.com/vireo-project/vireo/internal/soap"

func (s *Service) registerVirtualMachine(t *soap.Table) {}
