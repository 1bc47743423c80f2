package api

import "github.com/vireo-project/vireo/internal/soap"

func (s *Service) registerNetwork(t *soap.Table) {}
