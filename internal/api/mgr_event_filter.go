package api

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/vim"
)

// Entity recursion options shared by EventFilterSpec and TaskFilterSpec.
const (
	recursionSelf     = "self"
	recursionChildren = "children"
	recursionAll      = "all"
)

// entityScope is a compiled "by entity" filter: does an object pertain to
// the entity under the recursion option?
type entityScope struct {
	s         *Service
	root      types.ManagedObjectReference
	recursion string
}

// newEntityScope validates a by-entity filter.
func (s *Service) newEntityScope(prop string, entity types.ManagedObjectReference, recursion string) (*entityScope, error) {
	switch recursion {
	case recursionSelf, recursionChildren, recursionAll:
	default:
		return nil, vim.InvalidArgument(prop+".recursion", "Unknown recursion option %q; use self, children or all.", recursion)
	}
	if _, ok := s.reg.Get(entity).(mo.Entity); !ok {
		return nil, vim.ManagedObjectNotFound(entity)
	}
	return &entityScope{s: s, root: entity, recursion: recursion}, nil
}

// everything reports whether the scope covers every object: the root folder
// with self or all (events and tasks without an entity pertain to it).
func (e *entityScope) everything() bool {
	return e.root.Value == e.s.content.RootFolder.Value && e.recursion != recursionChildren
}

// covers reports whether ref pertains to the scope: ref is the root (self,
// all), a direct child of it (children) or any descendant (all). A virtual
// machine descends from its folder and from its resource pool.
func (e *entityScope) covers(ref types.ManagedObjectReference) bool {
	if e.everything() {
		return true
	}
	if ref.Value == e.root.Value {
		return e.recursion != recursionChildren
	}
	switch e.recursion {
	case recursionChildren:
		return containsRef(e.s.parentsOf(ref), e.root)
	case recursionAll:
		return e.s.descendsFrom(ref, e.root)
	}
	return false
}

// parentsOf returns the inventory parents of ref: its folder or compute
// resource, and for a virtual machine its resource pool or vApp too.
func (s *Service) parentsOf(ref types.ManagedObjectReference) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	switch o := s.reg.Get(ref).(type) {
	case *mo.VirtualMachine:
		if o.Parent != nil {
			out = append(out, *o.Parent)
		}
		if o.ResourcePool != nil {
			out = append(out, *o.ResourcePool)
		}
		if o.ParentVApp != nil {
			out = append(out, *o.ParentVApp)
		}
	case mo.Entity:
		if p := o.Entity().Parent; p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// descendsFrom reports whether root is an ancestor of ref.
func (s *Service) descendsFrom(ref, root types.ManagedObjectReference) bool {
	seen := map[string]bool{}
	queue := s.parentsOf(ref)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p.Value == root.Value {
			return true
		}
		if seen[p.Value] {
			continue
		}
		seen[p.Value] = true
		queue = append(queue, s.parentsOf(p)...)
	}
	return false
}

// userFilter is a compiled by-user-name filter.
type userFilter struct {
	system bool
	users  []string
}

// matches reports whether an action of user (empty for the system) passes.
// With neither systemUser nor a user list, every user passes.
func (f *userFilter) matches(user string) bool {
	if f == nil {
		return true
	}
	if user == "" {
		return f.system || len(f.users) == 0
	}
	if len(f.users) == 0 {
		return !f.system
	}
	for _, u := range f.users {
		if strings.EqualFold(u, user) {
			return true
		}
	}
	return false
}

// timeRange is a compiled begin/end filter; unset bounds are open.
type timeRange struct {
	begin, end *time.Time
}

func newTimeRange(prop string, begin, end *time.Time) (timeRange, error) {
	if begin != nil && end != nil && end.Before(*begin) {
		return timeRange{}, vim.InvalidArgument(prop, "The end time %s is before the begin time %s.",
			end.Format(time.RFC3339), begin.Format(time.RFC3339))
	}
	return timeRange{begin: begin, end: end}, nil
}

func (r timeRange) contains(t time.Time) bool {
	return (r.begin == nil || !t.Before(*r.begin)) && (r.end == nil || !t.After(*r.end))
}

