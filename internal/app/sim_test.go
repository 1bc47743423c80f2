package app

import (
	"errors"
	"testing"

	"github.com/vireo-project/vireo/internal/auth"
)

func TestSimLoginRule(t *testing.T) {
	tests := []struct {
		name       string
		opts       SimOptions
		user, pass string
		ok         bool
	}{
		{"any user by default", SimOptions{}, "vcsim", "x", true},
		{"empty password refused", SimOptions{}, "user", "", false},
		{"empty user refused", SimOptions{}, "", "pass", false},
		{"fixed credentials", SimOptions{Username: "u", Password: "p"}, "u", "p", true},
		{"wrong password", SimOptions{Username: "u", Password: "p"}, "u", "q", false},
		{"other user", SimOptions{Username: "u", Password: "p"}, "user", "p", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.verify(tc.user, tc.pass)
			if tc.ok && err != nil {
				t.Errorf("verify(%q, %q) = %v, want nil", tc.user, tc.pass, err)
			}
			if !tc.ok && !errors.Is(err, auth.ErrBadLogin) {
				t.Errorf("verify(%q, %q) = %v, want ErrBadLogin", tc.user, tc.pass, err)
			}
		})
	}
}
