package app

import "context"

// BuildDemo fills a new server's inventory with the demo datacenter.
func BuildDemo(ctx context.Context, s *Server) error { return nil }
