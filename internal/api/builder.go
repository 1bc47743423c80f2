package api

import (
	"context"

	"github.com/vmware/govmomi/vim25/types"
)

// The methods in this file build inventory in process, without SOAP: the
// demo inventory, `vireo sim`'s vcsim-shaped model and tests use them, and
// the SOAP handlers call them too. Each runs as the given user, validates its
// input with the same faults the API returns, and returns once the change is
// durable.

// HostSpec describes a simulated host to add.
type HostSpec struct {
	// Name is the host's name (vCenter uses its address).
	Name string
	// NumCPU cores of CPUMHz each, and MemoryMB of memory; zero picks defaults.
	NumCPU   int16
	CPUMHz   int32
	MemoryMB int64
	// Datastores the host mounts; a datastore that already exists in the
	// datacenter under the same name is shared, otherwise it is created.
	Datastores []DatastoreSpec
	// Networks are the port group names the host connects to; missing ones
	// are created in the datacenter's network folder.
	Networks []string
	// Agent, when set, is the host's agent (AddHost_Task); otherwise the
	// host runs in process.
	Agent *HostAgent
	// Vendor, Model, CPUModel and UUID describe the machine, as its agent
	// reports it; empty ones keep the captured ESXi host's values.
	Vendor, Model, CPUModel, UUID string
	// Certificate is the host's TLS certificate in PEM (config.certificate),
	// for a host whose agent has its own. When empty the host gets one when
	// it is added: the server's own in ESX mode, where the server is the
	// host, otherwise a new self-signed certificate for its name
	// (host_cert.go).
	Certificate []byte
}

// DatastoreSpec describes a datastore a host mounts.
type DatastoreSpec struct {
	Name string
	// Shared marks a datastore other hosts may mount too.
	Shared bool
}

var (
	_ = context.Background
	_ = types.ManagedObjectReference{}
)
