package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

// Config configures a QEMU host.
type Config struct {
	// Name is the host's name; the machine's host name when empty.
	Name string
	// StateDir holds a run directory per VM, named by the VM's id (see the
	// package documentation); nothing else should be in it.
	StateDir string
	// Datastores maps datastore names to directories.
	Datastores map[string]string
	// SharedDatastores names the datastores other hosts mount too.
	SharedDatastores map[string]bool
	// Networks lists the networks the host's VMs attach to.
	Networks []string
	// Bridges maps network names to host bridges that NICs on that network
	// join through qemu-bridge-helper; NICs on other networks use user-mode
	// networking.
	Bridges map[string]string
	// QEMUPath is the qemu-system-x86_64 binary; found on PATH when empty.
	QEMUPath string
	// QEMUImgPath is the qemu-img binary; found on PATH when empty.
	QEMUImgPath string
	// Accel is QEMU's accelerator: "kvm", or "tcg" for software emulation.
	// When empty, kvm if /dev/kvm can be opened, tcg otherwise.
	Accel string
	// StartTimeout bounds how long PowerOn waits for a new QEMU to answer on
	// its monitor, and for a resumed one to load its saved state; 60 s when
	// zero.
	StartTimeout time.Duration
	// Now is the clock for boot times; time.Now when nil.
	Now func() time.Time
}

// Driver runs each VM as a QEMU process. See the package documentation.
type Driver struct {
	*driver.LocalFiles

	cfg  Config
	host hostFacts

	// closing is closed by Close; watchers then let go of their QEMUs.
	closing   chan struct{}
	closeOnce sync.Once
	watchers  sync.WaitGroup

	// mu guards vms and creating.
	mu       sync.Mutex
	vms      map[string]*vm
	creating map[string]bool
}

var (
	_ driver.Driver = (*Driver)(nil)
	_ driver.Files  = (*Driver)(nil)
)

