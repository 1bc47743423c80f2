package model

import (
	"context"
	"fmt"
	"path"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/units"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
)

// User is the user name the model's objects are created by (in their
// events and tasks).
const User = "vireo-sim"

// Unsupported lists the parts of m that Build does not create yet, one
// phrase each, so that callers can say so; it is empty when Build builds
// all of m.
func (m Model) Unsupported() []string {
	var out []string
	if m.App > 0 {
		out = append(out, "-app (vApps)")
	}
	if m.OpaqueNetwork > 0 {
		out = append(out, "-nsx (opaque networks)")
	}
	return out
}

// Build creates m's inventory in svc, which should hold nothing but its root
// folder. It creates objects in vcsim's order, so that names, parents and
// placement match vcsim's for the same flags. Parts listed by Unsupported
// are skipped.
func Build(ctx context.Context, svc *api.Service, m Model) error {
	b := &builder{svc: svc, m: m, root: svc.Content().RootFolder}
	if m.ESX {
		return b.esx(ctx)
	}
	nfolder := 0
	for ndc := range m.Datacenter {
		inFolder := nfolder < m.Folder && ndc >= m.Datacenter-m.Folder
		if err := b.datacenter(ctx, ndc, inFolder, name("F", nfolder)); err != nil {
			return err
		}
		if inFolder {
			nfolder++
		}
	}
	if err := b.machines(ctx); err != nil {
		return err
	}
	return b.customizationSpecs(ctx) // customization.go
}

// builder carries a Build in progress.
type builder struct {
	svc  *api.Service
	m    Model
	root types.ManagedObjectReference
	// vms are the VMs to create once every datacenter has its hosts and
	// datastores, as vcsim creates them last.
	vms []vmPlan
}

// vmPlan is a group of VMs to create: prefix_VM0.. in pool on host (nil:
// the VM placement chooses) with their NIC on nic.
type vmPlan struct {
	prefix string
	folder types.ManagedObjectReference
	pool   types.ManagedObjectReference
	host   *types.ManagedObjectReference
	nic    types.BaseVirtualDeviceBackingInfo
}

// dcFolders are the folders a datacenter's objects go in.
type dcFolders struct {
	dc                                       types.ManagedObjectReference
	vm, host, datastore, network             types.ManagedObjectReference
	topVM, topHost, topDatastore, topNetwork types.ManagedObjectReference
}

func name(prefix string, n int) string { return fmt.Sprintf("%s%d", prefix, n) }

