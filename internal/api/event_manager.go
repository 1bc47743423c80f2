package api

import (
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
)

// eventManager is the EventManager managed object.
type eventManager struct {
	mo.EventManager
	svc *Service
}

func eventDescription() types.EventDescription {
	return types.EventDescription{EventInfo: esx.EventInfo}
}

// eventLog keeps the events of this server in memory, newest last.
type eventLog struct {
	now func() time.Time

	// mu guards next and events.
	mu     sync.Mutex
	next   int32
	events []types.BaseEvent
}

// eventLogLimit bounds the in-memory event log.
const eventLogLimit = 50000

func newEventLog(now func() time.Time) *eventLog { return &eventLog{now: now} }

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

// post records ev with spec's base fields and returns its key.
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
	l.events = append(l.events, ev)
	if len(l.events) > eventLogLimit {
		l.events = append([]types.BaseEvent(nil), l.events[len(l.events)-eventLogLimit/2:]...)
	}
	return e.Key
}

// snapshot returns the events, oldest first.
func (l *eventLog) snapshot() []types.BaseEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]types.BaseEvent(nil), l.events...)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Service) registerEventManager(t *soap.Table) {}
