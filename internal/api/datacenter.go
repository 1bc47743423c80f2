package api

import "github.com/vireo-project/vireo/internal/soap"

func (s *Service) registerDatacenter(t *soap.Table) {}
