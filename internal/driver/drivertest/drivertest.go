// Package drivertest is the conformance suite every driver.Driver backend
// passes, in the manner of Nomad's shared driver harness: a backend's test
// calls Run with a constructor, and the suite checks the contract of
// package driver against it — host facts, VM files on the datastores, power
// transitions and their errors, reconfiguration, destruction, an agent
// restart that finds its VMs as it left them, and datastore file access.
//
// The VMs the suite defines have an empty disk and no guest OS: power
// operations must work without one.
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

// Env describes the host a driver under test runs on.
type Env struct {
	// Datastores maps the names of the driver's datastores to their
	// directories: fresh, empty directories of this driver instance alone.
	// At least one is needed; the file tests move files between two when
	// there are two.
	Datastores map[string]string
	// Networks lists the networks the driver was configured with.
	Networks []string
	// Restart ends the driver instance the way an agent that exits does,
	// leaving its VMs running, and returns a new instance on the same state
	// directory and datastores. Nil skips the restart test.
	Restart func(t *testing.T) driver.Driver
}

// opTimeout bounds each driver call the suite makes.
const opTimeout = 60 * time.Second

// harness is one subtest's driver and its environment.
type harness struct {
	d   driver.Driver
	env Env
	ds  string // the first datastore's name
}

// Run runs the conformance suite. newDriver returns a fresh driver (its own
// state directory and datastore directories) for each subtest; the suite
// powers off the VMs it started when the subtest ends, and the backend's own
// cleanup should stop anything left.
func Run(t *testing.T, newDriver func(t *testing.T) (driver.Driver, Env)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Info", testInfo},
		{"Create", testCreate},
		{"PowerTransitions", testPowerTransitions},
		{"SuspendedPowerOff", testSuspendedPowerOff},
		{"GuestOperations", testGuestOperations},
		{"UnknownVM", testUnknownVM},
		{"Reconfigure", testReconfigure},
		{"Destroy", testDestroy},
		{"DeleteFile", testDeleteFile},
		{"VanishedDatastore", testVanishedDatastore},
		{"Restart", testRestart},
		{"Files", testFiles},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, env := newDriver(t)
			if len(env.Datastores) == 0 {
				t.Fatal("drivertest: Env.Datastores is empty; the suite needs at least one datastore")
			}
			h := &harness{d: d, env: env, ds: slices.Sorted(maps.Keys(env.Datastores))[0]}
			t.Cleanup(func() { h.powerOffAll(t) })
			tt.fn(t, h)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return c
}

// powerOffAll stops every running or suspended VM of the current driver.
func (h *harness) powerOffAll(t *testing.T) {
	states, err := h.d.List(ctx(t))
	if err != nil {
		t.Errorf("cleanup: List: %v", err)
		return
	}
	for _, st := range states {
		if st.PowerState == driver.PoweredOn {
			if err := h.d.PowerOff(ctx(t), st.ID); err != nil {
				t.Errorf("cleanup: PowerOff %s: %v", st.ID, err)
			}
		}
	}
}

// spec returns a small VM on datastore ds with one thin disk and, when the
// host has a network, one NIC.
func (h *harness) spec(ds, id string) driver.VMSpec {
	s := driver.VMSpec{
		ID:       id,
		Name:     id,
		Dir:      fmt.Sprintf("[%s] %s", ds, id),
		NumCPU:   1,
		MemoryMB: 64,
		GuestID:  "otherGuest",
		Disks:    []driver.Disk{{Path: fmt.Sprintf("[%s] %s/%s.vmdk", ds, id, id), CapacityBytes: 64 << 20, Thin: true}},
	}
	if len(h.env.Networks) > 0 {
		s.NICs = []driver.NIC{{Network: h.env.Networks[0], MAC: "00:50:56:3f:00:01"}}
	}
	return s
}

// create defines a VM on the first datastore and fails the test on error.
func (h *harness) create(t *testing.T, id string) driver.VMSpec {
	t.Helper()
	s := h.spec(h.ds, id)
	if err := h.d.Create(ctx(t), s); err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	return s
}

// local maps a datastore path to the host path under Env.Datastores.
func (h *harness) local(t *testing.T, p string) string {
	t.Helper()
	ds, rel, ok := driver.ParsePath(p)
	if !ok {
		t.Fatalf("%q is not a datastore path", p)
	}
	return filepath.Join(h.env.Datastores[ds], filepath.FromSlash(rel))
}

