package api

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/hostconn"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// Defaults of a simulated host, the same as the sim driver's.
const (
	defaultHostCPUs     = 16
	defaultHostCPUMHz   = 2600
	defaultHostMemoryMB = 64 << 10
)

// ESXi version the simulated hosts report.
const (
	esxVersion = "8.0.3"
	esxBuild   = "24022510"
)

// AddHost, EnterMaintenanceMode_Task and ExitMaintenanceMode_Task live here;
// a host is destroyed through ManagedEntity.Destroy_Task (entity.go).
// AddHost_Task, AddStandaloneHost_Task and the connection methods, for hosts
// that run `vireo host`, live in host_agent.go.
func (s *Service) registerHost(t *soap.Table) {
	soap.Register(t, "HostSystem", "EnterMaintenanceMode_Task", s.enterMaintenanceMode)
	soap.Register(t, "HostSystem", "ExitMaintenanceMode_Task", s.exitMaintenanceMode)
}

// AddHost adds a simulated host, run in process by the host directory's
// driver, under parent: a cluster, or a host folder of a datacenter, where
// the host gets its own ComputeResource (with a root pool) named after it.
// The host mounts spec's datastores and joins spec's networks ("VM Network"
// when none), creating those the datacenter lacks. Datastore capacity is
// measured through the host's driver. It posts HostAddedEvent and
// HostConnectedEvent. Faults: InvalidName, DuplicateName (a host or a
// sibling has the name), NotSupported (parent cannot hold hosts),
// InvalidArgument, ManagedObjectNotFound.
func (s *Service) AddHost(ctx context.Context, user string, parent types.ManagedObjectReference, spec HostSpec) (types.ManagedObjectReference, error) {
	name, err := entityName(spec.Name, "host")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	spec = hostDefaults(spec)
	if err := checkHostSpec(spec); err != nil {
		return types.ManagedObjectReference{}, err
	}
	var (
		ref   types.ManagedObjectReference
		newDS []types.ManagedObjectReference
	)
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		dc, folder, err := hostParent(tx, parent)
		if err != nil {
			return err
		}
		if dup := s.hostNamed(name); dup != nil {
			return vim.DuplicateName(name, dup.Self)
		}
		if folder != nil {
			if err := checkUnique(tx, folder.ChildEntity, name, ref); err != nil {
				return err
			}
		}
		ref = tx.NewRef("HostSystem")
		cr := parent
		if folder != nil {
			cr = newComputeResourceTxn(tx, folder.Self, name)
		}
		var dss []*mo.Datastore
		for _, d := range spec.Datastores {
			dsRef, created := datastoreNamedTxn(tx, dc.Self, d, s.now())
			if created {
				newDS = append(newDS, dsRef)
			}
			mountDatastoreTxn(tx, dsRef, ref)
			dss = append(dss, tx.Get(dsRef).(*mo.Datastore))
		}
		var nets []types.ManagedObjectReference
		for _, n := range spec.Networks {
			nr := networkNamedTxn(tx, dc.Self, n)
			appendRef(&nets, nr)
			net := inventory.Edit[mo.Network](tx, nr)
			appendRef(&net.Host, ref)
		}
		h := newHostSystem(ref, name, spec, cr, dss, s.now())
		h.Network = nets
		tx.Create(h, true)
		if spec.Agent != nil {
			tx.SetMeta(hostconn.MetaKey(ref), spec.Agent.Record.Encode())
		}
		c := computeResource(tx.Edit(cr))
		c.Host = append(c.Host, ref)
		refreshComputeTxn(tx, cr)
		return nil
	})
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	if spec.Agent != nil {
		s.agents.Attach(ref, spec.Agent.Client, spec.Agent.Record)
	}
	s.RefreshHostDatastores(ctx, ref)
	dcName := dcNameOf(datacenterOf(s.reg, ref))
	s.postEvent(&types.HostAddedEvent{}, user, 0, ref, fmt.Sprintf("Added host %s to datacenter %s", name, dcName))
	s.postEvent(&types.HostConnectedEvent{}, user, 0, ref, fmt.Sprintf("Connected to %s in %s", name, dcName))
	for _, d := range newDS {
		ds := entityOf(s.reg, d)
		s.postEvent(&types.DatastoreDiscoveredEvent{Datastore: *dsArg(ds.Name, d)},
			user, 0, ref, fmt.Sprintf("Discovered datastore %s on %s in %s", ds.Name, name, dcName))
	}
	return ref, nil
}

