package api

import (
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// eventManager is the EventManager managed object. Its latestEvent is the
// newest event of the log.
type eventManager struct {
	mo.EventManager
	svc *Service
}

func (m *eventManager) forSession(*soap.Context) mo.Reference { return m.refreshed() }

// refreshed implements pageRefresher.
func (m *eventManager) refreshed() mo.Reference {
	c := *m
	c.LatestEvent = m.svc.events.latest()
	return &c
}

// eventLog keeps the events of this server in memory, newest last, and hands
// each new event to the event history collectors whose filter it matches.
type eventLog struct {
	now func() time.Time
	// notify republishes the EventManager and the collectors an event
	// changes; set once by newManagers before serving.
	notify *pageNotifier

	// mu guards next, events and collectors. Holding it, post may take a
	// collector's lock and read the registry, never the reverse.
	mu         sync.Mutex
	next       int32
	events     []types.BaseEvent
	collectors map[*eventCollector]struct{}
}

// eventLogLimit bounds the in-memory event log.
const eventLogLimit = 50000

func newEventLog(now func() time.Time) *eventLog {
	return &eventLog{now: now, collectors: map[*eventCollector]struct{}{}}
}

// eventSpec carries the base fields of an event to post.
type eventSpec struct {
	user  string
	msg   string
	chain int32
	dc    *types.DatacenterEventArgument
	cr    *types.ComputeResourceEventArgument
	host  *types.HostEventArgument
	vm    *types.VmEventArgument
	ds    *types.DatastoreEventArgument
	net   *types.NetworkEventArgument
}

// post records ev with spec's base fields and returns its key. An event is
// immutable once posted. post may be called anywhere, also inside a registry
// update: it never waits for the registry's writer lock.
func (l *eventLog) post(ev types.BaseEvent, spec eventSpec) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	e := ev.GetEvent()
	e.Key = l.next
	e.ChainId = spec.chain
	if e.ChainId == 0 {
		e.ChainId = e.Key
	}
	e.CreatedTime = l.now()
	e.UserName = spec.user
	e.FullFormattedMessage = spec.msg
	e.Datacenter, e.ComputeResource, e.Host, e.Vm, e.Ds, e.Net = spec.dc, spec.cr, spec.host, spec.vm, spec.ds, spec.net
	l.events = trimEvents(append(l.events, ev))
	for c := range l.collectors {
		c.offer(ev)
	}
	if l.notify != nil {
		l.notify.mark(EventManagerRef)
	}
	return e.Key
}

// trimEvents drops the older half of events once it exceeds eventLogLimit.
func trimEvents(events []types.BaseEvent) []types.BaseEvent {
	if len(events) <= eventLogLimit {
		return events
	}
	return append([]types.BaseEvent(nil), events[len(events)-eventLogLimit/2:]...)
}

// snapshot returns the events, oldest first.
func (l *eventLog) snapshot() []types.BaseEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]types.BaseEvent(nil), l.events...)
}

// latest returns the newest event, or nil.
func (l *eventLog) latest() types.BaseEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return nil
	}
	return l.events[len(l.events)-1]
}

// attach fills c with the logged events it matches and subscribes it to
// new ones, atomically.
func (l *eventLog) attach(c *eventCollector) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		c.offer(ev)
	}
	l.collectors[c] = struct{}{}
}

// detach unsubscribes c.
func (l *eventLog) detach(c *eventCollector) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.collectors, c)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// queryEventsLimit is the number of events QueryEvents returns when the
// filter sets no maxCount.
const queryEventsLimit = 1000

func (s *Service) registerEventManager(t *soap.Table) {
	soap.Register(t, "EventManager", "QueryEvents", s.queryEvents)
	soap.Register(t, "EventManager", "CreateCollectorForEvents", s.createCollectorForEvents)
	soap.Register(t, "EventManager", "LogUserEvent", s.logUserEvent)
	soap.Register(t, "EventManager", "PostEvent", s.postEventMethod)
	soap.Register(t, "EventHistoryCollector", "ReadNextEvents", s.readNextEvents)
	soap.Register(t, "EventHistoryCollector", "ReadPreviousEvents", s.readPreviousEvents)
	s.registerHistoryCollector(t)
}

