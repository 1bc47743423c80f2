package api

import (
	"slices"
	"strings"

	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// Every compute resource (cluster or standalone host's) has an
// EnvironmentBrowser ("envbrowser-domain-c7") describing what VMs on it may
// be: the hardware versions its hosts run, each version's guest operating
// systems and hardware limits, and the datastores and networks a VM can
// use. The browser lives in memory; attachEnvBrowserTxn creates it.

// envBrowserPrefix prefixes the compute resource's MoRef value.
const envBrowserPrefix = "envbrowser-"

// envBrowserRef returns the environment browser of compute resource cr.
func envBrowserRef(cr types.ManagedObjectReference) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "EnvironmentBrowser", Value: envBrowserPrefix + cr.Value}
}

func (s *Service) registerEnvironmentBrowser(t *soap.Table) {
	soap.Register(t, "EnvironmentBrowser", "QueryConfigOptionDescriptor", s.queryConfigOptionDescriptor)
	soap.Register(t, "EnvironmentBrowser", "QueryConfigOption", s.queryConfigOption)
	soap.Register(t, "EnvironmentBrowser", "QueryConfigOptionEx", s.queryConfigOptionEx)
	soap.Register(t, "EnvironmentBrowser", "QueryConfigTarget", s.queryConfigTarget)
	soap.Register(t, "EnvironmentBrowser", "QueryTargetCapabilities", s.queryTargetCapabilities)
}

// hwVersions are the ESXi virtual hardware versions, oldest first, with the
// release that introduced them.
var hwVersions = []struct{ key, desc string }{
	{"vmx-08", "ESXi 5.0 virtual machine"},
	{"vmx-09", "ESXi 5.1 virtual machine"},
	{"vmx-10", "ESXi 5.5 virtual machine"},
	{"vmx-11", "ESXi 6.0 virtual machine"},
	{"vmx-13", "ESXi 6.5 virtual machine"},
	{"vmx-14", "ESXi 6.7 virtual machine"},
	{"vmx-15", "ESXi 6.7 U2 virtual machine"},
	{"vmx-17", "ESXi 7.0 virtual machine"},
	{"vmx-18", "ESXi 7.0 U1 virtual machine"},
	{"vmx-19", "ESXi 7.0 U2 virtual machine"},
	{"vmx-20", "ESXi 8.0 virtual machine"},
	{"vmx-21", "ESXi 8.0 U2 virtual machine"},
}