// hostDefaults fills a host spec's zero fields.
func hostDefaults(spec HostSpec) HostSpec {
	if spec.NumCPU == 0 {
		spec.NumCPU = defaultHostCPUs
	}
	if spec.CPUMHz == 0 {
		spec.CPUMHz = defaultHostCPUMHz
	}
	if spec.MemoryMB == 0 {
		spec.MemoryMB = defaultHostMemoryMB
	}
	if len(spec.Networks) == 0 {
		spec.Networks = []string{"VM Network"}
	}
	return spec
}

func checkHostSpec(spec HostSpec) error {
	if spec.NumCPU < 0 || spec.CPUMHz < 0 || spec.MemoryMB < 0 {
		return vim.InvalidArgument("spec", "A host needs a positive CPU count, CPU speed and memory size.")
	}
	for _, d := range spec.Datastores {
		if _, err := entityName(d.Name, "datastore"); err != nil {
			return err
		}
	}
	for _, n := range spec.Networks {
		if _, err := entityName(n, "network"); err != nil {
			return err
		}
	}
	return nil
}

// hostParent resolves where a host goes: a cluster (folder nil) or a folder
// that holds compute resources. It returns the datacenter too.
func hostParent(tx *inventory.Txn, parent types.ManagedObjectReference) (*mo.Datacenter, *mo.Folder, error) {
	var folder *mo.Folder
	switch p := tx.Get(parent).(type) {
	case *mo.ClusterComputeResource:
	case *mo.Folder:
		if !folderAllows(p, "ComputeResource") {
			return nil, nil, childTypeFault(p, "HostSystem")
		}
		folder = p
	case nil:
		return nil, nil, vim.ManagedObjectNotFound(parent)
	default:
		return nil, nil, vim.NotSupported("A host is added to a cluster or to a host folder, not to a %s.", parent.Type)
	}
	dc := datacenterOf(tx, parent)
	if dc == nil {
		return nil, nil, vim.InvalidArgument("parent", "%s is not inside a datacenter.", parent.Value)
	}
	return dc, folder, nil
}

// hostNamed returns the host called name, or nil.
func (s *Service) hostNamed(name string) *mo.HostSystem {
	var found *mo.HostSystem
	s.reg.Each("HostSystem", func(o mo.Reference) bool {
		if h := o.(*mo.HostSystem); h.Name == name {
			found = h
		}
		return found == nil
	})
	return found
}

// datastoreNamedTxn returns dc's datastore named as d, creating it when
// missing; created says whether it did.
func datastoreNamedTxn(tx *inventory.Txn, dcRef types.ManagedObjectReference, d DatastoreSpec, now time.Time) (ref types.ManagedObjectReference, created bool) {
	dc := tx.Get(dcRef).(*mo.Datacenter)
	if e := entityNamed(tx, dc.Datastore, d.Name); e != nil {
		return e.Self, false
	}
	return newDatastoreTxn(tx, dc, d.Name, d.Shared, now), true
}

// hostNumber is the number in a host's MoRef ("host-12" → 12).
func hostNumber(ref types.ManagedObjectReference) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(ref.Value, inventory.Prefix("HostSystem")))
	return n
}