func (h *harness) wantPower(t *testing.T, id string, want driver.PowerState) driver.VMState {
	t.Helper()
	st, err := h.d.State(ctx(t), id)
	if err != nil {
		t.Fatalf("State %s: %v", id, err)
	}
	if st.PowerState != want {
		t.Fatalf("State %s: power state %s, want %s", id, st.PowerState, want)
	}
	if st.ID != id {
		t.Errorf("State %s: ID %q", id, st.ID)
	}
	return st
}

func mustOp(t *testing.T, name string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func wantErr(t *testing.T, name string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %v", name, err, target)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func testInfo(t *testing.T, h *harness) {
	info, err := h.d.Info(ctx(t))
	mustOp(t, "Info", err)
	if info.NumCPU <= 0 || info.CPUMHz <= 0 || info.MemoryBytes <= 0 {
		t.Errorf("Info: NumCPU %d, CPUMHz %d, MemoryBytes %d; want positive hardware facts", info.NumCPU, info.CPUMHz, info.MemoryBytes)
	}
	for _, n := range h.env.Networks {
		if !slices.Contains(info.Networks, n) {
			t.Errorf("Info: networks %v lack %q", info.Networks, n)
		}
	}
	if len(info.Datastores) != len(h.env.Datastores) {
		t.Errorf("Info: %d datastores, want %d", len(info.Datastores), len(h.env.Datastores))
	}
	for _, ds := range info.Datastores {
		dir, ok := h.env.Datastores[ds.Name]
		if !ok {
			t.Errorf("Info: unknown datastore %q", ds.Name)
			continue
		}
		if ds.Dir != dir {
			t.Errorf("Info: datastore %s dir %q, want %q", ds.Name, ds.Dir, dir)
		}
		var st syscall.Statfs_t
		mustOp(t, "statfs", syscall.Statfs(dir, &st))
		capacity, free := int64(st.Blocks)*int64(st.Bsize), int64(st.Bavail)*int64(st.Bsize)
		if !ds.Accessible || ds.CapacityBytes != capacity {
			t.Errorf("Info: datastore %s accessible %v capacity %d, want true and %d", ds.Name, ds.Accessible, ds.CapacityBytes, capacity)
		}
		// Free space moves with whatever else writes to the file system.
		if slack := capacity/50 + 256<<20; ds.FreeBytes <= 0 || ds.FreeBytes > ds.CapacityBytes || abs(ds.FreeBytes-free) > slack {
			t.Errorf("Info: datastore %s free %d of %d, want about %d", ds.Name, ds.FreeBytes, ds.CapacityBytes, free)
		}
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func testCreate(t *testing.T, h *harness) {
	s := h.create(t, "vm-create")
	if fi, err := os.Stat(h.local(t, s.Dir)); err != nil || !fi.IsDir() {
		t.Fatalf("VM directory %s: %v", s.Dir, err)
	}
	if fi, err := os.Stat(h.local(t, s.Disks[0].Path)); err != nil || fi.IsDir() {
		t.Fatalf("disk %s: %v", s.Disks[0].Path, err)
	}
	st := h.wantPower(t, s.ID, driver.PoweredOff)
	if !st.BootTime.IsZero() {
		t.Errorf("new VM has boot time %v", st.BootTime)
	}
	list, err := h.d.List(ctx(t))
	mustOp(t, "List", err)
	if len(list) != 1 || list[0].ID != s.ID || list[0].PowerState != driver.PoweredOff {
		t.Errorf("List = %+v, want only %s, poweredOff", list, s.ID)
	}

	wantErr(t, "Create again", h.d.Create(ctx(t), s), driver.ErrVMExists)

	bad := h.spec("no-such-datastore", "vm-nods")
	wantErr(t, "Create on an unknown datastore", h.d.Create(ctx(t), bad), driver.ErrDatastoreNotFound)
	_, err = h.d.State(ctx(t), bad.ID)
	wantErr(t, "State of a VM whose Create failed", err, driver.ErrVMNotFound)
}

// powerStep is one power operation and what it must lead to.
type powerStep struct {
	op      string
	want    driver.PowerState // the state afterwards
	refused bool              // the op must fail with a PowerStateError
}

func (h *harness) powerOp(op string) func(context.Context, string) error {
	switch op {
	case "PowerOn":
		return h.d.PowerOn
	case "PowerOff":
		return h.d.PowerOff
	case "Reset":
		return h.d.Reset
	case "Suspend":
		return h.d.Suspend
	case "ShutdownGuest":
		return h.d.ShutdownGuest
	case "RebootGuest":
		return h.d.RebootGuest
	}
	panic("drivertest: unknown power op " + op)
}

func testPowerTransitions(t *testing.T, h *harness) {
	s := h.create(t, "vm-power")
	steps := []powerStep{
		{op: "PowerOff", want: driver.PoweredOff, refused: true},
		{op: "Reset", want: driver.PoweredOff, refused: true},
		{op: "Suspend", want: driver.PoweredOff, refused: true},
		{op: "ShutdownGuest", want: driver.PoweredOff, refused: true},
		{op: "RebootGuest", want: driver.PoweredOff, refused: true},
		{op: "PowerOn", want: driver.PoweredOn},
		{op: "PowerOn", want: driver.PoweredOn, refused: true},
		{op: "Reset", want: driver.PoweredOn},
		{op: "Suspend", want: driver.Suspended},
		{op: "Suspend", want: driver.Suspended, refused: true},
		{op: "Reset", want: driver.Suspended, refused: true},
		{op: "ShutdownGuest", want: driver.Suspended, refused: true},
		{op: "PowerOn", want: driver.PoweredOn}, // resumes
		{op: "Suspend", want: driver.Suspended},
		{op: "PowerOn", want: driver.PoweredOn},
		{op: "PowerOff", want: driver.PoweredOff},
		{op: "PowerOn", want: driver.PoweredOn},
		{op: "PowerOff", want: driver.PoweredOff},
	}
	for i, step := range steps {
		name := fmt.Sprintf("step %d: %s", i, step.op)
		before, err := h.d.State(ctx(t), s.ID)
		mustOp(t, name+": State", err)
		err = h.powerOp(step.op)(ctx(t), s.ID)
		if step.refused {
			var pse *driver.PowerStateError
			if !errors.As(err, &pse) || !errors.Is(err, driver.ErrInvalidPowerState) {
				t.Fatalf("%s from %s: error %v, want a *PowerStateError wrapping ErrInvalidPowerState", name, before.PowerState, err)
			}
			if pse.Current != before.PowerState {
				t.Errorf("%s: PowerStateError.Current %s, want %s", name, pse.Current, before.PowerState)
			}
		} else {
			mustOp(t, name, err)
		}
		st := h.wantPower(t, s.ID, step.want)
		if on := st.PowerState == driver.PoweredOn; on == st.BootTime.IsZero() {
			t.Errorf("%s: %s VM has boot time %v", name, st.PowerState, st.BootTime)
		}
	}
}

func testSuspendedPowerOff(t *testing.T, h *harness) {
	s := h.create(t, "vm-suspoff")
	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), s.ID))
	mustOp(t, "Suspend", h.d.Suspend(ctx(t), s.ID))
	mustOp(t, "PowerOff of a suspended VM", h.d.PowerOff(ctx(t), s.ID))
	h.wantPower(t, s.ID, driver.PoweredOff)
	// The saved state is discarded: the next power-on is a cold boot.
	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), s.ID))
	h.wantPower(t, s.ID, driver.PoweredOn)
}