// datacenter builds datacenter DC<ndc>; inFolder puts it, and its objects,
// in folders named fName.
func (b *builder) datacenter(ctx context.Context, ndc int, inFolder bool, fName string) error {
	svc, m := b.svc, b.m
	dcName := name("DC", ndc)
	parent := b.root
	var err error
	if inFolder {
		if parent, err = svc.CreateFolder(ctx, User, b.root, fName); err != nil {
			return err
		}
	}
	dcRef, err := svc.CreateDatacenter(ctx, User, parent, dcName)
	if err != nil {
		return err
	}
	f := b.folders(dcRef)
	for npod := range m.Pod {
		pod, err := svc.CreateStoragePod(ctx, User, f.datastore, name(dcName+"_POD", npod))
		if err != nil {
			return err
		}
		// vcsim's pods have Storage DRS on, ready for initial placement.
		on := types.StorageDrsConfigSpec{PodConfigSpec: &types.StorageDrsPodConfigSpec{Enabled: types.NewBool(true)}}
		if err := svc.ConfigureStorageDrsForPod(ctx, pod, on, true); err != nil {
			return err
		}
	}
	if inFolder {
		for _, sub := range []*types.ManagedObjectReference{&f.datastore, &f.host, &f.network, &f.vm} {
			if *sub, err = svc.CreateFolder(ctx, User, *sub, fName); err != nil {
				return err
			}
		}
	}
	if _, err := svc.CreateNetwork(ctx, User, dcRef, "VM Network"); err != nil {
		return err
	}
	nic, dvs, err := b.network(ctx, f, dcName)
	if err != nil {
		return err
	}

	datastores := make([]api.DatastoreSpec, m.Datastore)
	for i := range datastores {
		datastores[i] = api.DatastoreSpec{Name: name("LocalDS_", i), Shared: true}
	}
	var hosts []types.ManagedObjectReference
	addHost := func(parent types.ManagedObjectReference, hostName string) (types.ManagedObjectReference, error) {
		ref, err := svc.AddHost(ctx, User, parent, api.HostSpec{Name: hostName, Datastores: datastores, Networks: []string{"VM Network"}})
		if err != nil {
			return ref, err
		}
		hosts = append(hosts, ref)
		return ref, nil
	}
	for nhost := range m.Host {
		hostName := name(dcName+"_H", nhost)
		host, err := addHost(f.host, hostName)
		if err != nil {
			return err
		}
		pool := b.rootPool(host)
		b.vms = append(b.vms, vmPlan{prefix: hostName, folder: f.vm, pool: pool, host: &host, nic: nic})
	}
	for ncluster := range m.Cluster {
		clusterName := name(dcName+"_C", ncluster)
		cluster, err := svc.CreateCluster(ctx, User, f.host, clusterName, types.ClusterConfigSpecEx{})
		if err != nil {
			return err
		}
		for nhost := range m.ClusterHost {
			if _, err := addHost(cluster, name(clusterName+"_H", nhost)); err != nil {
				return err
			}
		}
		rootPool := b.clusterPool(cluster)
		if m.Pool == 0 {
			b.vms = append(b.vms, vmPlan{prefix: clusterName + "_RP0", folder: f.vm, pool: rootPool, nic: nic})
		}
		for npool := 1; npool <= m.Pool; npool++ {
			poolName := name(clusterName+"_RP", npool)
			pool, err := svc.CreateResourcePool(ctx, User, rootPool, poolName, types.DefaultResourceConfigSpec())
			if err != nil {
				return err
			}
			b.vms = append(b.vms, vmPlan{prefix: poolName, folder: f.vm, pool: pool, nic: nic})
		}
	}
	if dvs.Value != "" && len(hosts) > 0 {
		spec := &types.VMwareDVSConfigSpec{}
		for _, h := range hosts {
			spec.Host = append(spec.Host, types.DistributedVirtualSwitchHostMemberConfigSpec{
				Operation: string(types.ConfigSpecOperationAdd), Host: h,
			})
		}
		if err := svc.ReconfigureDVS(ctx, User, dvs, spec); err != nil {
			return err
		}
	}
	if f.datastore != f.topDatastore {
		if dss := b.datastores(dcRef); len(dss) > 0 {
			if err := svc.MoveIntoFolder(ctx, User, f.datastore, dss); err != nil {
				return err
			}
		}
	}
	return nil
}

// network creates the datacenter's distributed switch DVS0 and its port
// groups when the model has any, and returns the backing of the VMs' NIC
// (the first port group, else "VM Network") and the switch.
func (b *builder) network(ctx context.Context, f dcFolders, dcName string) (types.BaseVirtualDeviceBackingInfo, types.ManagedObjectReference, error) {
	m := b.m
	nic := types.BaseVirtualDeviceBackingInfo(&types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
	})
	var dvs types.ManagedObjectReference
	if m.Portgroup == 0 && m.PortgroupNSX == 0 {
		return nic, dvs, nil
	}
	dvs, err := b.svc.CreateDVS(ctx, User, f.network, types.DVSCreateSpec{
		ConfigSpec: &types.VMwareDVSConfigSpec{DVSConfigSpec: types.DVSConfigSpec{Name: "DVS0"}},
	})
	if err != nil {
		return nil, dvs, err
	}
	var specs []types.DVPortgroupConfigSpec
	for i := range m.Portgroup {
		specs = append(specs, types.DVPortgroupConfigSpec{
			Name: name(dcName+"_DVPG", i), Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding), NumPorts: 1,
		})
	}
	for i := range m.PortgroupNSX {
		specs = append(specs, types.DVPortgroupConfigSpec{
			Name: name(dcName+"_NSXPG", i), Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding),
			BackingType: string(types.DistributedVirtualPortgroupBackingTypeNsx),
		})
	}
	pgs, err := b.svc.AddDVPortgroups(ctx, User, dvs, specs)
	if err != nil {
		return nil, dvs, err
	}
	if m.Portgroup > 0 {
		sw := inventory.Get[mo.VmwareDistributedVirtualSwitch](b.svc.Registry(), dvs)
		nic = &types.VirtualEthernetCardDistributedVirtualPortBackingInfo{
			Port: types.DistributedVirtualSwitchPortConnection{SwitchUuid: sw.Uuid, PortgroupKey: pgs[0].Value},
		}
	}
	return nic, dvs, nil
}