// hostIP is the management address of a simulated host: its name when that
// is an IPv4 address, else 127.0.0.1 (as vcsim does, which scripts written
// against vcsim expect).
func hostIP(name string) string {
	if ip := net.ParseIP(name); ip != nil && ip.To4() != nil {
		return name
	}
	return "127.0.0.1"
}

// hostMAC is a VMware-range MAC address unique per host and NIC.
func hostMAC(ref types.ManagedObjectReference, nic int) string {
	n := hostNumber(ref)
	return fmt.Sprintf("00:50:56:%02x:%02x:%02x", nic&255, (n>>8)&255, n&255)
}

// newHostSystem builds a connected, powered-on host from the captured ESXi
// templates of govmomi's esx package, sized by spec, in compute resource
// parent, mounting dss.
func newHostSystem(ref types.ManagedObjectReference, name string, spec HostSpec, parent types.ManagedObjectReference, dss []*mo.Datastore, now time.Time) *mo.HostSystem {
	h := &mo.HostSystem{}
	initEntity(&h.ManagedEntity, ref, name, &parent)
	h.Hardware = hostHardware(spec)
	h.Capability = vim.DeepCopy(esx.HostCapability)
	h.Config = hostConfig(ref, name, spec, dss)
	h.Runtime = vim.DeepCopy(esx.HostSystem.Runtime)
	h.Runtime.ConnectionState = types.HostSystemConnectionStateConnected
	h.Runtime.PowerState = types.HostSystemPowerStatePoweredOn
	h.Runtime.InMaintenanceMode = false
	h.Runtime.BootTime = types.NewTime(now)
	h.Summary = types.HostListSummary{
		Host:     refp(ref),
		Hardware: hardwareSummary(h.Hardware),
		Config: types.HostConfigSummary{
			Name: name, Port: 443, Product: vim.DeepCopy(&h.Config.Product),
			FaultToleranceEnabled: types.NewBool(false),
		},
		OverallStatus:      types.ManagedEntityStatusGreen,
		ManagementServerIp: "127.0.0.1",
	}
	syncHostSummary(h)
	pkgs := h.Hardware.CpuInfo.NumCpuPackages
	h.LicensableResource = types.HostLicensableResourceInfo{Resource: []types.KeyAnyValue{
		{Key: "numCpuPackages", Value: int64(pkgs)},
		{Key: "numCpuCores", Value: int64(h.Hardware.CpuInfo.NumCpuCores)},
	}}
	for _, d := range dss {
		h.Datastore = append(h.Datastore, d.Self)
	}
	return h
}

// syncHostSummary copies the host's runtime into summary.runtime.
func syncHostSummary(h *mo.HostSystem) {
	rt := vim.DeepCopy(h.Runtime)
	h.Summary.Runtime = &rt
}

// hostHardware sizes the captured hardware template to spec.
func hostHardware(spec HostSpec) *types.HostHardwareInfo {
	hw := vim.DeepCopy(esx.HostHardwareInfo)
	hw.SystemInfo.Uuid = uuid.NewString()
	pkgs := int16(1)
	if spec.NumCPU >= 2 && spec.NumCPU%2 == 0 {
		pkgs = 2
	}
	hz := int64(spec.CPUMHz) * 1_000_000
	hw.CpuInfo = types.HostCpuInfo{NumCpuPackages: pkgs, NumCpuCores: spec.NumCPU, NumCpuThreads: spec.NumCPU, Hz: hz}
	hw.CpuPkg = hw.CpuPkg[:pkgs]
	per := spec.NumCPU / pkgs
	for i := range hw.CpuPkg {
		p := &hw.CpuPkg[i]
		p.Hz = hz
		p.ThreadId = nil
		for t := int16(0); t < per; t++ {
			p.ThreadId = append(p.ThreadId, int16(i)*per+t)
		}
	}
	hw.MemorySize = spec.MemoryMB << 20
	if spec.Vendor != "" {
		hw.SystemInfo.Vendor = spec.Vendor
	}
	if spec.Model != "" {
		hw.SystemInfo.Model = spec.Model
	}
	if spec.UUID != "" {
		hw.SystemInfo.Uuid = spec.UUID
	}
	if spec.CPUModel != "" {
		for i := range hw.CpuPkg {
			hw.CpuPkg[i].Description = spec.CPUModel
		}
	}
	return hw
}