// testGuestOperations asks a VM without a guest OS to shut down and reboot:
// a driver either refuses with ErrNoTools or does it.
func testGuestOperations(t *testing.T, h *harness) {
	s := h.create(t, "vm-guest")
	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), s.ID))
	st := h.wantPower(t, s.ID, driver.PoweredOn)
	if err := h.d.RebootGuest(ctx(t), s.ID); err != nil && !errors.Is(err, driver.ErrNoTools) {
		t.Fatalf("RebootGuest: %v, want nil or ErrNoTools", err)
	}
	h.wantPower(t, s.ID, driver.PoweredOn)
	err := h.d.ShutdownGuest(ctx(t), s.ID)
	switch {
	case errors.Is(err, driver.ErrNoTools):
		if st.ToolsRunning {
			t.Errorf("ShutdownGuest refused with ErrNoTools while State says tools run")
		}
		h.wantPower(t, s.ID, driver.PoweredOn)
	case err != nil:
		t.Fatalf("ShutdownGuest: %v, want nil or ErrNoTools", err)
	}
}

func testUnknownVM(t *testing.T, h *harness) {
	const id = "vm-unknown"
	for _, op := range []string{"PowerOn", "PowerOff", "Reset", "Suspend", "ShutdownGuest", "RebootGuest"} {
		wantErr(t, op, h.powerOp(op)(ctx(t), id), driver.ErrVMNotFound)
	}
	_, err := h.d.State(ctx(t), id)
	wantErr(t, "State", err, driver.ErrVMNotFound)
	wantErr(t, "Reconfigure", h.d.Reconfigure(ctx(t), h.spec(h.ds, id)), driver.ErrVMNotFound)
	wantErr(t, "Destroy", h.d.Destroy(ctx(t), id, true), driver.ErrVMNotFound)
}

