// Package model builds the inventory govmomi's vcsim builds for the same
// command-line flags: the same object names (DC0, DC0_C0, DC0_C0_H0,
// DC0_H0_VM0, LocalDS_0, VM Network, DVS0, DC0_DVPG0, ...), the same
// parents, the same host mounts and VM power states, so that scripts and
// test suites written against vcsim run unchanged against `vireo sim`.
//
// Objects are created through the API service's builder methods, as the
// SOAP handlers create them, so every object carries the same defaults as
// one a client creates and is durable when Build returns.
package model

// Model is the shape of a vcsim inventory. Each count names the vcsim flag
// that sets it; names are a per-type prefix and an index, joined to their
// ancestors' names with '_' so they are unique.
type Model struct {
	// Datacenter is the number of datacenters, DC0.. (-dc).
	Datacenter int
	// Folder is the number of datacenters placed in a folder F0.. of the
	// root folder, with their host, vm, network and datastore objects in a
	// sub-folder of the same name; the last datacenters get them (-folder).
	Folder int
	// Cluster is the number of clusters per datacenter, DC0_C0.. (-cluster).
	Cluster int
	// ClusterHost is the number of hosts per cluster, DC0_C0_H0.. (-host).
	ClusterHost int
	// Host is the number of standalone hosts per datacenter, DC0_H0..
	// (-standalone-host).
	Host int
	// Datastore is the number of local datastores, LocalDS_0.., that every
	// host of a datacenter mounts (-ds).
	Datastore int
	// Machine is the number of VMs per resource pool: DC0_H0_VM0 on
	// standalone hosts, DC0_C0_RP0_VM0 in a cluster's root pool, or
	// DC0_C0_RP1_VM0.. in its child pools when Pool > 0 (-vm).
	Machine int
	// Pool is the number of child resource pools per cluster, DC0_C0_RP1..
	// (-pool). The root pool "Resources" is RP0 in VM names.
	Pool int
	// App is the number of vApps per cluster, DC0_C0_APP0.. (-app).
	App int
	// Pod is the number of (empty) storage pods per datacenter, DC0_POD0..,
	// in its datastore folder (-pod).
	Pod int
	// Portgroup is the number of distributed port groups per datacenter,
	// DC0_DVPG0.., on a switch DVS0; VMs connect to the first (-pg).
	Portgroup int
	// PortgroupNSX is the number of NSX-backed distributed port groups per
	// datacenter, DC0_NSXPG0.. (-pg-nsx).
	PortgroupNSX int
	// OpaqueNetwork is the number of NSX opaque networks per datacenter,
	// DC0_NSX0.. (-nsx).
	OpaqueNetwork int
	// Autostart powers on the VMs the model creates (-autostart).
	Autostart bool
	// ESX builds a standalone ESX host's inventory (ha-datacenter, one host
	// and its VMs ha-host_VM0..) instead of a vCenter's (-esx); only
	// Datastore, Machine and Autostart apply then.
	ESX bool
}

// VPX returns vcsim's default vCenter model: one datacenter with one
// cluster of three hosts, one standalone host, one datastore, one
// distributed port group and two powered-on VMs per resource pool.
func VPX() Model {
	return Model{
		Datacenter:  1,
		Cluster:     1,
		ClusterHost: 3,
		Host:        1,
		Datastore:   1,
		Machine:     2,
		Portgroup:   1,
		Autostart:   true,
	}
}

// ESX returns vcsim's default ESX model (-esx): one datastore and two
// powered-on VMs.
func ESX() Model {
	return Model{Datastore: 1, Machine: 2, Autostart: true, ESX: true}
}