// New returns a QEMU host. It adopts the VMs defined in cfg.StateDir: a VM
// whose QEMU still runs (it outlives the agent) is reattached through its
// pid file and monitor socket and stays powered on; one whose QEMU died
// meanwhile is powered off, or suspended when it has a saved state.
func New(cfg Config) (*Driver, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("qemu: Config.StateDir is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	var err error
	if cfg.QEMUPath, err = lookPath(cfg.QEMUPath, "qemu-system-x86_64", "qemu-system-x86"); err != nil {
		return nil, err
	}
	if cfg.QEMUImgPath, err = lookPath(cfg.QEMUImgPath, "qemu-img", "qemu-utils"); err != nil {
		return nil, err
	}
	switch cfg.Accel {
	case "":
		cfg.Accel = "tcg"
		if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
			f.Close()
			cfg.Accel = "kvm"
		}
	case "kvm", "tcg":
	default:
		return nil, fmt.Errorf("qemu: accelerator %q: want kvm or tcg", cfg.Accel)
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	d := &Driver{
		cfg: cfg, host: readHostFacts(), closing: make(chan struct{}),
		vms: map[string]*vm{}, creating: map[string]bool{},
	}
	datastores := cfg.Datastores
	d.LocalFiles = &driver.LocalFiles{
		Mounts:  func() map[string]string { return datastores },
		NewDisk: d.createDisk,
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if err := d.load(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func lookPath(configured, name, pkg string) (string, error) {
	if configured == "" {
		configured = name
	}
	p, err := exec.LookPath(configured)
	if err != nil {
		return "", fmt.Errorf("qemu: %s not found (install %s): %w", configured, pkg, err)
	}
	return p, nil
}

// load adopts the VMs whose run directories are in the state directory.
func (d *Driver) load() error {
	entries, err := os.ReadDir(d.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(d.cfg.StateDir, e.Name())
		rec, err := readRecord(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a Create that did not finish
		}
		if err != nil {
			return fmt.Errorf("qemu: VM %s: %w", e.Name(), err)
		}
		v := &vm{id: rec.Spec.ID, dir: dir, rec: rec}
		d.adopt(v)
		d.vms[v.id] = v
	}
	return nil
}

// Close lets go of the VMs' monitor and guest connections without stopping
// them, as an agent that exits does; a new Driver on the same state
// directory takes them over. The Driver must not be used afterwards.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() { close(d.closing) })
	d.watchers.Wait()
	return nil
}

// Info implements driver.Driver.
func (d *Driver) Info(ctx context.Context) (driver.HostInfo, error) {
	h := d.host
	return driver.HostInfo{
		Name: d.cfg.Name, NumCPU: h.threads, NumCores: h.cores, CPUMHz: h.mhz,
		MemoryBytes: h.memoryBytes, CPUModel: h.model, Vendor: h.vendor, Model: h.system, UUID: h.uuid,
		Datastores: d.LocalFiles.Datastores(d.cfg.SharedDatastores),
		Networks:   append([]string(nil), d.cfg.Networks...),
	}, nil
}

// validID matches the VM ids the driver accepts: they name directories.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Create implements driver.Driver.
func (d *Driver) Create(ctx context.Context, spec driver.VMSpec) error {
	if !validID.MatchString(spec.ID) {
		return fmt.Errorf("qemu: VM id %q: want letters, digits, '.', '_' and '-'", spec.ID)
	}
	d.mu.Lock()
	if d.vms[spec.ID] != nil || d.creating[spec.ID] {
		d.mu.Unlock()
		return fmt.Errorf("qemu: %s: %w", spec.ID, driver.ErrVMExists)
	}
	d.creating[spec.ID] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.creating, spec.ID)
		d.mu.Unlock()
	}()

	if err := d.checkPaths(spec); err != nil {
		return fmt.Errorf("qemu: create %s: %w", spec.ID, err)
	}
	if err := d.MakeVMFiles(ctx, spec); err != nil {
		return fmt.Errorf("qemu: create %s: %w", spec.ID, err)
	}
	v := &vm{id: spec.ID, dir: filepath.Join(d.cfg.StateDir, spec.ID), off: driver.PoweredOff}
	v.rec = record{Version: recordVersion, Spec: spec}
	if err := os.MkdirAll(v.dir, 0o755); err != nil {
		return fmt.Errorf("qemu: create %s: %w", spec.ID, err)
	}
	if err := v.save(); err != nil {
		return err
	}
	d.mu.Lock()
	d.vms[spec.ID] = v
	d.mu.Unlock()
	return nil
}

// checkPaths resolves every datastore path of spec, so a VM never refers to
// a datastore the host lacks.
func (d *Driver) checkPaths(spec driver.VMSpec) error {
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

// Reconfigure implements driver.Driver. New disks are created at once; the
// rest of the new definition takes effect at the next power-on from
// poweredOff (a resumed VM keeps the hardware it was suspended with).
func (d *Driver) Reconfigure(ctx context.Context, spec driver.VMSpec) error {
	v, err := d.get(spec.ID)
	if err != nil {
		return err
	}
	v.op.Lock()
	defer v.op.Unlock()
	if err := d.checkPaths(spec); err != nil {
		return fmt.Errorf("qemu: reconfigure %s: %w", spec.ID, err)
	}
	if err := d.MakeVMFiles(ctx, spec); err != nil {
		return fmt.Errorf("qemu: reconfigure %s: %w", spec.ID, err)
	}
	v.mu.Lock()
	v.rec.Spec = spec
	v.mu.Unlock()
	return v.save()
}

// Destroy implements driver.Driver.
func (d *Driver) Destroy(ctx context.Context, id string, deleteFiles bool) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	v.op.Lock()
	defer v.op.Unlock()
	if p := v.power(); p == driver.PoweredOn {
		return &driver.PowerStateError{Current: p, Requested: driver.PoweredOff}
	}
	if deleteFiles {
		if err := d.RemoveVMFiles(v.spec()); err != nil {
			return fmt.Errorf("qemu: destroy %s: %w", id, err)
		}
	}
	if err := os.RemoveAll(v.dir); err != nil {
		return fmt.Errorf("qemu: destroy %s: %w", id, err)
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
		return nil, fmt.Errorf("qemu: %s: %w", id, driver.ErrVMNotFound)
	}
	return v, nil
}

// State implements driver.Driver.
func (d *Driver) State(ctx context.Context, id string) (driver.VMState, error) {
	v, err := d.get(id)
	if err != nil {
		return driver.VMState{}, err
	}
	return d.state(ctx, v), nil
}

// List implements driver.Driver.
func (d *Driver) List(ctx context.Context) ([]driver.VMState, error) {
	d.mu.Lock()
	vms := make([]*vm, 0, len(d.vms))
	for _, v := range d.vms {
		vms = append(vms, v)
	}
	d.mu.Unlock()
	sort.Slice(vms, func(i, j int) bool { return vms[i].id < vms[j].id })
	out := make([]driver.VMState, 0, len(vms))
	for _, v := range vms {
		out = append(out, d.state(ctx, v))
	}
	return out, nil
}

// state reads a VM's runtime state: its power, what its guest agent last
// said, and the CPU and memory its QEMU process uses.
func (d *Driver) state(ctx context.Context, v *vm) driver.VMState {
	v.mu.Lock()
	st := driver.VMState{ID: v.id, PowerState: v.powerLocked(), BootTime: v.rec.BootTime}
	p := v.proc
	v.mu.Unlock()
	if p == nil {
		st.BootTime = time.Time{}
		return st
	}
	st.CPUUsageMHz, st.MemoryUsageMB = v.usage(p.pid, d.host.mhz)
	if g := d.guestConn(ctx, v, p); g != nil {
		gs := g.Status()
		st.ToolsRunning = gs.Running
		if gs.Running {
			st.HostName, st.IPAddresses = gs.HostName, gs.IPAddresses
			if len(gs.IPAddresses) > 0 {
				st.IPAddress = gs.IPAddresses[0]
			}
		}
		st.AppHeartbeat, st.AppStatus = gs.AppHeartbeat, gs.AppStatus
	}
	return st
}

// record is what a VM's run directory keeps in vm.json.
type record struct {
	// Version is recordVersion; a newer agent reads older records.
	Version int           `json:"version"`
	Spec    driver.VMSpec `json:"spec"`
	// BootTime is when the VM last powered on.
	BootTime time.Time `json:"bootTime,omitzero"`
	// Args are the arguments the VM's QEMU last started with. A suspended
	// VM resumes with them: a saved state loads only into the virtual
	// hardware it was saved from.
	Args []string `json:"args,omitempty"`
}

const recordVersion = 1

func readRecord(dir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", recordFile, err)
	}
	if rec.Version > recordVersion {
		return rec, fmt.Errorf("%s: version %d is newer than this agent's %d", recordFile, rec.Version, recordVersion)
	}
	return rec, nil
}

// readPid reads the pid QEMU wrote into the run directory; 0 when none.
func readPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