// queryEvents returns the newest events matching the filter, newest first,
// at most filter.maxCount (1000 when unset).
func (s *Service) queryEvents(ctx *soap.Context, req *types.QueryEvents) (any, error) {
	match, err := s.eventMatcher(&req.Filter)
	if err != nil {
		return nil, err
	}
	limit := queryEventsLimit
	if req.Filter.MaxCount < 0 {
		return nil, vim.InvalidArgument("filter.maxCount", "maxCount must not be negative.")
	}
	if req.Filter.MaxCount > 0 {
		limit = int(req.Filter.MaxCount)
	}
	all := s.events.snapshot()
	var out []types.BaseEvent
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		if match(all[i]) {
			out = append(out, all[i])
		}
	}
	return &types.QueryEventsResponse{Returnval: withoutMessages(out, &req.Filter)}, nil
}

func (s *Service) createCollectorForEvents(ctx *soap.Context, req *types.CreateCollectorForEvents) (any, error) {
	match, err := s.eventMatcher(&req.Filter)
	if err != nil {
		return nil, err
	}
	c := &eventCollector{session: sessionKey(ctx.Session), filter: req.Filter, match: match,
		pageSize: defaultPageSize, notify: s.mgr.notify, log: s.events}
	c.ref = newSessionRef("EventHistoryCollector", ctx.Session)
	obj := &eventHistoryCollector{c: c}
	obj.Self = c.ref
	obj.Filter = req.Filter
	if err := s.publishCollector(ctx, c, obj); err != nil {
		return nil, err
	}
	s.events.attach(c)
	s.mgr.notify.mark(c.ref)
	return &types.CreateCollectorForEventsResponse{Returnval: c.ref}, nil
}

// logUserEvent posts a GeneralUserEvent about an entity.
func (s *Service) logUserEvent(ctx *soap.Context, req *types.LogUserEvent) (any, error) {
	e, ok := s.reg.Get(req.Entity).(mo.Entity)
	if !ok {
		return nil, vim.ManagedObjectNotFound(req.Entity)
	}
	ev := &types.GeneralUserEvent{
		GeneralEvent: types.GeneralEvent{Message: req.Msg},
		Entity:       &types.ManagedEntityEventArgument{EntityEventArgument: types.EntityEventArgument{Name: e.Entity().Name}, Entity: req.Entity},
	}
	s.postEvent(ev, ctx.UserName(), 0, req.Entity, "User logged event: "+req.Msg)
	return &types.LogUserEventResponse{}, nil
}

// postEventMethod implements EventManager.PostEvent: the server assigns the
// key, chain (the task's when taskInfo is given), time and user; entity
// arguments the client left out are filled from an EventEx's object.
func (s *Service) postEventMethod(ctx *soap.Context, req *types.PostEvent) (any, error) {
	if req.EventToPost == nil {
		return nil, vim.InvalidArgument("eventToPost", "An event to post is required.")
	}
	ev := req.EventToPost
	e := ev.GetEvent()
	spec := eventSpec{user: ctx.UserName(), msg: e.FullFormattedMessage,
		dc: e.Datacenter, cr: e.ComputeResource, host: e.Host, vm: e.Vm, ds: e.Ds, net: e.Net}
	if req.TaskInfo != nil {
		spec.chain = req.TaskInfo.EventChainId
	}
	if x, ok := ev.(*types.EventEx); ok {
		if spec.msg == "" {
			spec.msg = x.Message
		}
		if !hasEntityArgs(e) && x.ObjectId != "" {
			s.fillEventArgs(&spec, types.ManagedObjectReference{Type: x.ObjectType, Value: x.ObjectId})
		}
	}
	if spec.msg == "" {
		spec.msg = formatEvent(ev)
	}
	s.events.post(ev, spec)
	return &types.PostEventResponse{}, nil
}

func hasEntityArgs(e *types.Event) bool {
	return e.Datacenter != nil || e.ComputeResource != nil || e.Host != nil || e.Vm != nil || e.Ds != nil || e.Net != nil || e.Dvs != nil
}

// withoutMessages returns events with fullFormattedMessage left out when the
// filter's disableFullMessage asks for it. Posted events are shared, so the
// events are shallow copies.
func withoutMessages(events []types.BaseEvent, f *types.EventFilterSpec) []types.BaseEvent {
	if f.DisableFullMessage == nil || !*f.DisableFullMessage {
		return events
	}
	out := make([]types.BaseEvent, len(events))
	for i, ev := range events {
		v := reflect.New(reflect.TypeOf(ev).Elem())
		v.Elem().Set(reflect.ValueOf(ev).Elem())
		c := v.Interface().(types.BaseEvent)
		c.GetEvent().FullFormattedMessage = ""
		out[i] = c
	}
	return out
}
