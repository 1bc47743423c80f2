package api_test

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/app"
	"github.com/vireo-project/vireo/internal/inventory"
)

// TestDisconnectInProcessHost disconnects and reconnects a host that runs
// inside the server: while disconnected its VMs read disconnected and
// cannot be powered on.
func TestDisconnectInProcessHost(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("v1"))
	host := object.NewHostSystem(f.c, f.h0)
	wait := func(task *object.Task, err error) error {
		if err != nil {
			return err
		}
		return task.Wait(f.ctx)
	}

	mustOK(t, wait(host.Disconnect(f.ctx)))
	h := inventory.Get[mo.HostSystem](f.svc.Registry(), f.h0)
	v := inventory.Get[mo.VirtualMachine](f.svc.Registry(), vm.Reference())
	if h.Runtime.ConnectionState != types.HostSystemConnectionStateDisconnected || v.Runtime.ConnectionState != types.VirtualMachineConnectionStateDisconnected {
		t.Fatalf("after disconnect: host %s, VM %s", h.Runtime.ConnectionState, v.Runtime.ConnectionState)
	}
	wantFault(t, wait(vm.PowerOn(f.ctx)), &types.HostNotConnected{})

	mustOK(t, wait(host.Reconnect(f.ctx, nil, nil)))
	h = inventory.Get[mo.HostSystem](f.svc.Registry(), f.h0)
	v = inventory.Get[mo.VirtualMachine](f.svc.Registry(), vm.Reference())
	if h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected || v.Runtime.ConnectionState != types.VirtualMachineConnectionStateConnected {
		t.Fatalf("after reconnect: host %s, VM %s", h.Runtime.ConnectionState, v.Runtime.ConnectionState)
	}
	mustOK(t, wait(vm.PowerOn(f.ctx)))
}

// TestAddHostWithoutAgent: vireo serve dials the host's agent (and fails
// with NoHost where none answers); vireo sim simulates the host, as vcsim.
func TestAddHostWithoutAgent(t *testing.T) {
	spec := types.HostConnectSpec{HostName: "127.0.0.1:1", UserName: "root", Password: "x", SslThumbprint: "AA:BB"}

	f := newInv(t)
	dc := f.datacenter("dc")
	cl := object.NewClusterComputeResource(f.c, f.cluster(dc, "c"))
	task, err := cl.AddHost(f.ctx, spec, true, nil, nil)
	wantFault(t, f.wait(task, err), &types.NoHost{})

	sim := newInv(t, func(c *app.Config) { c.Sim = &app.SimOptions{} })
	dc = sim.datacenter("dc")
	cl = object.NewClusterComputeResource(sim.c, sim.cluster(dc, "c"))
	spec.HostName = "10.0.0.42"
	task, err = cl.AddHost(sim.ctx, spec, true, nil, nil)
	mustOK(t, sim.wait(task, err))
	info, err := task.WaitForResult(sim.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hs mo.HostSystem
	sim.props(info.Result.(types.ManagedObjectReference), &hs, "name", "runtime.connectionState")
	if hs.Name != "10.0.0.42" || hs.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
		t.Fatalf("simulated host = %s, %s", hs.Name, hs.Runtime.ConnectionState)
	}
}
