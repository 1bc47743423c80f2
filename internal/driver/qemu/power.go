package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/guest"
)

// errNoMonitor is returned for operations that need the monitor of a QEMU
// the driver adopted but could not connect to.
var errNoMonitor = errors.New("qemu: the VM's QEMU monitor cannot be reached")

// running returns the VM's QEMU, or a PowerStateError for requested when it
// does not run.
func (v *vm) running(requested driver.PowerState) (*process, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.proc == nil {
		return nil, &driver.PowerStateError{Current: v.powerLocked(), Requested: requested}
	}
	return v.proc, nil
}

// PowerOn implements driver.Driver: it starts QEMU, or for a suspended VM
// starts it on the saved state, which it then deletes. It returns once QEMU
// runs the guest; a QEMU that fails to start leaves the VM as it was and
// yields an error carrying QEMU's message.
func (d *Driver) PowerOn(ctx context.Context, id string) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	v.op.Lock()
	defer v.op.Unlock()
	from := v.power()
	if from == driver.PoweredOn {
		return &driver.PowerStateError{Current: from, Requested: driver.PoweredOn}
	}
	v.mu.Lock()
	rec := v.rec
	v.mu.Unlock()
	if err := d.checkPaths(rec.Spec); err != nil {
		return fmt.Errorf("qemu: power on %s: %w", id, err)
	}

	args := rec.Args
	var saved *os.File
	if from == driver.Suspended && len(args) > 0 {
		if saved, err = os.Open(v.path(savedState)); err != nil {
			return fmt.Errorf("qemu: power on %s: saved state: %w", id, err)
		}
		defer saved.Close()
	} else {
		// A cold boot; a saved state without the hardware it was saved
		// from cannot be loaded.
		os.Remove(v.path(savedState))
		if args, err = d.qemuArgs(rec.Spec); err != nil {
			return fmt.Errorf("qemu: power on %s: %w", id, err)
		}
	}

	p, err := d.start(ctx, v, args, saved)
	if err != nil {
		v.mu.Lock()
		v.off = v.restingState()
		v.mu.Unlock()
		return fmt.Errorf("qemu: power on %s: %w", id, err)
	}
	if saved != nil {
		os.Remove(v.path(savedState))
	}
	v.mu.Lock()
	v.proc = p
	v.rec.Args = args
	if saved == nil || v.rec.BootTime.IsZero() {
		v.rec.BootTime = d.cfg.Now()
	}
	v.mu.Unlock()
	d.watch(v, p)
	return v.save()
}

// PowerOff implements driver.Driver: QEMU quits at once (a hard power-off);
// a suspended VM's saved state is discarded.
func (d *Driver) PowerOff(ctx context.Context, id string) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	v.op.Lock()
	defer v.op.Unlock()
	p, err := v.running(driver.PoweredOff)
	if err == nil {
		if err := d.stop(ctx, p); err != nil {
			return fmt.Errorf("qemu: power off %s: %w", id, err)
		}
		return nil
	}
	if v.power() != driver.Suspended {
		return err
	}
	if err := os.Remove(v.path(savedState)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("qemu: power off %s: %w", id, err)
	}
	v.mu.Lock()
	v.off = driver.PoweredOff
	v.mu.Unlock()
	return nil
}

// Reset implements driver.Driver with QEMU's system_reset.
func (d *Driver) Reset(ctx context.Context, id string) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	v.op.Lock()
	defer v.op.Unlock()
	p, err := v.running(driver.PoweredOn)
	if err != nil {
		return err
	}
	if p.qmp == nil {
		return errNoMonitor
	}
	if err := p.qmp.execute(ctx, "system_reset", nil, nil); err != nil {
		return fmt.Errorf("qemu: reset %s: %w", id, err)
	}
	v.mu.Lock()
	v.rec.BootTime = d.cfg.Now()
	v.mu.Unlock()
	return v.save()
}

// suspendFD names the descriptor of the saved state file inside QEMU.
const suspendFD = "vireo-suspend"

// Suspend implements driver.Driver: QEMU stops the guest, writes the device
// and memory state to the run directory (a migration to a file), and quits.
func (d *Driver) Suspend(ctx context.Context, id string) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	v.op.Lock()
	defer v.op.Unlock()
	p, err := v.running(driver.Suspended)
	if err != nil {
		return err
	}
	if p.qmp == nil {
		return errNoMonitor
	}
	tmp := v.path(savedState + ".tmp")
	if err := saveState(ctx, p.qmp, tmp); err != nil {
		os.Remove(tmp)
		_ = p.qmp.execute(ctx, "cont", nil, nil)
		return fmt.Errorf("qemu: suspend %s: %w", id, err)
	}
	if err := os.Rename(tmp, v.path(savedState)); err != nil {
		_ = p.qmp.execute(ctx, "cont", nil, nil)
		return fmt.Errorf("qemu: suspend %s: %w", id, err)
	}
	if err := d.stop(ctx, p); err != nil {
		return fmt.Errorf("qemu: suspend %s: %w", id, err)
	}
	return nil
}

// saveState pauses the guest and has QEMU write its state into the file
// path, passed to QEMU as a descriptor.
func saveState(ctx context.Context, q *qmpClient, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := q.execute(ctx, "stop", nil, nil); err != nil {
		return err
	}
	// The state goes to a local file: do not throttle it like a network
	// migration.
	if err := q.execute(ctx, "migrate-set-parameters", map[string]any{"max-bandwidth": int64(1) << 40}, nil); err != nil {
		return err
	}
	if err := q.executeFile(ctx, "getfd", map[string]string{"fdname": suspendFD}, nil, f); err != nil {
		return err
	}
	if err := q.execute(ctx, "migrate", map[string]string{"uri": "fd:" + suspendFD}, nil); err != nil {
		return err
	}
	for {
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := q.execute(ctx, "query-migrate", nil, &st); err != nil {
			return err
		}
		switch st.Status {
		case "completed":
			return f.Sync()
		case "failed", "cancelled":
			return fmt.Errorf("saving the state %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			_ = q.execute(context.Background(), "migrate_cancel", nil, nil)
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ShutdownGuest implements driver.Driver through the guest agent; the VM
// powers off when the guest has shut down.
func (d *Driver) ShutdownGuest(ctx context.Context, id string) error {
	return d.guestOp(ctx, id, driver.PoweredOff, "shut down", (*guest.Conn).Shutdown)
}

// RebootGuest implements driver.Driver through the guest agent.
func (d *Driver) RebootGuest(ctx context.Context, id string) error {
	return d.guestOp(ctx, id, driver.PoweredOn, "reboot", (*guest.Conn).Reboot)
}

// guestOp asks a running VM's guest agent to do something, and fails with
// ErrNoTools when no agent answers.
func (d *Driver) guestOp(ctx context.Context, id string, requested driver.PowerState, what string, op func(*guest.Conn, context.Context) error) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	v.op.Lock()
	defer v.op.Unlock()
	p, err := v.running(requested)
	if err != nil {
		return err
	}
	g := d.guestConn(ctx, v, p)
	if g == nil || !g.Status().Running {
		return fmt.Errorf("qemu: %s %s: %w", what, id, driver.ErrNoTools)
	}
	if err := op(g, ctx); err != nil {
		return fmt.Errorf("qemu: %s %s: guest agent: %w", what, id, err)
	}
	return nil
}
