package api

import (
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
)

// HostDirectory gives the API access to each host's driver.
type HostDirectory interface {
	// Driver returns the driver of the host with ref, and false when the host
	// is unknown or not connected.
	Driver(host types.ManagedObjectReference) (driver.Driver, bool)
}
