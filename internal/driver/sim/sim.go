// Package sim is the simulated driver backend: VMs are modelled, not run.
// Power operations take a configurable time, disks are real sparse files on
// the datastore directories, each running VM's CPU and memory use follows a
// named, seeded workload profile (see WorkloadIdle), and each VM's runtime
// state is kept in a small state file so a restarted server finds its VMs
// as the host left them.
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

// Config configures a simulated host.
type Config struct {
	// Name is the host's name.
	Name string
	// StateDir holds the host's VM state files.
	StateDir string
	// Datastores maps datastore names to directories.
	Datastores map[string]string
	// Mounts, when set, returns the datastores the host mounts now, by name,
	// and replaces Datastores: in-process hosts follow the inventory as
	// datastores are mounted and renamed.
	Mounts func() map[string]string
	// DatastoreRoot, when set, is the directory under which every datastore
	// directory of in-process hosts lives; the driver never deletes those.
	DatastoreRoot string
	// SharedDatastores names the datastores shared with other hosts.
	SharedDatastores map[string]bool
	// Networks lists the networks the host is attached to.
	Networks []string
	// PowerDelay is how long a power operation takes.
	PowerDelay time.Duration
	// NumCPU, CPUMHz and MemoryBytes describe the modelled hardware.
	NumCPU      int16
	CPUMHz      int32
	MemoryBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Seed varies the VMs' workloads (see WorkloadIdle and the other
	// profiles) between simulated hosts; each VM's id varies it further.
	Seed uint64
}

// Driver is a simulated host. Its datastore file operations (driver.Files)
// are those of driver.LocalFiles, with sparse raw files as disks.
type Driver struct {
	*driver.LocalFiles

	cfg Config

	// mu guards vms.
	mu  sync.Mutex
	vms map[string]*vm
}

type vm struct {
	Spec     driver.VMSpec     `json:"spec"`
	Power    driver.PowerState `json:"power"`
	BootTime time.Time         `json:"bootTime,omitzero"`
}

var (
	_ driver.Driver = (*Driver)(nil)
	_ driver.Files  = (*Driver)(nil)
)

// New returns a simulated host, loading any VM state left in cfg.StateDir.
func New(cfg Config) (*Driver, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NumCPU == 0 {
		cfg.NumCPU = 16
	}
	if cfg.CPUMHz == 0 {
		cfg.CPUMHz = 2600
	}
	if cfg.MemoryBytes == 0 {
		cfg.MemoryBytes = 64 << 30
	}
	d := &Driver{cfg: cfg, vms: map[string]*vm{}}
	d.LocalFiles = &driver.LocalFiles{Mounts: d.mounts, Root: cfg.DatastoreRoot}
	if cfg.StateDir == "" {
		return d, nil
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	entries, err := os.ReadDir(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cfg.StateDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		var v vm
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("sim: state file %s: %w", e.Name(), err)
		}
		d.vms[v.Spec.ID] = &v
	}
	return d, nil
}

// mounts returns the host's datastore directories by datastore name.
func (d *Driver) mounts() map[string]string {
	if d.cfg.Mounts != nil {
		return d.cfg.Mounts()
	}
	return d.cfg.Datastores
}

// Info implements driver.Driver.
func (d *Driver) Info(ctx context.Context) (driver.HostInfo, error) {
	info := driver.HostInfo{
		Name: d.cfg.Name, NumCPU: d.cfg.NumCPU, NumCores: d.cfg.NumCPU, CPUMHz: d.cfg.CPUMHz,
		MemoryBytes: d.cfg.MemoryBytes, CPUModel: "Simulated CPU @ 2.60GHz", Vendor: "Vireo", Model: "Simulated Host",
		Networks: d.cfg.Networks,
	}
	info.Datastores = d.LocalFiles.Datastores(d.cfg.SharedDatastores)
	return info, nil
}

// Create implements driver.Driver. spec.Workload must name a workload
// profile (or be empty, for idle).
func (d *Driver) Create(ctx context.Context, spec driver.VMSpec) error {
	if _, err := parseWorkload(spec.Workload); err != nil {
		return err
	}
	d.mu.Lock()
	if _, ok := d.vms[spec.ID]; ok {
		d.mu.Unlock()
		return fmt.Errorf("sim: %s: %w", spec.ID, driver.ErrVMExists)
	}
	d.mu.Unlock()
	if err := d.MakeVMFiles(ctx, spec); err != nil {
		return err
	}
	v := &vm{Spec: spec, Power: driver.PoweredOff}
	if err := d.save(v); err != nil {
		return err
	}
	d.mu.Lock()
	d.vms[spec.ID] = v
	d.mu.Unlock()
	return nil
}

