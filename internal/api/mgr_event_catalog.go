package api

import (
	"reflect"
	"sync"

	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/types"
)

// extraEventInfo completes the captured esx.EventInfo catalog with the
// events a vCenter server posts for the operations Vireo serves, in the
// same template syntax.
var extraEventInfo = []types.EventDescriptionEventDetail{
	{Key: "TaskEvent", Description: "Task event", Category: "info", FullFormat: "Task: {{.Info.DescriptionId}}"},
	{Key: "GeneralUserEvent", Description: "User entered event", Category: "user", FullFormat: "User logged event: {{.Message}}"},
	{Key: "GeneralEvent", Description: "General event", Category: "info", FullFormat: "General event: {{.Message}}"},
	{Key: "GeneralWarningEvent", Description: "Warning event", Category: "warning", FullFormat: "Warning event: {{.Message}}"},
	{Key: "GeneralErrorEvent", Description: "Error event", Category: "error", FullFormat: "Error event: {{.Message}}"},
	{Key: "BadUsernameSessionEvent", Description: "Invalid user name", Category: "error", FullFormat: "Cannot login {{.UserName}}@{{.IpAddress}}"},
	{Key: "SessionTerminatedEvent", Description: "Session stopped", Category: "info", FullFormat: "A session for user '{{.TerminatedUsername}}' has stopped"},
	{Key: "ServerStartedSessionEvent", Description: "Server started session", Category: "info", FullFormat: "vCenter started"},
	{Key: "CustomFieldDefAddedEvent", Description: "Custom field definition added", Category: "info", FullFormat: "Created new custom field definition {{.Name}}"},
	{Key: "CustomFieldDefRemovedEvent", Description: "Custom field definition removed", Category: "info", FullFormat: "Removed field definition {{.Name}}"},
	{Key: "CustomFieldDefRenamedEvent", Description: "Custom field definition renamed", Category: "info", FullFormat: "Renamed field {{.Name}} to {{.NewName}}"},
	{Key: "CustomFieldValueChangedEvent", Description: "Custom field value changed", Category: "info",
		FullFormat: "Changed custom field {{.Name}} on {{.Entity.Name}} in {{.Datacenter.Name}} to {{.Value}}"},
	{Key: "DatacenterRenamedEvent", Description: "Datacenter renamed", Category: "info", FullFormat: "Renamed datacenter from {{.OldName}} to {{.NewName}}"},
	{Key: "ClusterCreatedEvent", Description: "Cluster created", Category: "info", FullFormat: "Created cluster {{.ComputeResource.Name}} in {{.Datacenter.Name}}"},
	{Key: "ClusterDestroyedEvent", Description: "Cluster deleted", Category: "info", FullFormat: "Removed cluster {{.ComputeResource.Name}} in datacenter {{.Datacenter.Name}}"},
	{Key: "ClusterReconfiguredEvent", Description: "Cluster reconfigured", Category: "info", FullFormat: "Reconfigured cluster {{.ComputeResource.Name}} in datacenter {{.Datacenter.Name}}"},
	{Key: "ResourcePoolCreatedEvent", Description: "Resource pool created", Category: "info",
		FullFormat: "Created resource pool {{.ResourcePool.Name}} in compute-resource {{.ComputeResource.Name}} in {{.Datacenter.Name}}"},
	{Key: "ResourcePoolDestroyedEvent", Description: "Resource pool deleted", Category: "info",
		FullFormat: "Removed resource pool {{.ResourcePool.Name}} on {{.ComputeResource.Name}} in {{.Datacenter.Name}}"},
	{Key: "ResourcePoolMovedEvent", Description: "Resource pool moved", Category: "info",
		FullFormat: "Moved resource pool {{.ResourcePool.Name}} from {{.OldParent.Name}} to {{.NewParent.Name}} on {{.ComputeResource.Name}} in {{.Datacenter.Name}}"},
	{Key: "ResourcePoolReconfiguredEvent", Description: "Resource pool reconfigured", Category: "info",
		FullFormat: "Updated configuration for {{.ResourcePool.Name}} in compute-resource {{.ComputeResource.Name}} in {{.Datacenter.Name}}"},
	{Key: "HostAddedEvent", Description: "Host Added", Category: "info", FullFormat: "Added host {{.Host.Name}} to datacenter {{.Datacenter.Name}}"},
	{Key: "HostConnectedEvent", Description: "Host connected", Category: "info", FullFormat: "Connected to {{.Host.Name}} in {{.Datacenter.Name}}"},
	{Key: "DatastoreDiscoveredEvent", Description: "Datastore discovered", Category: "info",
		FullFormat: "Discovered datastore {{.Datastore.Name}} on {{.Host.Name}} in {{.Datacenter.Name}}"},
	{Key: "DatastoreRenamedEvent", Description: "Datastore renamed", Category: "info", FullFormat: "Renamed datastore from {{.OldName}} to {{.NewName}} in {{.Datacenter.Name}}"},
	{Key: "DatastoreDestroyedEvent", Description: "Datastore deleted", Category: "info", FullFormat: "Removed unconfigured datastore {{.Datastore.Name}}"},
	{Key: "VmResourcePoolMovedEvent", Description: "VM resource pool moved", Category: "info",
		FullFormat: "Moved {{.Vm.Name}} from resource pool {{.OldParent.Name}} to {{.NewParent.Name}} in {{.Datacenter.Name}}"},
	{Key: "VmConnectedEvent", Description: "VM connected", Category: "info", FullFormat: "Virtual machine {{.Vm.Name}} is connected"},
	{Key: "VmDisconnectedEvent", Description: "VM disconnected", Category: "warning",
		FullFormat: "{{.Vm.Name}} on host {{.Host.Name}} in {{.Datacenter.Name}} is disconnected"},
	{Key: "VmMacChangedEvent", Description: "VM MAC changed", Category: "warning",
		FullFormat: "Changed MAC address from {{.OldMac}} to {{.NewMac}} for adapter {{.Adapter}} of {{.Vm.Name}} in {{.Datacenter.Name}}"},
}