func testReconfigure(t *testing.T, h *harness) {
	s := h.create(t, "vm-reconf")
	s.NumCPU, s.MemoryMB = 2, 96
	s.Disks = append(s.Disks, driver.Disk{Path: fmt.Sprintf("[%s] %s/%s_1.vmdk", h.ds, s.ID, s.ID), CapacityBytes: 32 << 20, Thin: true})
	mustOp(t, "Reconfigure powered off", h.d.Reconfigure(ctx(t), s))
	if !exists(h.local(t, s.Disks[1].Path)) {
		t.Fatalf("Reconfigure did not create the new disk %s", s.Disks[1].Path)
	}
	h.wantPower(t, s.ID, driver.PoweredOff)

	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), s.ID))
	s.Disks = append(s.Disks, driver.Disk{Path: fmt.Sprintf("[%s] %s/%s_2.vmdk", h.ds, s.ID, s.ID), CapacityBytes: 32 << 20, Thin: true})
	mustOp(t, "Reconfigure running", h.d.Reconfigure(ctx(t), s))
	if !exists(h.local(t, s.Disks[2].Path)) {
		t.Fatalf("Reconfigure did not create the new disk %s", s.Disks[2].Path)
	}
	h.wantPower(t, s.ID, driver.PoweredOn)

	removed := s.Disks[1].Path
	s.Disks = s.Disks[:1]
	mustOp(t, "Reconfigure removing disks", h.d.Reconfigure(ctx(t), s))
	if !exists(h.local(t, removed)) {
		t.Errorf("Reconfigure deleted the removed disk %s; only DeleteFile may", removed)
	}

	bad := s
	bad.Disks = append(bad.Disks[:1:1], driver.Disk{Path: "[no-such-datastore] x/x.vmdk", CapacityBytes: 1 << 20})
	wantErr(t, "Reconfigure with a disk on an unknown datastore", h.d.Reconfigure(ctx(t), bad), driver.ErrDatastoreNotFound)
	mustOp(t, "PowerOff", h.d.PowerOff(ctx(t), s.ID))
	mustOp(t, "PowerOn after Reconfigure", h.d.PowerOn(ctx(t), s.ID))
}

func testDestroy(t *testing.T, h *harness) {
	keep := h.create(t, "vm-keep")
	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), keep.ID))
	err := h.d.Destroy(ctx(t), keep.ID, true)
	var pse *driver.PowerStateError
	if !errors.As(err, &pse) || pse.Current != driver.PoweredOn {
		t.Fatalf("Destroy of a running VM: %v, want a PowerStateError from poweredOn", err)
	}
	h.wantPower(t, keep.ID, driver.PoweredOn)
	mustOp(t, "PowerOff", h.d.PowerOff(ctx(t), keep.ID))
	mustOp(t, "Destroy keeping files", h.d.Destroy(ctx(t), keep.ID, false))
	if !exists(h.local(t, keep.Disks[0].Path)) {
		t.Errorf("Destroy without deleteFiles removed %s", keep.Disks[0].Path)
	}
	_, err = h.d.State(ctx(t), keep.ID)
	wantErr(t, "State after Destroy", err, driver.ErrVMNotFound)

	// The files left behind can be registered again.
	mustOp(t, "Create on existing files", h.d.Create(ctx(t), keep))
	mustOp(t, "Destroy", h.d.Destroy(ctx(t), keep.ID, false))

	gone := h.create(t, "vm-gone")
	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), gone.ID))
	mustOp(t, "Suspend", h.d.Suspend(ctx(t), gone.ID))
	mustOp(t, "Destroy a suspended VM with its files", h.d.Destroy(ctx(t), gone.ID, true))
	if exists(h.local(t, gone.Dir)) {
		t.Errorf("Destroy with deleteFiles left %s", gone.Dir)
	}
	if !exists(h.env.Datastores[h.ds]) {
		t.Fatalf("Destroy removed the datastore directory")
	}
	list, err := h.d.List(ctx(t))
	mustOp(t, "List", err)
	if len(list) != 0 {
		t.Errorf("List after Destroy = %+v, want none", list)
	}
}

