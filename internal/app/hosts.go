package app

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/agent"
	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/driver/sim"
	"github.com/vireo-project/vireo/internal/hostconn"
	"github.com/vireo-project/vireo/internal/inventory"
)

// hostDirectory gives each host's driver: its agent's client for a host
// added with AddHost_Task, an in-process simulated host otherwise.
type hostDirectory struct {
	agents *hostconn.Manager
	local  *simHosts
}

// Driver implements api.HostDirectory.
func (d hostDirectory) Driver(ref types.ManagedObjectReference) (driver.Driver, bool) {
	if d.agents.Known(ref) {
		return d.agents.Driver(ref)
	}
	return d.local.Driver(ref)
}

// simHosts runs every host of the inventory that has no agent of its own
// as an in-process simulated host whose state lives under the data
// directory. Each is served by an in-process agent (internal/agent), and
// the server drives it through the agent protocol's client, as it drives
// remote hosts: only the transport differs.
type simHosts struct {
	reg        *inventory.Registry
	dir        string
	powerDelay time.Duration
	now        func() time.Time

	// made holds the datastore directories known to exist, so a file
	// operation does not stat every mounted datastore.
	made sync.Map
	// secret is root's password on every in-process agent, made at start.
	secret string
	// follow, when set, is told of each in-process agent's client as it is
	// made, to follow its heartbeats (hostconn.Manager.AttachLocal).
	follow func(types.ManagedObjectReference, *agentproto.Client)
	// mu guards drivers.
	mu      sync.Mutex
	drivers map[string]*agentproto.Client
}

func newSimHosts(reg *inventory.Registry, dataDir string, powerDelay time.Duration, now func() time.Time) *simHosts {
	return &simHosts{reg: reg, dir: dataDir, powerDelay: powerDelay, now: now, secret: rand.Text(),
		drivers: map[string]*agentproto.Client{}}
}

// Driver implements api.HostDirectory. A host a user disconnected has
// none until it is reconnected.
func (h *simHosts) Driver(ref types.ManagedObjectReference) (driver.Driver, bool) {
	host, ok := h.reg.Get(ref).(*mo.HostSystem)
	if !ok || host.Runtime.ConnectionState == types.HostSystemConnectionStateDisconnected {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.drivers[ref.Value]; ok {
		return d, true
	}
	cfg := sim.Config{
		Name:          host.Name,
		StateDir:      filepath.Join(h.dir, "hosts", ref.Value),
		DatastoreRoot: DatastoreRoot(h.dir),
		PowerDelay:    h.powerDelay,
		Now:           h.now,
	}
	h.describe(&cfg, host)
	d, err := sim.New(cfg)
	if err != nil {
		return nil, false
	}
	a, err := agent.New(agent.Config{Driver: d, Password: h.secret, Now: h.now})
	if err != nil {
		return nil, false
	}
	c := agentproto.NewClient(host.Name, agentproto.DialOptions{Transport: agent.Transport(a)})
	if _, err := c.Login(context.Background(), agentproto.LoginRequest{User: agentproto.RootUser, Password: h.secret}); err != nil {
		return nil, false
	}
	h.drivers[ref.Value] = c
	if h.follow != nil {
		h.follow(ref, c)
	}
	return c, true
}

// describe sizes a simulated host as its HostSystem says, and gives it its
// datastores (see mounts), so the driver measures their capacity.
func (h *simHosts) describe(cfg *sim.Config, host *mo.HostSystem) {
	if hw := host.Hardware; hw != nil {
		cfg.NumCPU, cfg.CPUMHz, cfg.MemoryBytes = hw.CpuInfo.NumCpuCores, int32(hw.CpuInfo.Hz/1_000_000), hw.MemorySize
	}
	cfg.SharedDatastores = map[string]bool{}
	for _, r := range host.Datastore {
		if ds, ok := h.reg.Get(r).(*mo.Datastore); ok {
			cfg.SharedDatastores[ds.Name] = ds.Summary.Type == "NFS" || (ds.Summary.MultipleHostAccess != nil && *ds.Summary.MultipleHostAccess)
		}
	}
	ref, root := host.Self, cfg.DatastoreRoot
	cfg.Mounts = func() map[string]string { return h.mounts(ref, root) }
	for _, r := range host.Network {
		if e, ok := h.reg.Get(r).(mo.Entity); ok {
			cfg.Networks = append(cfg.Networks, e.Entity().Name)
		}
	}
}

// mounts returns the datastores host mounts now, by name. Each datastore's
// directory is named after its MoRef, not its name: names are unique only
// within a datacenter and can change, the MoRef is neither.
func (h *simHosts) mounts(host types.ManagedObjectReference, root string) map[string]string {
	hs, ok := h.reg.Get(host).(*mo.HostSystem)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(hs.Datastore))
	for _, r := range hs.Datastore {
		ds, ok := h.reg.Get(r).(*mo.Datastore)
		if !ok {
			continue
		}
		dir := DatastoreDir(root, ds.Self)
		if p, ok := api.LocalDatastorePath(ds); ok {
			dir = p
		}
		if _, made := h.made.Load(dir); !made {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				continue
			}
			h.made.Store(dir, true)
		}
		out[ds.Name] = dir
	}
	return out
}

// DatastoreDir is the directory of datastore ds under root (DatastoreRoot).
func DatastoreDir(root string, ds types.ManagedObjectReference) string {
	return filepath.Join(root, ds.Value)
}

// DatastoreRoot is the directory holding in-process hosts' datastores.
func DatastoreRoot(dataDir string) string { return filepath.Join(dataDir, "datastores") }