func hardwareSummary(hw *types.HostHardwareInfo) *types.HostHardwareSummary {
	model := ""
	if len(hw.CpuPkg) > 0 {
		model = hw.CpuPkg[0].Description
	}
	return &types.HostHardwareSummary{
		Vendor: hw.SystemInfo.Vendor, Model: hw.SystemInfo.Model, Uuid: hw.SystemInfo.Uuid,
		OtherIdentifyingInfo: vim.DeepCopy(hw.SystemInfo.OtherIdentifyingInfo),
		MemorySize:           hw.MemorySize, CpuModel: model, CpuMhz: int32(hw.CpuInfo.Hz / 1_000_000),
		NumCpuPkgs: hw.CpuInfo.NumCpuPackages, NumCpuCores: hw.CpuInfo.NumCpuCores, NumCpuThreads: hw.CpuInfo.NumCpuThreads,
		NumNics: 2, NumHBAs: 3,
	}
}

// hostConfig builds config from the captured template: the ESXi product,
// the file systems of dss, and a vSwitch0 with a port group per network plus
// the management network and its vmk0.
func hostConfig(ref types.ManagedObjectReference, name string, spec HostSpec, dss []*mo.Datastore) *types.HostConfigInfo {
	cfg := vim.DeepCopy(&esx.HostConfigInfo)
	cfg.Host = ref
	cfg.Product.FullName = fmt.Sprintf("VMware ESXi %s build-%s", esxVersion, esxBuild)
	cfg.Product.Version, cfg.Product.Build = esxVersion, esxBuild
	cfg.Product.ApiVersion, cfg.Product.LicenseProductVersion = esxVersion+".0", esxVersion
	cfg.FileSystemVolume = hostFileSystems(dss)
	cfg.Certificate = spec.Certificate // not the template's; when empty, host_cert.go issues one
	hostNetworkConfig(cfg.Network, ref, name, spec.Networks)
	return cfg
}

// hostNetworkConfig rewrites the template's network for this host.
func hostNetworkConfig(n *types.HostNetworkInfo, ref types.ManagedObjectReference, name string, networks []string) {
	var vmPG, mgmtPG types.HostPortGroup
	for _, pg := range n.Portgroup {
		if pg.Spec.Name == "Management Network" {
			mgmtPG = pg
		} else {
			vmPG = pg
		}
	}
	n.Portgroup = nil
	var keys []string
	for _, nn := range networks {
		pg := vim.DeepCopy(vmPG)
		pg.Key, pg.Spec.Name = "key-vim.host.PortGroup-"+nn, nn
		n.Portgroup = append(n.Portgroup, pg)
		keys = append(keys, pg.Key)
	}
	n.Portgroup = append(n.Portgroup, mgmtPG)
	if len(n.Vswitch) > 0 {
		n.Vswitch[0].Portgroup = append(keys, mgmtPG.Key)
	}
	for i := range n.Pnic {
		n.Pnic[i].Mac = hostMAC(ref, i)
		if fc := n.Pnic[i].FcoeConfiguration; fc != nil {
			fc.SourceMac = n.Pnic[i].Mac
		}
	}
	ip := hostIP(name)
	for i := range n.Vnic {
		if s := n.Vnic[i].Spec.Ip; s != nil {
			s.IpAddress, s.SubnetMask, s.Dhcp = ip, "255.0.0.0", false
		}
		n.Vnic[i].Spec.Mac = hostMAC(ref, 0x80+i)
	}
	// A host named by a DNS name reports it; others keep the template's
	// localhost.localdomain, as vcsim's hosts do.
	short, domain, fqdn := strings.Cut(name, ".")
	if dns, ok := n.DnsConfig.(*types.HostDnsConfig); ok && fqdn && net.ParseIP(name) == nil {
		dns.HostName, dns.DomainName = short, domain
	}
}