// machines creates the planned VMs, powering them on with Autostart.
func (b *builder) machines(ctx context.Context) error {
	for _, p := range b.vms {
		for i := range b.m.Machine {
			if err := b.machine(ctx, p, name(p.prefix+"_VM", i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// machine creates one VM as vcsim's model does: guest otherGuest, 32 MB
// and one CPU (the defaults), a PVSCSI controller with a 10 GB disk, a CD-ROM
// on IDE and an E1000 NIC, with its files on LocalDS_0.
func (b *builder) machine(ctx context.Context, p vmPlan, vmName string) error {
	dsPath := "[LocalDS_0]"
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	// The CD-ROM goes on the first IDE controller every new VM has.
	cdrom, err := devices.CreateCdrom(&types.VirtualIDEController{VirtualController: types.VirtualController{
		VirtualDevice: types.VirtualDevice{Key: firstIDEControllerKey},
	}})
	if err != nil {
		return err
	}
	devices = append(devices, cdrom)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
		dsPath+" "+path.Join(vmName, "disk1.vmdk"))
	disk.CapacityInKB = int64(10*units.GB) / units.KB
	devices = append(devices, disk)
	nic, err := devices.CreateEthernetCard("e1000", p.nic)
	if err != nil {
		return err
	}
	devices = append(devices, nic)
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return err
	}
	spec := types.VirtualMachineConfigSpec{
		Name:         vmName,
		GuestId:      string(types.VirtualMachineGuestOsIdentifierOtherGuest),
		Files:        &types.VirtualMachineFileInfo{VmPathName: dsPath},
		DeviceChange: changes,
	}
	ref, err := b.svc.CreateVM(ctx, User, p.folder, p.pool, p.host, spec)
	if err != nil {
		return fmt.Errorf("model: create VM %s: %w", vmName, err)
	}
	if b.m.Autostart {
		if err := b.svc.PowerOnVM(ctx, User, ref); err != nil {
			return fmt.Errorf("model: power on VM %s: %w", vmName, err)
		}
	}
	return nil
}

// folders returns the four folders of datacenter dc.
func (b *builder) folders(dc types.ManagedObjectReference) dcFolders {
	d := inventory.Get[mo.Datacenter](b.svc.Registry(), dc)
	return dcFolders{
		dc: dc, vm: d.VmFolder, host: d.HostFolder, datastore: d.DatastoreFolder, network: d.NetworkFolder,
		topVM: d.VmFolder, topHost: d.HostFolder, topDatastore: d.DatastoreFolder, topNetwork: d.NetworkFolder,
	}
}

// datastores returns the datastores of datacenter dc.
func (b *builder) datastores(dc types.ManagedObjectReference) []types.ManagedObjectReference {
	return inventory.Get[mo.Datacenter](b.svc.Registry(), dc).Datastore
}

// rootPool returns the root resource pool of a standalone host's compute
// resource.
func (b *builder) rootPool(host types.ManagedObjectReference) types.ManagedObjectReference {
	reg := b.svc.Registry()
	h := inventory.Get[mo.HostSystem](reg, host)
	cr := inventory.Get[mo.ComputeResource](reg, *h.Parent)
	return *cr.ResourcePool
}

// clusterPool returns a cluster's root resource pool.
func (b *builder) clusterPool(cluster types.ManagedObjectReference) types.ManagedObjectReference {
	return *inventory.Get[mo.ClusterComputeResource](b.svc.Registry(), cluster).ResourcePool
}

// esx builds vcsim's -esx inventory: the datacenter ha-datacenter with one
// host and its VMs ha-host_VM0.. on "VM Network".
func (b *builder) esx(ctx context.Context) error {
	svc, m := b.svc, b.m
	dcRef, err := svc.CreateDatacenter(ctx, User, b.root, "ha-datacenter")
	if err != nil {
		return err
	}
	f := b.folders(dcRef)
	datastores := make([]api.DatastoreSpec, m.Datastore)
	for i := range datastores {
		datastores[i] = api.DatastoreSpec{Name: name("LocalDS_", i)}
	}
	host, err := svc.AddHost(ctx, User, f.host, api.HostSpec{Name: ESXHostName, Datastores: datastores, Networks: []string{"VM Network"}})
	if err != nil {
		return err
	}
	nic := &types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
	}
	b.vms = append(b.vms, vmPlan{prefix: "ha-host", folder: f.vm, pool: b.rootPool(host), host: &host, nic: nic})
	return b.machines(ctx)
}

// firstIDEControllerKey is the key of IDE controller 0 of a new VM.
const firstIDEControllerKey = 200

// ESXHostName is the name of the host of the -esx model, as vcsim names it.
const ESXHostName = "localhost.localdomain"
