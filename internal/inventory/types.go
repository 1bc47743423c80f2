package inventory

import (
	"reflect"
	"sync"

	"github.com/vireo-project/vireo/internal/vim"
)

// prefixes are vCenter's MoRef value prefixes by managed object type.
var prefixes = map[string]string{
	"Folder":                         "group-",
	"Datacenter":                     "datacenter-",
	"ClusterComputeResource":         "domain-c",
	"ComputeResource":                "domain-s",
	"HostSystem":                     "host-",
	"ResourcePool":                   "resgroup-",
	"VirtualApp":                     "resgroup-v",
	"VirtualMachine":                 "vm-",
	"Datastore":                      "datastore-",
	"StoragePod":                     "group-p",
	"Network":                        "network-",
	"OpaqueNetwork":                  "network-o",
	"DistributedVirtualPortgroup":    "dvportgroup-",
	"VmwareDistributedVirtualSwitch": "dvs-",
	"DistributedVirtualSwitch":       "dvs-",
	"Task":                           "task-",
	"ContainerView":                  "session[view]",
	"ListView":                       "session[listview]",
	"PropertyFilter":                 "session[filter]",
	"PropertyCollector":              "session[pc]",
	"EventHistoryCollector":          "session[events]",
	"TaskHistoryCollector":           "session[tasks]",
	"VirtualMachineSnapshot":         "snapshot-",
	"Alarm":                          "alarm-",
}

// Prefix returns the MoRef value prefix for objects of type typ.
func Prefix(typ string) string {
	if p, ok := prefixes[typ]; ok {
		return p
	}
	return typ + "-"
}

// supertypes maps a managed object type to its parent in the vim25 type
// hierarchy (only the types whose methods are shared need an entry).
var supertypes = map[string]string{
	"ClusterComputeResource":         "ComputeResource",
	"ComputeResource":                "ManagedEntity",
	"Datacenter":                     "ManagedEntity",
	"Datastore":                      "ManagedEntity",
	"Folder":                         "ManagedEntity",
	"HostSystem":                     "ManagedEntity",
	"Network":                        "ManagedEntity",
	"OpaqueNetwork":                  "Network",
	"DistributedVirtualPortgroup":    "Network",
	"DistributedVirtualSwitch":       "ManagedEntity",
	"VmwareDistributedVirtualSwitch": "DistributedVirtualSwitch",
	"ResourcePool":                   "ManagedEntity",
	"VirtualApp":                     "ResourcePool",
	"StoragePod":                     "Folder",
	"VirtualMachine":                 "ManagedEntity",
	"ManagedEntity":                  "ExtensibleManagedObject",
	"ContainerView":                  "ManagedObjectView",
	"ListView":                       "ManagedObjectView",
	"InventoryView":                  "ManagedObjectView",
	"ManagedObjectView":              "View",
	"EventHistoryCollector":          "HistoryCollector",
	"TaskHistoryCollector":           "HistoryCollector",
}

// Supertype returns the parent type of typ in the vim25 hierarchy, or "".
// Types missing from the table are looked up in govmomi's mo structs, where
// a subtype embeds its parent as its first field.
func Supertype(typ string) string {
	if s, ok := supertypes[typ]; ok {
		return s
	}
	if s, ok := reflected.Load(typ); ok {
		return s.(string)
	}
	s := ""
	if t, ok := vim.ManagedType(typ); ok && t.NumField() > 0 {
		if f := t.Field(0); f.Anonymous && f.Type.Kind() == reflect.Struct {
			if _, ok := vim.ManagedType(f.Type.Name()); ok {
				s = f.Type.Name()
			}
		}
	}
	reflected.Store(typ, s)
	return s
}

// reflected caches Supertype's answers for types missing from supertypes.
var reflected sync.Map // string -> string

// IsA reports whether objects of type typ are also of type want: typ equals
// want or want is one of its supertypes.
func IsA(typ, want string) bool {
	for t := typ; t != ""; t = Supertype(t) {
		if t == want {
			return true
		}
	}
	return false
}