func testDeleteFile(t *testing.T, h *harness) {
	s := h.create(t, "vm-del")
	mustOp(t, "DeleteFile", h.d.DeleteFile(ctx(t), s.Disks[0].Path))
	if exists(h.local(t, s.Disks[0].Path)) {
		t.Errorf("DeleteFile left %s", s.Disks[0].Path)
	}
	mustOp(t, "DeleteFile of a missing file", h.d.DeleteFile(ctx(t), s.Disks[0].Path))
	mustOp(t, "DeleteFile of an empty directory", h.d.DeleteFile(ctx(t), s.Dir))
	if exists(h.local(t, s.Dir)) {
		t.Errorf("DeleteFile left the directory %s", s.Dir)
	}
	wantErr(t, "DeleteFile on an unknown datastore", h.d.DeleteFile(ctx(t), "[no-such-datastore] a"), driver.ErrDatastoreNotFound)
	if err := h.d.DeleteFile(ctx(t), fmt.Sprintf("[%s]", h.ds)); err == nil || !exists(h.env.Datastores[h.ds]) {
		t.Errorf("DeleteFile of a datastore's root: %v; want an error and the directory kept", err)
	}
}

func testVanishedDatastore(t *testing.T, h *harness) {
	s := h.create(t, "vm-vanish")
	dir := h.env.Datastores[h.ds]
	mustOp(t, "remove datastore directory", os.RemoveAll(dir))

	wantErr(t, "PowerOn with its datastore gone", h.d.PowerOn(ctx(t), s.ID), driver.ErrDatastoreNotFound)
	h.wantPower(t, s.ID, driver.PoweredOff)
	wantErr(t, "Create on a vanished datastore", h.d.Create(ctx(t), h.spec(h.ds, "vm-vanish2")), driver.ErrDatastoreNotFound)
	if exists(dir) {
		t.Errorf("the driver re-made the vanished datastore directory %s", dir)
	}
	info, err := h.d.Info(ctx(t))
	mustOp(t, "Info", err)
	for _, ds := range info.Datastores {
		if ds.Name == h.ds && (ds.Accessible || ds.CapacityBytes != 0) {
			t.Errorf("Info reports the vanished datastore %+v, want inaccessible with no capacity", ds)
		}
	}
	mustOp(t, "Destroy on a vanished datastore", h.d.Destroy(ctx(t), s.ID, true))
}

func testRestart(t *testing.T, h *harness) {
	if h.env.Restart == nil {
		t.Skip("the backend gives no Env.Restart")
	}
	on, off, susp := h.create(t, "vm-on"), h.create(t, "vm-off"), h.create(t, "vm-susp")
	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), on.ID))
	mustOp(t, "PowerOn", h.d.PowerOn(ctx(t), susp.ID))
	mustOp(t, "Suspend", h.d.Suspend(ctx(t), susp.ID))
	boot := h.wantPower(t, on.ID, driver.PoweredOn).BootTime

	h.d = h.env.Restart(t)
	st := h.wantPower(t, on.ID, driver.PoweredOn)
	if !st.BootTime.Equal(boot) {
		t.Errorf("boot time after restart %v, want %v", st.BootTime, boot)
	}
	h.wantPower(t, off.ID, driver.PoweredOff)
	h.wantPower(t, susp.ID, driver.Suspended)
	list, err := h.d.List(ctx(t))
	mustOp(t, "List", err)
	if len(list) != 3 {
		t.Errorf("List after restart = %+v, want 3 VMs", list)
	}

	// The new instance controls what the old one started.
	mustOp(t, "Reset after restart", h.d.Reset(ctx(t), on.ID))
	mustOp(t, "PowerOff after restart", h.d.PowerOff(ctx(t), on.ID))
	h.wantPower(t, on.ID, driver.PoweredOff)
	mustOp(t, "resume after restart", h.d.PowerOn(ctx(t), susp.ID))
	h.wantPower(t, susp.ID, driver.PoweredOn)
	mustOp(t, "PowerOn after restart", h.d.PowerOn(ctx(t), on.ID))
	wantErr(t, "Create after restart", h.d.Create(ctx(t), off), driver.ErrVMExists)
}
