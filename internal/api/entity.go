package api

import "github.com/vireo-project/vireo/internal/soap"

func (s *Service) registerEntity(t *soap.Table) {}
