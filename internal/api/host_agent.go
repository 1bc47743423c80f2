package api

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/agentproto"
	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/hostconn"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// HostAgent ties a host that AddHost creates to its agent: the record is
// stored with the host in one transaction, and the client becomes the
// host's driver.
type HostAgent struct {
	Client *agentproto.Client
	Record hostconn.Record
}

// registerHostAgent adds the methods that connect hosts running `vireo host`.
func (s *Service) registerHostAgent(t *soap.Table) {
	soap.Register(t, "ClusterComputeResource", "AddHost_Task", s.addHostTask)
	soap.Register(t, "Folder", "AddStandaloneHost_Task", s.addStandaloneHostTask)
	soap.Register(t, "HostSystem", "DisconnectHost_Task", s.disconnectHost)
	soap.Register(t, "HostSystem", "ReconnectHost_Task", s.reconnectHost)
}

// agentAddress returns the host:port of the agent a HostConnectSpec names:
// its hostName, which may carry the port, or spec.port (443 when unset).
func agentAddress(spec *types.HostConnectSpec) (string, error) {
	if spec.HostName == "" {
		return "", vim.InvalidArgument("spec.hostName", "Give the name or address of the host to add.")
	}
	if _, _, err := net.SplitHostPort(spec.HostName); err == nil {
		return spec.HostName, nil
	}
	port := int(spec.Port)
	if port == 0 {
		port = 443
	}
	return net.JoinHostPort(spec.HostName, strconv.Itoa(port)), nil
}

// connectFault turns an agent connection error into the fault vCenter
// returns for it.
func connectFault(name string, err error) error {
	var (
		te *agentproto.ThumbprintError
		ue *agentproto.UnreachableError
	)
	switch {
	case errors.As(err, &te):
		return vim.NewFault(&types.SSLVerifyFault{SelfSigned: true, Thumbprint: te.Actual},
			"Authenticity of the host's SSL certificate is not verified: its SHA-1 thumbprint is %s. Check it and pass it as the thumbprint (govc: -thumbprint, or -noverify to accept it).", te.Actual)
	case errors.Is(err, agentproto.ErrNotAuthenticated):
		return vim.NewFault(&types.InvalidLogin{}, "Cannot complete login due to an incorrect user name or password for host %s.", name)
	case errors.As(err, &ue):
		return vim.NewFault(&types.NoHost{Name: name},
			"Cannot contact the specified host (%s). The host may not be available on the network, a network configuration problem may exist, or the management services on this host may not be responding: %v", name, ue.Err)
	}
	return vim.NewFault(&types.HostConnectFault{}, "Cannot connect to host %s: %v", name, err)
}