// Reconfigure implements driver.Driver.
func (d *Driver) Reconfigure(ctx context.Context, spec driver.VMSpec) error {
	v, err := d.get(spec.ID)
	if err != nil {
		return err
	}
	if _, err := parseWorkload(spec.Workload); err != nil {
		return err
	}
	if err := d.MakeVMFiles(ctx, spec); err != nil {
		return err
	}
	d.mu.Lock()
	nv := *v
	nv.Spec = spec
	d.mu.Unlock()
	if err := d.save(&nv); err != nil {
		return err
	}
	d.mu.Lock()
	d.vms[spec.ID] = &nv
	d.mu.Unlock()
	return nil
}

// Destroy implements driver.Driver.
func (d *Driver) Destroy(ctx context.Context, id string, deleteFiles bool) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if v.Power == driver.PoweredOn {
		return &driver.PowerStateError{Current: v.Power, Requested: driver.PoweredOff}
	}
	if deleteFiles {
		if err := d.RemoveVMFiles(v.Spec); err != nil {
			return fmt.Errorf("sim: %s: %w", id, err)
		}
	}
	if d.cfg.StateDir != "" {
		if err := os.Remove(d.statePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sim: %w", err)
		}
	}
	d.mu.Lock()
	delete(d.vms, id)
	d.mu.Unlock()
	return nil
}

func (d *Driver) get(id string) (*vm, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[id]
	if !ok {
		return nil, fmt.Errorf("sim: %s: %w", id, driver.ErrVMNotFound)
	}
	return v, nil
}

// transition moves a VM from one of the allowed states to next after the
// configured delay.
func (d *Driver) transition(ctx context.Context, id string, next driver.PowerState, allowed ...driver.PowerState) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	ok := false
	for _, a := range allowed {
		if v.Power == a {
			ok = true
		}
	}
	if !ok {
		return &driver.PowerStateError{Current: v.Power, Requested: next}
	}
	if d.cfg.PowerDelay > 0 {
		t := time.NewTimer(d.cfg.PowerDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	d.mu.Lock()
	nv := *v
	nv.Power = next
	if next == driver.PoweredOn && v.Power != driver.PoweredOn {
		nv.BootTime = d.cfg.Now()
	}
	if next == driver.PoweredOn && v.Power == driver.PoweredOn {
		nv.BootTime = d.cfg.Now()
	}
	if next != driver.PoweredOn {
		nv.BootTime = time.Time{}
	}
	d.mu.Unlock()
	if err := d.save(&nv); err != nil {
		return err
	}
	d.mu.Lock()
	d.vms[id] = &nv
	d.mu.Unlock()
	return nil
}

// PowerOn implements driver.Driver. A VM whose files are on a datastore
// the host lost does not start.
func (d *Driver) PowerOn(ctx context.Context, id string) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if v.Power != driver.PoweredOn {
		if err := d.filesReachable(v.Spec); err != nil {
			return fmt.Errorf("sim: power on %s: %w", id, err)
		}
	}
	return d.transition(ctx, id, driver.PoweredOn, driver.PoweredOff, driver.Suspended)
}

// filesReachable checks that the datastores of a VM's directory, disks and
// ISO images are there.
func (d *Driver) filesReachable(spec driver.VMSpec) error {
	paths := append([]string{spec.Dir}, spec.ISOs...)
	for _, disk := range spec.Disks {
		paths = append(paths, disk.Path)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := d.Resolve(p); err != nil {
			return err
		}
	}
	return nil
}

// PowerOff implements driver.Driver.
func (d *Driver) PowerOff(ctx context.Context, id string) error {
	return d.transition(ctx, id, driver.PoweredOff, driver.PoweredOn, driver.Suspended)
}

// Reset implements driver.Driver.
func (d *Driver) Reset(ctx context.Context, id string) error {
	return d.transition(ctx, id, driver.PoweredOn, driver.PoweredOn)
}