// browserScope returns the compute resource of the called browser.
func (s *Service) browserScope(ctx *soap.Context) (*mo.ComputeResource, error) {
	cr := computeResource(s.reg.Lookup(strings.TrimPrefix(ctx.This.Value, envBrowserPrefix)))
	if cr == nil {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	return cr, nil
}

// browserHost returns host, when given. As vcsim (whose behaviour govc
// relies on: it passes $GOVC_HOST along with a VM's browser), a host outside
// the browser's compute resource is accepted and described.
func (s *Service) browserHost(host *types.ManagedObjectReference) (*mo.HostSystem, error) {
	if host == nil {
		return nil, nil
	}
	h, ok := s.reg.Get(*host).(*mo.HostSystem)
	if !ok {
		return nil, vim.ManagedObjectNotFound(*host)
	}
	return h, nil
}

func (s *Service) queryConfigOptionDescriptor(ctx *soap.Context, _ *types.QueryConfigOptionDescriptor) (any, error) {
	cr, err := s.browserScope(ctx)
	if err != nil {
		return nil, err
	}
	res := &types.QueryConfigOptionDescriptorResponse{}
	for _, v := range hwVersions {
		res.Returnval = append(res.Returnval, types.VirtualMachineConfigOptionDescriptor{
			Key: v.key, Description: v.desc, Host: slices.Clone(cr.Host),
			CreateSupported: types.NewBool(true), DefaultConfigOption: types.NewBool(v.key == defaultHWVersion),
			RunSupported: types.NewBool(true), UpgradeSupported: types.NewBool(true),
		})
	}
	return res, nil
}

func (s *Service) queryConfigOption(ctx *soap.Context, req *types.QueryConfigOption) (any, error) {
	opt, err := s.configOption(ctx, &types.EnvironmentBrowserConfigOptionQuerySpec{Key: req.Key, Host: req.Host})
	if err != nil {
		return nil, err
	}
	return &types.QueryConfigOptionResponse{Returnval: opt}, nil
}

func (s *Service) queryConfigOptionEx(ctx *soap.Context, req *types.QueryConfigOptionEx) (any, error) {
	opt, err := s.configOption(ctx, req.Spec)
	if err != nil {
		return nil, err
	}
	return &types.QueryConfigOptionExResponse{Returnval: opt}, nil
}

// configOption returns the VirtualMachineConfigOption of spec's hardware
// version (the default when empty), listing spec's guests (all of them
// when none of spec's guest IDs is known).
func (s *Service) configOption(ctx *soap.Context, spec *types.EnvironmentBrowserConfigOptionQuerySpec) (*types.VirtualMachineConfigOption, error) {
	if spec == nil {
		spec = &types.EnvironmentBrowserConfigOptionQuerySpec{}
	}
	if _, err := s.browserScope(ctx); err != nil {
		return nil, err
	}
	if _, err := s.browserHost(spec.Host); err != nil {
		return nil, err
	}
	key := spec.Key
	if key == "" {
		key = defaultHWVersion
	}
	i := slices.IndexFunc(hwVersions, func(v struct{ key, desc string }) bool { return v.key == key })
	if i < 0 {
		return nil, vim.InvalidArgument("key", "There is no hardware version %q; use one of vmx-08 to %s.", key, defaultHWVersion)
	}
	guests := guestDescriptors(spec.GuestId)
	if len(guests) == 0 {
		guests = guestDescriptors(nil)
	}
	return &types.VirtualMachineConfigOption{
		Version: key, Description: hwVersions[i].desc,
		GuestOSDescriptor: guests, GuestOSDefaultIndex: 0,
		HardwareOptions: hardwareOption(key),
		Capabilities:    defaultCapability(),
		Datastore: types.DatastoreOption{UnsupportedVolumes: []types.VirtualMachineDatastoreVolumeOption{
			{FileSystemType: "VFAT"}, {FileSystemType: "VMFSL"}}},
		DefaultDevice:                    defaultDevices(),
		SupportedMonitorType:             []string{"release", "debug", "stats"},
		SupportedOvfEnvironmentTransport: []string{"com.vmware.guestInfo", "iso"},
		SupportedOvfInstallTransport:     []string{"com.vmware.guestInfo"},
	}, nil
}

// guestDescriptors describes the guest IDs in ids (every known one for
// nil), skipping unknown IDs.
func guestDescriptors(ids []string) []types.GuestOsDescriptor {
	all := types.VirtualMachineGuestOsIdentifier("").Strings()
	if ids == nil {
		ids = all
	}
	yes := types.NewBool(true)
	var out []types.GuestOsDescriptor
	for _, id := range ids {
		if !slices.Contains(all, id) {
			continue
		}
		fw := string(types.GuestOsDescriptorFirmwareTypeBios)
		if strings.Contains(id, "64") {
			fw = string(types.GuestOsDescriptorFirmwareTypeEfi)
		}
		out = append(out, types.GuestOsDescriptor{
			Id: id, Family: guestFamily(id), FullName: guestFullName(id),
			SupportedMaxCPUs: 768, NumSupportedPhysicalSockets: 128, NumSupportedCoresPerSocket: 64,
			SupportedMinMemMB: 4, SupportedMaxMemMB: 24 << 20, RecommendedMemMB: 2048, RecommendedColorDepth: 24,
			SupportedDiskControllerList: []string{"VirtualLsiLogicController", "ParaVirtualSCSIController", "VirtualAHCIController", "VirtualNVMEController"},
			RecommendedSCSIController:   "ParaVirtualSCSIController", RecommendedDiskController: "ParaVirtualSCSIController",
			SupportedNumDisks: 256, RecommendedDiskSizeMB: 16 << 10, RecommendedCdromController: "VirtualAHCIController",
			SupportedEthernetCard: []string{"VirtualE1000", "VirtualE1000e", "VirtualVmxnet3"}, RecommendedEthernetCard: "VirtualVmxnet3",
			SupportsWakeOnLan: true, SupportsMemoryHotAdd: yes, SupportsCpuHotAdd: yes, SupportsCpuHotRemove: yes,
			SupportedFirmware:   []string{string(types.GuestOsDescriptorFirmwareTypeBios), string(types.GuestOsDescriptorFirmwareTypeEfi)},
			RecommendedFirmware: fw, SupportsHotPlugPCI: yes, Supports3D: yes, SupportsPvscsiControllerForBoot: yes,
			UsbRecommended: yes, SupportedForCreate: yes, SupportLevel: string(types.GuestOsDescriptorSupportLevelSupported),
			DiskUuidEnabled: yes, SupportsSecureBoot: types.NewBool(fw == "efi"),
		})
	}
	return out
}

// hardwareOption returns the hardware limits of hardware version key.
func hardwareOption(key string) types.VirtualHardwareOption {
	var cpus []int32
	for n := int32(1); n <= 128; n++ {
		cpus = append(cpus, n)
	}
	intOpt := func(lo, hi, def int32) types.IntOption {
		return types.IntOption{Min: lo, Max: hi, DefaultValue: def}
	}
	cores, usb3 := intOpt(1, 64, 1), intOpt(0, 1, 0)
	return types.VirtualHardwareOption{
		HwVersion:             hwVersionNumber(key),
		VirtualDeviceOption:   []types.BaseVirtualDeviceOption{},
		DeviceListReadonly:    false,
		NumCPU:                cpus,
		NumCoresPerSocket:     &cores,
		NumCpuReadonly:        false,
		MemoryMB:              types.LongOption{Min: 4, Max: 24 << 20, DefaultValue: 2048},
		NumPCIControllers:     intOpt(1, 1, 1),
		NumIDEControllers:     intOpt(2, 2, 2),
		NumUSBControllers:     intOpt(0, 1, 0),
		NumUSBXHCIControllers: &usb3,
		NumSIOControllers:     intOpt(1, 1, 1),
		NumPS2Controllers:     intOpt(1, 1, 1),
		NumSupportedWwnPorts:  &types.IntOption{Min: 1, Max: 16, DefaultValue: 4},
		NumSupportedWwnNodes:  &types.IntOption{Min: 1, Max: 1, DefaultValue: 1},
		ResourceConfigOption: &types.ResourceConfigOption{
			CpuAllocationOption: types.ResourceAllocationOption{SharesOption: types.SharesOption{
				SharesOption: intOpt(0, 1<<20, 1000), DefaultLevel: types.SharesLevelNormal}},
			MemoryAllocationOption: types.ResourceAllocationOption{SharesOption: types.SharesOption{
				SharesOption: intOpt(0, 1<<20, 20480), DefaultLevel: types.SharesLevelNormal}},
		},
	}
}

// hwVersionNumber is 21 for "vmx-21".
func hwVersionNumber(key string) int32 {
	var n int32
	for _, c := range strings.TrimPrefix(key, "vmx-") {
		n = n*10 + int32(c-'0')
	}
	return n
}

func (s *Service) queryConfigTarget(ctx *soap.Context, req *types.QueryConfigTarget) (any, error) {
	cr, err := s.browserScope(ctx)
	if err != nil {
		return nil, err
	}
	h, err := s.browserHost(req.Host)
	if err != nil {
		return nil, err
	}
	hosts := cr.Host
	if h != nil {
		hosts = []types.ManagedObjectReference{h.Self}
	}
	return &types.QueryConfigTargetResponse{Returnval: s.configTarget(hosts)}, nil
}

// configTarget describes what VMs on hosts can use: their CPUs and the
// datastores and standard networks they share (the union over hosts).
func (s *Service) configTarget(hosts []types.ManagedObjectReference) *types.ConfigTarget {
	t := &types.ConfigTarget{SmcPresent: types.NewBool(false), NumNumaNodes: 1}
	var dss, nets []types.ManagedObjectReference
	for _, r := range hosts {
		h, ok := s.reg.Get(r).(*mo.HostSystem)
		if !ok {
			continue
		}
		if h.Hardware != nil {
			t.NumCpus = max(t.NumCpus, int32(h.Hardware.CpuInfo.NumCpuThreads))
			t.NumCpuCores = max(t.NumCpuCores, int32(h.Hardware.CpuInfo.NumCpuCores))
			t.MaxMemMBOptimalPerf = max(t.MaxMemMBOptimalPerf, int32(h.Hardware.MemorySize>>20))
		}
		for _, d := range h.Datastore {
			appendRef(&dss, d)
		}
		for _, n := range h.Network {
			appendRef(&nets, n)
		}
	}
	t.MaxCpusPerHost = t.NumCpus
	for _, r := range dss {
		if ds, ok := s.reg.Get(r).(*mo.Datastore); ok {
			t.Datastore = append(t.Datastore, types.VirtualMachineDatastoreInfo{
				VirtualMachineTargetInfo: types.VirtualMachineTargetInfo{Name: ds.Name, ConfigurationTag: []string{"when configured"}},
				Datastore:                ds.Summary, Capability: ds.Capability,
				MaxFileSize: 62 << 40, MaxVirtualDiskCapacity: 62 << 40, MaxPhysicalRDMFileSize: 64 << 40,
				MaxVirtualRDMFileSize: 62 << 40, Mode: string(types.HostMountModeReadWrite),
			})
		}
	}
	for _, r := range nets {
		if n, ok := s.reg.Get(r).(*mo.Network); ok && r.Type == "Network" && n.Summary != nil {
			t.Network = append(t.Network, types.VirtualMachineNetworkInfo{
				VirtualMachineTargetInfo: types.VirtualMachineTargetInfo{Name: n.Name, ConfigurationTag: []string{"when configured"}},
				Network:                  n.Summary,
			})
		}
	}
	return t
}

func (s *Service) queryTargetCapabilities(ctx *soap.Context, req *types.QueryTargetCapabilities) (any, error) {
	if _, err := s.browserScope(ctx); err != nil {
		return nil, err
	}
	h, err := s.browserHost(req.Host)
	if err != nil {
		return nil, err
	}
	capability := vim.DeepCopy(esx.HostCapability)
	if h != nil && h.Capability != nil {
		capability = vim.DeepCopy(h.Capability)
	}
	return &types.QueryTargetCapabilitiesResponse{Returnval: capability}, nil
}