// dialAgent logs in to the agent spec names and returns the HostSpec that
// adds it, sized and equipped as the agent reports.
func (s *Service) dialAgent(ctx context.Context, spec *types.HostConnectSpec) (HostSpec, error) {
	if s.simulateAddedHosts {
		// vireo sim, like vcsim, simulates every host it is asked to add.
		if spec.HostName == "" {
			return HostSpec{}, vim.InvalidArgument("spec.hostName", "Give the name or address of the host to add.")
		}
		return HostSpec{Name: spec.HostName}, nil
	}
	if s.agents == nil {
		return HostSpec{}, vim.NotSupported("This server does not connect to host agents.")
	}
	addr, err := agentAddress(spec)
	if err != nil {
		return HostSpec{}, err
	}
	if dup := s.agentAt(addr); dup != nil {
		return HostSpec{}, vim.NewFault(&types.AlreadyConnected{Name: dup.Name},
			"The host at %s is already managed by this server as %s.", addr, dup.Name)
	}
	user := spec.UserName
	if user == "" {
		user = agentproto.RootUser
	}
	c, res, err := s.agents.Dial(ctx, addr, spec.SslThumbprint, user, spec.Password)
	if err != nil {
		return HostSpec{}, connectFault(spec.HostName, err)
	}
	hs := hostSpecOf(spec.HostName, res.Host)
	if cert := c.Certificate(); cert != nil {
		hs.Certificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	hs.Agent = &HostAgent{Client: c, Record: hostconn.Record{
		Address: addr, Thumbprint: agentproto.NormalizeThumbprint(spec.SslThumbprint), Token: res.Token,
	}}
	return hs, nil
}

// hostSpecOf sizes a host from the facts its agent reports.
func hostSpecOf(name string, info driver.HostInfo) HostSpec {
	hs := HostSpec{Name: name, NumCPU: info.NumCores, CPUMHz: info.CPUMHz, MemoryMB: info.MemoryBytes >> 20, Networks: info.Networks,
		Vendor: info.Vendor, Model: info.Model, CPUModel: info.CPUModel, UUID: info.UUID}
	for _, d := range info.Datastores {
		hs.Datastores = append(hs.Datastores, DatastoreSpec{Name: d.Name, Shared: d.Shared})
	}
	return hs
}

// agentAt returns the host whose agent listens at addr, or nil.
func (s *Service) agentAt(addr string) *mo.HostSystem {
	var found *mo.HostSystem
	s.reg.Each("HostSystem", func(o mo.Reference) bool {
		if rec, ok := s.agents.Record(o.Reference()); ok && rec.Address == addr {
			found = o.(*mo.HostSystem)
		}
		return found == nil
	})
	return found
}

// addHostTask is ClusterComputeResource.AddHost_Task: the host joins the
// cluster. Its result is the new HostSystem.
func (s *Service) addHostTask(ctx *soap.Context, req *types.AddHost_Task) (any, error) {
	spec := req.Spec
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: ctx.This, DescriptionID: "ClusterComputeResource.addHost", User: ctx.UserName()},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			hs, err := s.dialAgent(tctx, &spec)
			if err != nil {
				return nil, err
			}
			return s.AddHost(tctx, t.User, ctx.This, hs)
		})
	if err != nil {
		return nil, err
	}
	return &types.AddHost_TaskResponse{Returnval: ref}, nil
}

// addStandaloneHostTask is Folder.AddStandaloneHost_Task: the host gets its
// own ComputeResource in a host folder, which is the result.
func (s *Service) addStandaloneHostTask(ctx *soap.Context, req *types.AddStandaloneHost_Task) (any, error) {
	spec := req.Spec
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: ctx.This, DescriptionID: "Folder.addStandaloneHost", User: ctx.UserName()},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			hs, err := s.dialAgent(tctx, &spec)
			if err != nil {
				return nil, err
			}
			host, err := s.AddHost(tctx, t.User, ctx.This, hs)
			if err != nil {
				return nil, err
			}
			h := inventory.Get[mo.HostSystem](s.reg, host)
			if h == nil || h.Parent == nil {
				return nil, vim.ManagedObjectNotFound(host)
			}
			return *h.Parent, nil
		})
	if err != nil {
		return nil, err
	}
	return &types.AddStandaloneHost_TaskResponse{Returnval: ref}, nil
}

// isAgentHost reports whether host runs `vireo host` (not in process).
func (s *Service) isAgentHost(host types.ManagedObjectReference) bool {
	return s.agents != nil && s.agents.Known(host)
}

// disconnectHost is HostSystem.DisconnectHost_Task: the server stops
// managing the host until it is reconnected; its VMs read disconnected. An
// in-process host is disconnected the same way: its driver is not used
// while it is.
func (s *Service) disconnectHost(ctx *soap.Context, req *types.DisconnectHost_Task) (any, error) {
	h := inventory.Get[mo.HostSystem](s.reg, ctx.This)
	if h == nil {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: h.Self, DescriptionID: "HostSystem.disconnect", User: ctx.UserName()},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			if s.isAgentHost(h.Self) {
				if err := s.agents.Disconnect(tctx, h.Self); err != nil {
					return nil, err
				}
			}
			if err := s.setHostConnection(tctx, h.Self, types.HostSystemConnectionStateDisconnected); err != nil {
				return nil, err
			}
			s.postEvent(&types.HostDisconnectedEvent{Reason: string(types.HostDisconnectedEventReasonCodeUserRequest)}, t.User, t.ChainID, h.Self,
				fmt.Sprintf("Disconnected from %s in %s. Reason: The host was disconnected by a user", h.Name, dcNameOf(datacenterOf(s.reg, h.Self))))
			return nil, nil
		})
	if err != nil {
		return nil, err
	}
	return &types.DisconnectHost_TaskResponse{Returnval: ref}, nil
}