// Suspend implements driver.Driver.
func (d *Driver) Suspend(ctx context.Context, id string) error {
	return d.transition(ctx, id, driver.Suspended, driver.PoweredOn)
}

// ShutdownGuest implements driver.Driver: simulated guests run tools and
// shut down cleanly.
func (d *Driver) ShutdownGuest(ctx context.Context, id string) error {
	return d.transition(ctx, id, driver.PoweredOff, driver.PoweredOn)
}

// RebootGuest implements driver.Driver. Only a guest that runs tools (see
// hasGuest) can be asked to reboot.
func (d *Driver) RebootGuest(ctx context.Context, id string) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if v.Power == driver.PoweredOn && !hasGuest(v) {
		return fmt.Errorf("sim: %s: %w", id, driver.ErrNoTools)
	}
	return d.transition(ctx, id, driver.PoweredOn, driver.PoweredOn)
}

// hasGuest reports whether a simulated VM has a guest OS that runs tools
// once the VM is on: one with a disk to boot from and a known guest OS. A
// generic guest id ("otherGuest", "otherLinux64Guest", ...) stands for an
// OS without tools, as vcsim's VMs have. (Shutdown works without tools, as
// an ACPI power-button press.)
func hasGuest(v *vm) bool {
	return len(v.Spec.Disks) > 0 && v.Spec.GuestID != "" && !strings.HasPrefix(v.Spec.GuestID, "other")
}

// guestIP returns the address a simulated guest reports: 10.x.y.z from its
// first adapter's MAC address, or "" without one.
func guestIP(v *vm) string {
	if len(v.Spec.NICs) == 0 {
		return ""
	}
	hw, err := net.ParseMAC(v.Spec.NICs[0].MAC)
	if err != nil || len(hw) != 6 {
		return ""
	}
	return fmt.Sprintf("10.%d.%d.%d", hw[3]&0x7f, hw[4], hw[5]|1)
}

// State implements driver.Driver.
func (d *Driver) State(ctx context.Context, id string) (driver.VMState, error) {
	v, err := d.get(id)
	if err != nil {
		return driver.VMState{}, err
	}
	return d.state(v), nil
}

func (d *Driver) state(v *vm) driver.VMState {
	st := driver.VMState{ID: v.Spec.ID, PowerState: v.Power, BootTime: v.BootTime}
	if v.Power == driver.PoweredOn {
		w, _ := parseWorkload(v.Spec.Workload) // checked by Create and Reconfigure
		cpu, mem := w.demand(vmSeed(d.cfg.Seed, v.Spec.ID), d.cfg.Now())
		st.CPUUsageMHz = int32(cpu * float64(max(v.Spec.NumCPU, 1)) * float64(d.cfg.CPUMHz))
		st.MemoryUsageMB = int32(mem * float64(v.Spec.MemoryMB))
	}
	if v.Power == driver.PoweredOn && (hasGuest(v) || v.Spec.Identity != nil) {
		st.ToolsRunning = true
		st.HostName = strings.ToLower(v.Spec.Name)
		st.IPAddress = guestIP(v)
		customizedIdentity(&st, v.Spec.Identity)
		if st.IPAddress != "" {
			st.IPAddresses = []string{st.IPAddress}
		}
	}
	return st
}

// List implements driver.Driver.
func (d *Driver) List(ctx context.Context) ([]driver.VMState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]driver.VMState, 0, len(d.vms))
	for _, v := range d.vms {
		out = append(out, d.state(v))
	}
	return out, nil
}

// customizedIdentity reports the identity a guest customization gave a
// simulated guest (which then runs tools, as customization needs): its
// host name and first fixed address.
func customizedIdentity(st *driver.VMState, id *driver.GuestIdentity) {
	if id == nil {
		return
	}
	if id.HostName != "" {
		st.HostName = id.HostName
	}
	for _, n := range id.NICs {
		if n.IPAddress != "" {
			st.IPAddress = n.IPAddress
			break
		}
	}
}

func (d *Driver) statePath(id string) string {
	return filepath.Join(d.cfg.StateDir, id+".json")
}

// save writes v's state file atomically.
func (d *Driver) save(v *vm) error {
	if d.cfg.StateDir == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	tmp := d.statePath(v.Spec.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if err := os.Rename(tmp, d.statePath(v.Spec.ID)); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}
