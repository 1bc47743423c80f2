package app

import (
	"path/filepath"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/driver/sim"
	"github.com/vireo-project/vireo/internal/inventory"
)

// simHosts runs every host of the inventory as an in-process simulated host
// whose state lives under the data directory.
type simHosts struct {
	reg        *inventory.Registry
	dir        string
	powerDelay time.Duration
	now        func() time.Time

	// mu guards drivers.
	mu      sync.Mutex
	drivers map[string]*sim.Driver
}

func newSimHosts(reg *inventory.Registry, dataDir string, powerDelay time.Duration, now func() time.Time) *simHosts {
	return &simHosts{reg: reg, dir: dataDir, powerDelay: powerDelay, now: now, drivers: map[string]*sim.Driver{}}
}

// Driver implements api.HostDirectory.
func (h *simHosts) Driver(ref types.ManagedObjectReference) (driver.Driver, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.drivers[ref.Value]; ok {
		return d, true
	}
	host, ok := h.reg.Get(ref).(*mo.HostSystem)
	if !ok {
		return nil, false
	}
	d, err := sim.New(sim.Config{
		Name:          host.Name,
		StateDir:      filepath.Join(h.dir, "hosts", ref.Value),
		DatastoreRoot: DatastoreRoot(h.dir),
		PowerDelay:    h.powerDelay,
		Now:           h.now,
	})
	if err != nil {
		return nil, false
	}
	h.drivers[ref.Value] = d
	return d, true
}

// DatastoreRoot is the directory holding in-process hosts' datastores.
func DatastoreRoot(dataDir string) string { return filepath.Join(dataDir, "datastores") }