// reconnectHost is HostSystem.ReconnectHost_Task: the server logs in to the
// agent again (with cnxSpec's password when given, else its stored token)
// and reconciles the host's VMs with what the host runs.
func (s *Service) reconnectHost(ctx *soap.Context, req *types.ReconnectHost_Task) (any, error) {
	h := inventory.Get[mo.HostSystem](s.reg, ctx.This)
	if h == nil {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	var user, password, thumb string
	if c := req.CnxSpec; c != nil {
		user, password, thumb = c.UserName, c.Password, c.SslThumbprint
	}
	if user == "" {
		user = agentproto.RootUser
	}
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: h.Self, DescriptionID: "HostSystem.reconnect", User: ctx.UserName()},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			if s.isAgentHost(h.Self) {
				if _, err := s.agents.Reconnect(tctx, h.Self, user, password, thumb); err != nil {
					return nil, connectFault(h.Name, err)
				}
			}
			if err := s.hostConnected(tctx, h.Self, t.User); err != nil {
				return nil, err
			}
			// Reconciled before the task ends, so its caller sees the
			// host's VMs as the host has them; a VM that cannot be read
			// now is reconciled by the next heartbeat.
			if err := s.ReconcileHost(tctx, h.Self); err != nil {
				s.log.Warn("reconcile host", "host", h.Self.Value, "err", err)
			}
			return nil, nil
		})
	if err != nil {
		return nil, err
	}
	return &types.ReconnectHost_TaskResponse{Returnval: ref}, nil
}

// setHostConnection stores host's connection state, and the matching
// connection state of its VMs: disconnected while the host is not
// connected, and connected again (until reconciled) when it is.
func (s *Service) setHostConnection(ctx context.Context, host types.ManagedObjectReference, state types.HostSystemConnectionState) error {
	vmState := types.VirtualMachineConnectionStateConnected
	if state != types.HostSystemConnectionStateConnected {
		vmState = types.VirtualMachineConnectionStateDisconnected
	}
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		h := inventory.Edit[mo.HostSystem](tx, host)
		if h == nil {
			return vim.ManagedObjectNotFound(host)
		}
		h.Runtime.ConnectionState = state
		syncHostSummary(h)
		for _, v := range h.Vm {
			vm, ok := tx.Get(v).(*mo.VirtualMachine)
			if !ok || vm.Runtime.ConnectionState == vmState ||
				vm.Runtime.ConnectionState == types.VirtualMachineConnectionStateOrphaned {
				continue
			}
			inventory.Edit[mo.VirtualMachine](tx, v).Runtime.ConnectionState = vmState
		}
		refreshHostsComputeTxn(tx, []types.ManagedObjectReference{host})
		return nil
	})
}

// hostConnected marks host (and its VMs) connected and posts
// HostConnectedEvent.
func (s *Service) hostConnected(ctx context.Context, host types.ManagedObjectReference, user string) error {
	if err := s.setHostConnection(ctx, host, types.HostSystemConnectionStateConnected); err != nil {
		return err
	}
	if h := inventory.Get[mo.HostSystem](s.reg, host); h != nil {
		s.postEvent(&types.HostConnectedEvent{}, user, 0, host,
			fmt.Sprintf("Connected to %s in %s", h.Name, dcNameOf(datacenterOf(s.reg, host))))
	}
	return nil
}

// HostConnection implements hostconn.Observer: a host that stops
// responding gets HostConnectionLostEvent, one that answers again is
// connected. Either way the message that made it answer follows at once
// through HostReport, which stores its facts and reconciles its VMs.
func (s *Service) HostConnection(ctx context.Context, host types.ManagedObjectReference, state types.HostSystemConnectionState) {
	h := inventory.Get[mo.HostSystem](s.reg, host)
	if h == nil || h.Runtime.ConnectionState == state {
		return
	}
	if state == types.HostSystemConnectionStateConnected {
		if err := s.hostConnected(ctx, host, ""); err != nil {
			s.log.Warn("host connected", "host", host.Value, "err", err)
		}
		return
	}
	if err := s.setHostConnection(ctx, host, state); err != nil {
		s.log.Warn("host connection state", "host", host.Value, "err", err)
		return
	}
	s.postEvent(&types.HostConnectionLostEvent{}, "", 0, host,
		fmt.Sprintf("Host %s in %s is not responding", h.Name, dcNameOf(datacenterOf(s.reg, host))))
}

