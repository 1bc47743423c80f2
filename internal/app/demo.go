package app

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
)

// Names of the demo inventory.
const (
	demoDatacenter = "Datacenter"
	demoCluster    = "Cluster"
	demoNetwork    = "VM Network"
	demoSharedDS   = "shared-ds"
	demoHosts      = 3
	demoVMs        = 4
	demoVMsOn      = 2
)

// BuildDemo fills a new server's inventory with the demo datacenter: a
// cluster "Cluster" (DRS and HA on) of three simulated hosts
// esx-01.vireo.local..esx-03.vireo.local, each with a local datastore
// (esx-01-local, ...) and the shared datastore "shared-ds", on the network
// "VM Network", and four VMs vm-01..vm-04 on shared-ds, the first two
// powered on. It runs as the administrator and is meant for an empty
// inventory (first start).
func BuildDemo(ctx context.Context, s *Server) error {
	svc, user := s.Service(), s.cfg.AdminUser
	dc, err := svc.CreateDatacenter(ctx, user, svc.Content().RootFolder, demoDatacenter)
	if err != nil {
		return fmt.Errorf("demo: datacenter: %w", err)
	}
	d, ok := svc.Registry().Get(dc).(*mo.Datacenter)
	if !ok {
		return fmt.Errorf("demo: datacenter %s vanished", dc.Value)
	}
	on := types.NewBool(true)
	cluster, err := svc.CreateCluster(ctx, user, d.HostFolder, demoCluster, types.ClusterConfigSpecEx{
		DrsConfig: &types.ClusterDrsConfigInfo{Enabled: on},
		DasConfig: &types.ClusterDasConfigInfo{Enabled: on},
	})
	if err != nil {
		return fmt.Errorf("demo: cluster: %w", err)
	}
	if _, err := svc.CreateNetwork(ctx, user, dc, demoNetwork); err != nil {
		return fmt.Errorf("demo: network: %w", err)
	}
	for i := 1; i <= demoHosts; i++ {
		name := fmt.Sprintf("esx-%02d", i)
		_, err := svc.AddHost(ctx, user, cluster, api.HostSpec{
			Name: name + ".vireo.local",
			Datastores: []api.DatastoreSpec{
				{Name: name + "-local"},
				{Name: demoSharedDS, Shared: true},
			},
			Networks: []string{demoNetwork},
		})
		if err != nil {
			return fmt.Errorf("demo: host %s: %w", name, err)
		}
	}
	c, ok := svc.Registry().Get(cluster).(*mo.ClusterComputeResource)
	if !ok || c.ResourcePool == nil {
		return fmt.Errorf("demo: cluster %s has no resource pool", cluster.Value)
	}
	for i := 1; i <= demoVMs; i++ {
		name := fmt.Sprintf("vm-%02d", i)
		spec, err := demoVMSpec(name)
		if err != nil {
			return fmt.Errorf("demo: VM %s: %w", name, err)
		}
		vm, err := svc.CreateVM(ctx, user, d.VmFolder, *c.ResourcePool, nil, spec)
		if err != nil {
			return fmt.Errorf("demo: VM %s: %w", name, err)
		}
		if i <= demoVMsOn {
			if err := svc.PowerOnVM(ctx, user, vm); err != nil {
				return fmt.Errorf("demo: power on VM %s: %w", name, err)
			}
		}
	}
	return nil
}

// demoVMSpec is a small Linux VM on the shared datastore: 1 vCPU, 1 GB of
// memory, a 1 GB thin disk on a paravirtual SCSI controller and a VMXNET3
// NIC on VM Network.
func demoVMSpec(name string) (types.VirtualMachineConfigSpec, error) {
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return types.VirtualMachineConfigSpec{}, err
	}
	devices = append(devices, scsi)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
		fmt.Sprintf("[%s] %s/%s.vmdk", demoSharedDS, name, name))
	disk.CapacityInKB = 1 << 20
	devices = append(devices, disk)
	nic, err := devices.CreateEthernetCard("vmxnet3", &types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: demoNetwork},
	})
	if err != nil {
		return types.VirtualMachineConfigSpec{}, err
	}
	devices = append(devices, nic)
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return types.VirtualMachineConfigSpec{}, err
	}
	return types.VirtualMachineConfigSpec{
		Name:         name,
		GuestId:      string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
		NumCPUs:      1,
		MemoryMB:     1024,
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[" + demoSharedDS + "]"},
		DeviceChange: changes,
	}, nil
}
