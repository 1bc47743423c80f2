package inventory

import "github.com/vmware/govmomi/vim25/mo"

// restoreShadowedNames fixes what JSON loses for mo.Network and its subtypes:
// their own Name field has the same JSON name as ManagedEntity.Name and
// shadows it, so only Network.Name is stored. Both hold the entity's name.
func restoreShadowedNames(obj mo.Reference) {
	var n *mo.Network
	switch o := obj.(type) {
	case *mo.Network:
		n = o
	case *mo.OpaqueNetwork:
		n = &o.Network
	case *mo.DistributedVirtualPortgroup:
		n = &o.Network
	}
	if n != nil && n.ManagedEntity.Name == "" {
		n.ManagedEntity.Name = n.Name
	}
}