// eventCategories are the event severities of description.category.
var eventCategories = []types.BaseElementDescription{
	&types.ElementDescription{Key: "info", Description: types.Description{Label: "info", Summary: "Informational event"}},
	&types.ElementDescription{Key: "warning", Description: types.Description{Label: "warning", Summary: "Warning event"}},
	&types.ElementDescription{Key: "error", Description: types.Description{Label: "error", Summary: "Error event"}},
	&types.ElementDescription{Key: "user", Description: types.Description{Label: "user", Summary: "User-entered event"}},
}

var eventCatalog = sync.OnceValues(func() ([]types.EventDescriptionEventDetail, map[string]string) {
	var list []types.EventDescriptionEventDetail
	category := map[string]string{}
	add := func(d types.EventDescriptionEventDetail) {
		if _, dup := category[d.Key]; dup {
			return
		}
		category[d.Key] = d.Category
		list = append(list, d)
	}
	for _, d := range esx.EventInfo {
		add(d)
	}
	for _, d := range extraEventInfo {
		add(d)
	}
	for _, k := range sortedKeys(vmEventFormats) {
		add(types.EventDescriptionEventDetail{Key: k, Description: k, Category: "info", FullFormat: vmEventFormats[k]})
	}
	return list, category
})

// eventDescription is the EventManager's description property: the event
// type catalog and the categories.
func eventDescription() types.EventDescription {
	list, _ := eventCatalog()
	return types.EventDescription{
		Category:  eventCategories,
		EventInfo: append([]types.EventDescriptionEventDetail(nil), list...),
	}
}

// eventCategoryOf returns ev's category (info, warning, error or user): an
// EventEx's severity, or its type's catalog category, "info" when unknown.
func eventCategoryOf(ev types.BaseEvent) string {
	switch x := ev.(type) {
	case *types.EventEx:
		if x.Severity != "" {
			return x.Severity
		}
		return "info"
	case *types.ExtendedEvent:
		return "info"
	}
	_, category := eventCatalog()
	if c, ok := category[reflect.TypeOf(ev).Elem().Name()]; ok && c != "" {
		return c
	}
	return "info"
}