// HostReport implements hostconn.Observer: the host's datastore facts
// (capacity, accessibility) are stored, every VM whose state the host
// reports differently from the inventory is reconciled, and a VM the host
// no longer knows becomes orphaned.
func (s *Service) HostReport(ctx context.Context, host types.ManagedObjectReference, msg agentproto.Message) {
	h := inventory.Get[mo.HostSystem](s.reg, host)
	if h == nil || h.Runtime.ConnectionState == types.HostSystemConnectionStateDisconnected {
		return
	}
	if msg.Host != nil {
		s.applyDatastoreFacts(ctx, host, msg.Host.Datastores)
	}
	if msg.Sample != nil {
		s.applySample(ctx, h, msg.Sample)
	}
	reported := make(map[string]driver.VMState, len(msg.VMs))
	for _, st := range msg.VMs {
		reported[st.ID] = st
	}
	for _, ref := range h.Vm {
		vm := inventory.Get[mo.VirtualMachine](s.reg, ref)
		if vm == nil || vm.Config == nil {
			continue
		}
		st, ok := reported[vmInstanceID(vm)]
		if ok && !vmDiffers(vm, st, s.now()) {
			continue
		}
		if !ok && vm.Runtime.ConnectionState == types.VirtualMachineConnectionStateOrphaned {
			continue
		}
		_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
			return nil, s.reconcileVM(ctx, vm)
		})
		if err != nil && !isObjectGone(err) {
			s.log.Warn("reconcile VM", "vm", ref.Value, "err", err)
		}
	}
}

// vmDiffers reports whether a host's report of vm differs from the
// inventory in what reconcileVM updates.
func vmDiffers(vm *mo.VirtualMachine, st driver.VMState, now time.Time) bool {
	running := vm.Guest != nil && vm.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
	if string(st.PowerState) != string(vm.Runtime.PowerState) || st.ToolsRunning != running ||
		vm.Runtime.ConnectionState != types.VirtualMachineConnectionStateConnected {
		return true
	}
	if running && (vm.Guest.IpAddress != st.IPAddress || vm.Guest.HostName != st.HostName ||
		vm.Guest.AppHeartbeatStatus != appHeartbeatStatus(st, now)) {
		return true
	}
	return false
}

// ReconcileHost reconciles every VM of host with the host's word.
func (s *Service) ReconcileHost(ctx context.Context, host types.ManagedObjectReference) error {
	h := inventory.Get[mo.HostSystem](s.reg, host)
	if h == nil {
		return nil
	}
	return s.reconcileVMs(ctx, h.Vm)
}

// applySample stores a host's 20-second performance sample as the quick
// statistics of the host and of its running VMs, in one transaction.
func (s *Service) applySample(ctx context.Context, h *mo.HostSystem, sample *agentproto.Sample) {
	usage := make(map[string]agentproto.VMSample, len(sample.VMs))
	for _, v := range sample.VMs {
		usage[v.ID] = v
	}
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		tx.Volatile() // measured again every 20 seconds
		host, ok := tx.Get(h.Self).(*mo.HostSystem)
		if !ok {
			return nil
		}
		cpu, mem := int32(sample.CPUUsageMHz), int32(sample.MemoryUsageMB)
		if q := host.Summary.QuickStats; q.OverallCpuUsage != cpu || q.OverallMemoryUsage != mem {
			e := inventory.Edit[mo.HostSystem](tx, h.Self)
			e.Summary.QuickStats.OverallCpuUsage, e.Summary.QuickStats.OverallMemoryUsage = cpu, mem
		}
		for _, ref := range host.Vm {
			vm, ok := tx.Get(ref).(*mo.VirtualMachine)
			if !ok || vm.Config == nil || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				continue
			}
			u, ok := usage[vmInstanceID(vm)]
			if !ok {
				continue
			}
			if q := vm.Summary.QuickStats; q.OverallCpuUsage == u.CPUUsageMHz && q.GuestMemoryUsage == u.MemoryUsageMB {
				continue
			}
			e := inventory.Edit[mo.VirtualMachine](tx, ref)
			e.Summary.QuickStats.OverallCpuUsage, e.Summary.QuickStats.GuestMemoryUsage = u.CPUUsageMHz, u.MemoryUsageMB
		}
		return nil
	})
	if err != nil {
		s.log.Warn("store host sample", "host", h.Self.Value, "err", err)
	}
}