// eventMatcher compiles an EventFilterSpec into a predicate. It reads the
// inventory when called, so an event's relation to an entity is judged by
// the inventory as it is then.
func (s *Service) eventMatcher(f *types.EventFilterSpec) (func(types.BaseEvent) bool, error) {
	var checks []func(types.BaseEvent) bool
	if f.Entity != nil {
		scope, err := s.newEntityScope("filter.entity", f.Entity.Entity, string(f.Entity.Recursion))
		if err != nil {
			return nil, err
		}
		if !scope.everything() {
			checks = append(checks, func(ev types.BaseEvent) bool {
				for _, r := range eventEntities(ev) {
					if scope.covers(r) {
						return true
					}
				}
				return false
			})
		}
	}
	if f.Time != nil {
		tr, err := newTimeRange("filter.time", f.Time.BeginTime, f.Time.EndTime)
		if err != nil {
			return nil, err
		}
		checks = append(checks, func(ev types.BaseEvent) bool { return tr.contains(ev.GetEvent().CreatedTime) })
	}
	if f.UserName != nil {
		uf := &userFilter{system: f.UserName.SystemUser, users: f.UserName.UserList}
		checks = append(checks, func(ev types.BaseEvent) bool { return uf.matches(ev.GetEvent().UserName) })
	}
	if f.EventChainId != 0 {
		checks = append(checks, func(ev types.BaseEvent) bool { return ev.GetEvent().ChainId == f.EventChainId })
	}
	if ids := f.EventTypeId; len(ids) > 0 || len(f.Type) > 0 {
		if len(ids) == 0 {
			ids = f.Type
		}
		checks = append(checks, func(ev types.BaseEvent) bool { return eventIsA(ev, ids) })
	}
	if len(f.Category) > 0 {
		checks = append(checks, func(ev types.BaseEvent) bool { return containsString(f.Category, eventCategoryOf(ev)) })
	}
	if len(f.Tag) > 0 {
		checks = append(checks, func(ev types.BaseEvent) bool { return containsString(f.Tag, ev.GetEvent().ChangeTag) })
	}
	if f.Alarm != nil {
		checks = append(checks, func(ev types.BaseEvent) bool {
			a, ok := ev.(types.BaseAlarmEvent)
			return ok && a.GetAlarmEvent().Alarm.Alarm.Value == f.Alarm.Value
		})
	}
	if f.ScheduledTask != nil {
		checks = append(checks, func(ev types.BaseEvent) bool {
			t, ok := ev.(types.BaseScheduledTaskEvent)
			return ok && t.GetScheduledTaskEvent().ScheduledTask.ScheduledTask.Value == f.ScheduledTask.Value
		})
	}
	return func(ev types.BaseEvent) bool {
		for _, c := range checks {
			if !c(ev) {
				return false
			}
		}
		return true
	}, nil
}

func containsString(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// eventIsA reports whether ev is of one of the named event types: its own
// type, a vim base type it extends ("VmEvent"), or for EventEx and
// ExtendedEvent its eventTypeId.
func eventIsA(ev types.BaseEvent, names []string) bool {
	switch x := ev.(type) {
	case *types.EventEx:
		if containsString(names, x.EventTypeId) {
			return true
		}
	case *types.ExtendedEvent:
		if containsString(names, x.EventTypeId) {
			return true
		}
	}
	for _, n := range eventTypeNames(reflect.TypeOf(ev).Elem()) {
		if containsString(names, n) {
			return true
		}
	}
	return false
}

var eventTypeNameCache sync.Map // reflect.Type -> []string

// eventTypeNames returns the names of t and of the vim types it extends.
func eventTypeNames(t reflect.Type) []string {
	if v, ok := eventTypeNameCache.Load(t); ok {
		return v.([]string)
	}
	var names []string
	for cur := t; cur.Kind() == reflect.Struct && cur.Name() != "DynamicData"; {
		names = append(names, cur.Name())
		if cur.NumField() == 0 || !cur.Field(0).Anonymous {
			break
		}
		cur = cur.Field(0).Type
	}
	eventTypeNameCache.Store(t, names)
	return names
}

// eventEntities returns the entities an event pertains to: its entity
// arguments, the entity of a user event, task event or custom value change,
// and an EventEx's object.
func eventEntities(ev types.BaseEvent) []types.ManagedObjectReference {
	e := ev.GetEvent()
	var out []types.ManagedObjectReference
	if a := e.Vm; a != nil {
		out = append(out, a.Vm)
	}
	if a := e.Host; a != nil {
		out = append(out, a.Host)
	}
	if a := e.ComputeResource; a != nil {
		out = append(out, a.ComputeResource)
	}
	if a := e.Ds; a != nil {
		out = append(out, a.Datastore)
	}
	if a := e.Net; a != nil {
		out = append(out, a.Network)
	}
	if a := e.Dvs; a != nil {
		out = append(out, a.Dvs)
	}
	if a := e.Datacenter; a != nil {
		out = append(out, a.Datacenter)
	}
	switch x := ev.(type) {
	case *types.GeneralUserEvent:
		if x.Entity != nil {
			out = append(out, x.Entity.Entity)
		}
	case *types.TaskEvent:
		if x.Info.Entity != nil {
			out = append(out, *x.Info.Entity)
		}
	case *types.CustomFieldValueChangedEvent:
		out = append(out, x.Entity.Entity)
	case *types.EventEx:
		if x.ObjectId != "" {
			out = append(out, types.ManagedObjectReference{Type: x.ObjectType, Value: x.ObjectId})
		}
	}
	return out
}
