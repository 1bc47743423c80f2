package api

import (
	"bytes"
	"reflect"
	"sync"
	"text/template"

	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
)

// vmEventFormats are vCenter's fullFormat messages of the VM events missing
// from the captured esx.EventInfo catalog, in the same template syntax.
var vmEventFormats = map[string]string{
	"VmRenamedEvent":         "Renamed {{.Vm.Name}} from {{.OldName}} to {{.NewName}} in {{.Datacenter.Name}}",
	"VmGuestStandbyEvent":    "Guest OS standby for {{.Vm.Name}} on {{.Host.Name}} in {{.Datacenter.Name}}",
	"VmUpgradingEvent":       "Upgrading virtual machine compatibility of {{.Vm.Name}} in {{.Datacenter.Name}} to {{.Version}}",
	"VmUpgradeCompleteEvent": "Virtual machine compatibility upgraded to {{.Version}}",
	// vm_provision*.go; the catalog's VmBeingMigratedEvent format is broken.
	"VmBeingMigratedEvent":     "Relocating {{.Vm.Name}} from {{.Host.Name}}, {{.Ds.Name}} in {{.Datacenter.Name}} to {{.DestHost.Name}}, {{.DestDatastore.Name}} in {{.DestDatacenter.Name}}",
	"VmBeingRelocatedEvent":    "Relocating {{.Vm.Name}} from {{.Host.Name}}, {{.Ds.Name}} in {{.Datacenter.Name}} to {{.DestHost.Name}}, {{.DestDatastore.Name}} in {{.DestDatacenter.Name}}",
	"VmResourcePoolMovedEvent": "{{.Vm.Name}} on {{.Host.Name}} moved from {{.OldParent.Name}} to {{.NewParent.Name}} in {{.Datacenter.Name}}",
}

// eventTemplates caches the parsed fullFormat templates by event type name.
var eventTemplates sync.Map // string -> *template.Template (nil when unknown)

// eventTemplate returns the fullFormat template of the event type named key.
func eventTemplate(key string) *template.Template {
	if t, ok := eventTemplates.Load(key); ok {
		return t.(*template.Template)
	}
	format, ok := vmEventFormats[key]
	if !ok {
		for _, d := range esx.EventInfo {
			if d.Key == key {
				format = d.FullFormat
				break
			}
		}
	}
	var t *template.Template
	if format != "" {
		t, _ = template.New(key).Option("missingkey=zero").Parse(format)
	}
	eventTemplates.Store(key, t)
	return t
}

// formatEvent renders ev's fullFormattedMessage from its type's catalog
// format. The event's entity arguments must be set; missing ones render
// empty.
func formatEvent(ev types.BaseEvent) string {
	name := reflect.TypeOf(ev).Elem().Name()
	t := eventTemplate(name)
	if t == nil {
		return name
	}
	e := ev.GetEvent()
	saved := *e
	// Render with empty arguments instead of failing on nil ones.
	if e.Vm == nil {
		e.Vm = &types.VmEventArgument{}
	}
	if e.Host == nil {
		e.Host = &types.HostEventArgument{}
	}
	if e.Datacenter == nil {
		e.Datacenter = &types.DatacenterEventArgument{}
	}
	if e.ComputeResource == nil {
		e.ComputeResource = &types.ComputeResourceEventArgument{}
	}
	if e.Ds == nil {
		e.Ds = &types.DatastoreEventArgument{}
	}
	var b bytes.Buffer
	err := t.Execute(&b, ev)
	*e = saved
	if err != nil {
		return name
	}
	return b.String()
}

// vmEventSpec captures the event arguments of the VM ref as the inventory
// shows it now, so an event can be posted after the VM changed or is gone.
func (s *Service) vmEventSpec(ref types.ManagedObjectReference, user string, chain int32) eventSpec {
	spec := eventSpec{user: user, chain: chain}
	s.fillEventArgs(&spec, ref)
	if vm := inventory.Get[mo.VirtualMachine](s.reg, ref); vm != nil && len(vm.Datastore) > 0 {
		if ds := inventory.Get[mo.Datastore](s.reg, vm.Datastore[0]); ds != nil {
			spec.ds = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: ds.Name}, Datastore: ds.Self}
		}
	}
	return spec
}

// postVMEvents posts evs with spec's arguments, in order, each with its
// catalog message.
func (s *Service) postVMEvents(spec eventSpec, evs ...types.BaseEvent) {
	for _, ev := range evs {
		e := ev.GetEvent()
		e.Datacenter, e.ComputeResource, e.Host, e.Vm, e.Ds, e.Net = spec.dc, spec.cr, spec.host, spec.vm, spec.ds, spec.net
		spec.msg = formatEvent(ev)
		s.events.post(ev, spec)
	}
}

// vmEvent returns the VmEvent base for a VM that is (or is not) a template.
func vmEvent(template bool) types.VmEvent { return types.VmEvent{Template: template} }
