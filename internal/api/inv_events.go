package api

import (
	"github.com/vmware/govmomi/vim25/types"
)

// pendingEvent is an event whose entity arguments were captured before a
// change (for example before the entity is deleted), to be posted once the
// change has committed.
type pendingEvent struct {
	ev   types.BaseEvent
	spec eventSpec
}

// captureEvent prepares ev about entity with the inventory as it is now.
func (s *Service) captureEvent(ev types.BaseEvent, user string, chain int32, entity types.ManagedObjectReference, msg string) pendingEvent {
	spec := eventSpec{user: user, msg: msg, chain: chain}
	s.fillEventArgs(&spec, entity)
	return pendingEvent{ev: ev, spec: spec}
}

// emit posts captured events in order.
func (s *Service) emit(evs []pendingEvent) {
	for _, p := range evs {
		s.events.post(p.ev, p.spec)
	}
}

func folderArg(name string, ref types.ManagedObjectReference) types.FolderEventArgument {
	return types.FolderEventArgument{EntityEventArgument: types.EntityEventArgument{Name: name}, Folder: ref}
}

func poolArg(name string, ref types.ManagedObjectReference) types.ResourcePoolEventArgument {
	return types.ResourcePoolEventArgument{EntityEventArgument: types.EntityEventArgument{Name: name}, ResourcePool: ref}
}

func dsArg(name string, ref types.ManagedObjectReference) *types.DatastoreEventArgument {
	return &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: name}, Datastore: ref}
}
