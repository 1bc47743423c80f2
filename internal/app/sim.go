package app

import (
	"fmt"

	"github.com/vmware/govmomi/vim25/mo"

	"github.com/vireo-project/vireo/internal/auth"
	"github.com/vireo-project/vireo/internal/inventory"
)

// SimOptions are what `vireo sim` changes in a server to stand in for
// govmomi's vcsim. The zero value means vcsim's defaults.
type SimOptions struct {
	// Username and Password, when Username is set, are the only credentials
	// Login accepts (vcsim's -username and -password). When Username is
	// empty, any non-empty user name with any non-empty password logs in, as
	// vcsim allows by default. Neither is stored in the data directory.
	Username, Password string
	// ESX presents the server as a standalone ESX host (vcsim's -esx).
	ESX bool
}

// verify implements vcsim's login rule for auth.Users.SetVerifier.
func (o *SimOptions) verify(name, password string) error {
	if o.Username == "" {
		if name != "" && password != "" {
			return nil
		}
		return fmt.Errorf("%w: vcsim mode needs a non-empty user name and password", auth.ErrBadLogin)
	}
	if name == o.Username && password == o.Password {
		return nil
	}
	return auth.ErrBadLogin
}

// IsEmpty reports whether the inventory holds nothing below the root
// folder: a new data directory, where `vireo sim` builds its model.
func (s *Server) IsEmpty() bool {
	root := inventory.Get[mo.Folder](s.reg, s.svc.Content().RootFolder)
	return root == nil || len(root.ChildEntity) == 0
}
