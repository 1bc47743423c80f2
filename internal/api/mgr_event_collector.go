package api

import (
	"sync"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
)

// eventCollector is the state of an EventHistoryCollector: the events that
// match its filter, oldest first, and its scrollable-view position.
type eventCollector struct {
	ref     types.ManagedObjectReference
	session string
	filter  types.EventFilterSpec
	match   func(types.BaseEvent) bool
	notify  *pageNotifier
	log     *eventLog

	// mu guards events, keys, pos and pageSize.
	mu sync.Mutex
	// events are the matching events, oldest first; keys their keys.
	events   []types.BaseEvent
	keys     []uint64
	pos      cursor
	pageSize int
}

// offer adds ev when it matches the filter. The event log calls it, in key
// order, with its lock held.
func (c *eventCollector) offer(ev types.BaseEvent) {
	if !c.match(ev) {
		return
	}
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.keys = append(c.keys, uint64(ev.GetEvent().Key))
	if len(c.events) > eventLogLimit {
		drop := len(c.events) - eventLogLimit/2
		c.events = append([]types.BaseEvent(nil), c.events[drop:]...)
		c.keys = append([]uint64(nil), c.keys[drop:]...)
	}
	c.mu.Unlock()
	c.notify.mark(c.ref)
}

// latestPage returns the newest pageSize events, newest first.
func (c *eventCollector) latestPage() []types.BaseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(c.pageSize, len(c.events))
	out := make([]types.BaseEvent, 0, n)
	for i := len(c.events) - 1; i >= len(c.events)-n; i-- {
		out = append(out, c.events[i])
	}
	return withoutMessages(out, &c.filter)
}

// readNext returns up to n events after the position, oldest first.
func (c *eventCollector) readNext(n int) []types.BaseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo, hi, next := c.pos.readNext(c.keys, n)
	c.pos = next
	return withoutMessages(append([]types.BaseEvent(nil), c.events[lo:hi]...), &c.filter)
}

// readPrev returns up to n events before the position, newest first.
func (c *eventCollector) readPrev(n int) []types.BaseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo, hi, next := c.pos.readPrev(c.keys, n)
	c.pos = next
	out := make([]types.BaseEvent, 0, hi-lo)
	for i := hi - 1; i >= lo; i-- {
		out = append(out, c.events[i])
	}
	return withoutMessages(out, &c.filter)
}

func (c *eventCollector) reference() types.ManagedObjectReference { return c.ref }
func (c *eventCollector) owner() string                           { return c.session }
func (c *eventCollector) close()                                  { c.log.detach(c) }

func (c *eventCollector) rewind() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = 0
}

func (c *eventCollector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = resetCursor(c.keys, c.pageSize)
}

func (c *eventCollector) setPageSize(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pageSize = n
}

// eventHistoryCollector is the EventHistoryCollector managed object; its
// latestPage follows the collector's state.
type eventHistoryCollector struct {
	mo.EventHistoryCollector
	c *eventCollector
}

func (o *eventHistoryCollector) forSession(*soap.Context) mo.Reference { return o.refreshed() }

// refreshed implements pageRefresher.
func (o *eventHistoryCollector) refreshed() mo.Reference {
	cp := *o
	cp.LatestPage = o.c.latestPage()
	return &cp
}

// eventCollectorOf returns the calling session's event collector ctx.This.
func (s *Service) eventCollectorOf(ctx *soap.Context) (*eventCollector, error) {
	hc, err := s.mgr.collector(ctx)
	if err != nil {
		return nil, err
	}
	return hc.(*eventCollector), nil
}

func (s *Service) readNextEvents(ctx *soap.Context, req *types.ReadNextEvents) (any, error) {
	c, err := s.eventCollectorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkReadCount(req.MaxCount); err != nil {
		return nil, err
	}
	return &types.ReadNextEventsResponse{Returnval: c.readNext(int(req.MaxCount))}, nil
}

func (s *Service) readPreviousEvents(ctx *soap.Context, req *types.ReadPreviousEvents) (any, error) {
	c, err := s.eventCollectorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkReadCount(req.MaxCount); err != nil {
		return nil, err
	}
	return &types.ReadPreviousEventsResponse{Returnval: c.readPrev(int(req.MaxCount))}, nil
}
