package testserver

import (
	"context"
	"testing"
)

func TestAbout(t *testing.T) {
	s := New(t)
	about := s.Client.ServiceContent.About
	if about.ApiType != "VirtualCenter" || about.ApiVersion != "8.0.3.0" {
		t.Fatalf("about = %+v", about)
	}
	ok, err := s.Client.SessionManager.SessionIsActive(context.Background())
	if err != nil || !ok {
		t.Fatalf("SessionIsActive = %v, %v", ok, err)
	}
}