func (s *Service) enterMaintenanceMode(ctx *soap.Context, _ *types.EnterMaintenanceMode_Task) (any, error) {
	ref, err := s.startMaintenance(ctx, true)
	if err != nil {
		return nil, err
	}
	return &types.EnterMaintenanceMode_TaskResponse{Returnval: ref}, nil
}

func (s *Service) exitMaintenanceMode(ctx *soap.Context, _ *types.ExitMaintenanceMode_Task) (any, error) {
	ref, err := s.startMaintenance(ctx, false)
	if err != nil {
		return nil, err
	}
	return &types.ExitMaintenanceMode_TaskResponse{Returnval: ref}, nil
}

func (s *Service) startMaintenance(ctx *soap.Context, enter bool) (types.ManagedObjectReference, error) {
	host, user := ctx.This, ctx.UserName()
	desc := "HostSystem.exitMaintenanceMode"
	if enter {
		desc = "HostSystem.enterMaintenanceMode"
	}
	return s.tasks.Start(ctx, task.Spec{Entity: host, DescriptionID: desc, User: user},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			return nil, s.SetMaintenanceMode(tctx, user, host, enter, t.ChainID)
		})
}

// SetMaintenanceMode puts a host into maintenance mode or takes it out, as
// EnterMaintenanceMode_Task and ExitMaintenanceMode_Task do. A host enters
// only when none of its VMs is powered on (DRS evacuation comes with the
// clusters issue); entering twice is a no-op. Its cluster's effective
// resources follow. Faults: InvalidState (powered-on VMs; exit while not in
// maintenance mode), ManagedObjectNotFound.
func (s *Service) SetMaintenanceMode(ctx context.Context, user string, host types.ManagedObjectReference, enter bool, chain int32) error {
	changed := false
	var name string
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		h, err := lookupAs[mo.HostSystem](tx, host, "HostSystem")
		if err != nil {
			return err
		}
		name = h.Name
		if h.Runtime.InMaintenanceMode == enter {
			if enter {
				return nil
			}
			return vim.InvalidState("The host %s is not in maintenance mode.", h.Name)
		}
		if enter {
			if n := poweredOnVMs(tx, h.Vm); n > 0 {
				return vim.InvalidState("The host %s runs %d powered-on virtual machine(s); power them off or migrate them before entering maintenance mode.", h.Name, n)
			}
		}
		e := inventory.Edit[mo.HostSystem](tx, host)
		e.Runtime.InMaintenanceMode = enter
		syncHostSummary(e)
		if e.Parent != nil {
			refreshComputeTxn(tx, *e.Parent)
		}
		changed = true
		return nil
	})
	if err != nil || !changed {
		return err
	}
	dc := dcNameOf(datacenterOf(s.reg, host))
	if enter {
		s.postEvent(&types.EnteringMaintenanceModeEvent{}, user, chain, host, fmt.Sprintf("Host %s in %s has started to enter maintenance mode", name, dc))
		s.postEvent(&types.EnteredMaintenanceModeEvent{}, user, chain, host, fmt.Sprintf("Host %s in %s has entered maintenance mode", name, dc))
	} else {
		s.postEvent(&types.ExitMaintenanceModeEvent{}, user, chain, host, fmt.Sprintf("Host %s in %s has exited maintenance mode", name, dc))
	}
	return nil
}

// poweredOnVMs counts the powered-on VMs among vms.
func poweredOnVMs(r objReader, vms []types.ManagedObjectReference) int {
	n := 0
	for _, v := range vms {
		if vm, ok := r.Get(v).(*mo.VirtualMachine); ok && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			n++
		}
	}
	return n
}
