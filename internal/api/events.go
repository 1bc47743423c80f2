package api

import (
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// postEvent records ev about entity (may be zero), filling the base event's
// datacenter, computeResource, host, vm, ds and net arguments from the
// inventory, with user as the actor and chain tying it to a task (0: none).
func (s *Service) postEvent(ev types.BaseEvent, user string, chain int32, entity types.ManagedObjectReference, msg string) {
	spec := eventSpec{user: user, msg: msg, chain: chain}
	s.fillEventArgs(&spec, entity)
	s.events.post(ev, spec)
}

// fillEventArgs sets spec's entity arguments for entity and its ancestors.
func (s *Service) fillEventArgs(spec *eventSpec, entity types.ManagedObjectReference) {
	if entity.Value == "" {
		return
	}
	o := s.reg.Get(entity)
	switch e := o.(type) {
	case *mo.VirtualMachine:
		spec.vm = &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, Vm: e.Self}
		if e.Runtime.Host != nil {
			s.fillEventArgs(spec, *e.Runtime.Host)
			return
		}
	case *mo.HostSystem:
		spec.host = &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, Host: e.Self}
		if e.Parent != nil {
			if cr, ok := s.reg.Get(*e.Parent).(mo.Entity); ok {
				spec.cr = &types.ComputeResourceEventArgument{EntityEventArgument: types.EntityEventArgument{Name: cr.Entity().Name}, ComputeResource: cr.Reference()}
			}
		}
	case *mo.ClusterComputeResource:
		spec.cr = &types.ComputeResourceEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, ComputeResource: e.Self}
	case *mo.ComputeResource:
		spec.cr = &types.ComputeResourceEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, ComputeResource: e.Self}
	case *mo.Datastore:
		spec.ds = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, Datastore: e.Self}
	case *mo.Network:
		spec.net = &types.NetworkEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, Network: e.Self}
	case *mo.Datacenter:
		spec.dc = &types.DatacenterEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Name}, Datacenter: e.Self}
		return
	}
	if dc := datacenterOf(s.reg, entity); dc != nil {
		spec.dc = &types.DatacenterEventArgument{EntityEventArgument: types.EntityEventArgument{Name: dc.Name}, Datacenter: dc.Self}
	}
}
