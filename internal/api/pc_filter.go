package api

import (
	"strconv"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// defaultMaxObjectUpdates bounds one WaitForUpdatesEx reply when the client
// sets no maxObjectUpdates: the API lets the server choose a limit, and
// vCenter answers in batches of 100.
const defaultMaxObjectUpdates = 100

// filter is a PropertyFilter: a compiled spec and what it last reported.
type filter struct {
	ref     types.ManagedObjectReference
	col     *collector
	plan    *plan
	partial bool
	seq     uint64

	// dirty lists, in commit order, the watched objects committed changes
	// touched since the collector last looked. Guarded by collectors.mu.
	dirty idQueue

	// The evaluation state, guarded by col.run. g is the filter's object
	// graph, nil until the first evaluation; members maps each reported
	// object to the value last reported; report queues the objects whose
	// report may be due; missing records roots reported missing.
	g       *graph
	members map[string]mo.Reference
	report  idQueue
	missing map[string]bool
}

// idQueue is an ordered set of object ids.
type idQueue struct {
	ids  []string
	head int
	set  map[string]struct{}
}

func (q *idQueue) push(id string) {
	if q.set == nil {
		q.set = map[string]struct{}{}
	}
	if _, ok := q.set[id]; !ok {
		q.set[id] = struct{}{}
		q.ids = append(q.ids, id)
	}
}

func (q *idQueue) len() int     { return len(q.ids) - q.head }
func (q *idQueue) peek() string { return q.ids[q.head] }

func (q *idQueue) pop() {
	delete(q.set, q.ids[q.head])
	q.ids[q.head] = ""
	q.head++
	if q.head == len(q.ids) {
		q.ids, q.head = q.ids[:0], 0
	}
}

// take empties q and returns its ids in order.
func (q *idQueue) take() []string {
	out := append([]string(nil), q.ids[q.head:]...)
	*q = idQueue{}
	return out
}

func (s *Service) createFilter(ctx *soap.Context, req *types.CreateFilter) (any, error) {
	col, err := s.pc.collector(ctx)
	if err != nil {
		return nil, err
	}
	p, err := compilePlan([]types.PropertyFilterSpec{req.Spec})
	if err != nil {
		return nil, err
	}
	look := s.lookup(ctx)
	for _, r := range p.roots {
		if !r.reportMissing && !rootExists(r, look) {
			return nil, vim.ManagedObjectNotFound(r.obj)
		}
	}
	ref := newSessionRef("PropertyFilter", ctx.Session)
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		tx.Create(&mo.PropertyFilter{Self: ref, Spec: req.Spec, PartialUpdates: req.PartialUpdates}, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	f := &filter{ref: ref, col: col, plan: p, partial: req.PartialUpdates, members: map[string]mo.Reference{}, missing: map[string]bool{}}
	c := s.pc
	c.mu.Lock()
	if col.gone {
		c.mu.Unlock()
		_ = s.deleteObjects(ctx, []types.ManagedObjectReference{ref})
		return nil, vim.ManagedObjectNotFound(col.ref)
	}
	c.seq++
	f.seq = c.seq
	col.filters[ref.Value] = f
	c.filters[ref.Value] = f
	c.signalLocked(col)
	c.mu.Unlock()
	return &types.CreateFilterResponse{Returnval: ref}, nil
}

func rootExists(r planRoot, look lookupFunc) bool {
	o := look(r.obj.Value)
	return o != nil && (r.obj.Type == "" || inventory.IsA(o.Reference().Type, r.obj.Type))
}

func (s *Service) destroyPropertyFilter(ctx *soap.Context, _ *types.DestroyPropertyFilter) (any, error) {
	c := s.pc
	c.mu.Lock()
	f := c.filters[ctx.This.Value]
	c.mu.Unlock()
	if f == nil || f.col.key.session != sessionKey(ctx.Session) {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	f.col.run.Lock()
	c.mu.Lock()
	c.removeFilterLocked(f)
	c.mu.Unlock()
	f.col.run.Unlock()
	if err := s.deleteObjects(ctx, []types.ManagedObjectReference{f.ref}); err != nil {
		return nil, err
	}
	return &types.DestroyPropertyFilterResponse{}, nil
}

// removeFilterLocked forgets f. f.col.run and collectors.mu must be held.
func (c *collectors) removeFilterLocked(f *filter) {
	delete(f.col.filters, f.ref.Value)
	delete(c.filters, f.ref.Value)
	if f.g != nil {
		for id := range f.g.byObj {
			c.unwatchLocked(id, f)
		}
	}
	f.g = nil
}

func (c *collectors) watchLocked(id string, f *filter) {
	m := c.watchers[id]
	if m == nil {
		m = map[*filter]struct{}{}
		c.watchers[id] = m
	}
	m[f] = struct{}{}
}

func (c *collectors) unwatchLocked(id string, f *filter) {
	if m := c.watchers[id]; m != nil {
		delete(m, f)
		if len(m) == 0 {
			delete(c.watchers, id)
		}
	}
}

// signalLocked wakes col's waiters. collectors.mu must be held.
func (c *collectors) signalLocked(col *collector) {
	close(col.wake)
	col.wake = make(chan struct{})
}

// onCommit is the registry subscriber: it queues each changed object on the
// filters watching it and wakes their collectors. Its cost follows the
// number of (changed object, watching filter) pairs.
func (c *collectors) onCommit(_ uint64, changes []inventory.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var woken map[*collector]struct{}
	for _, ch := range changes {
		for f := range c.watchers[ch.Ref.Value] {
			f.dirty.push(ch.Ref.Value)
			if woken == nil {
				woken = map[*collector]struct{}{}
			}
			woken[f.col] = struct{}{}
		}
	}
	for col := range woken {
		c.signalLocked(col)
	}
}

// --- waiting for updates ------------------------------------------------------

func (s *Service) waitForUpdatesEx(ctx *soap.Context, req *types.WaitForUpdatesEx) (any, error) {
	var opts types.WaitOptions
	if req.Options != nil {
		opts = *req.Options
	}
	if opts.MaxWaitSeconds != nil && *opts.MaxWaitSeconds < 0 {
		return nil, vim.InvalidArgument("options.maxWaitSeconds", "maxWaitSeconds must be 0 or more, not %d.", *opts.MaxWaitSeconds)
	}
	if opts.MaxObjectUpdates < 0 {
		return nil, vim.InvalidArgument("options.maxObjectUpdates", "maxObjectUpdates must be positive or unset, not %d.", opts.MaxObjectUpdates)
	}
	max := int(opts.MaxObjectUpdates)
	if max == 0 {
		max = defaultMaxObjectUpdates
	}
	set, err := s.wait(ctx, req.Version, opts.MaxWaitSeconds, max)
	if err != nil {
		return nil, err
	}
	return &types.WaitForUpdatesExResponse{Returnval: set}, nil
}

func (s *Service) waitForUpdates(ctx *soap.Context, req *types.WaitForUpdates) (any, error) {
	set, err := s.wait(ctx, req.Version, nil, 0)
	if err != nil {
		return nil, err
	}
	return &types.WaitForUpdatesResponse{Returnval: *set}, nil
}

func (s *Service) checkForUpdates(ctx *soap.Context, req *types.CheckForUpdates) (any, error) {
	zero := int32(0)
	set, err := s.wait(ctx, req.Version, &zero, 0)
	if err != nil {
		return nil, err
	}
	return &types.CheckForUpdatesResponse{Returnval: set}, nil
}

func (s *Service) cancelWaitForUpdates(ctx *soap.Context, _ *types.CancelWaitForUpdates) (any, error) {
	col, err := s.pc.collector(ctx)
	if err != nil {
		return nil, err
	}
	c := s.pc
	c.mu.Lock()
	defer c.mu.Unlock()
	if !col.gone {
		close(col.cancel)
		col.cancel = make(chan struct{})
	}
	return &types.CancelWaitForUpdatesResponse{}, nil
}

// wait returns the changes of ctx.This's filters since version ("" for
// everything), waiting for some up to maxWait seconds (forever when nil;
// with 0 it only checks and returns nil when there are none). max bounds the
// object updates of one reply (0: no bound); a bounded reply with more to
// come is marked truncated.
func (s *Service) wait(ctx *soap.Context, version string, maxWait *int32, max int) (*types.UpdateSet, error) {
	col, err := s.pc.collector(ctx)
	if err != nil {
		return nil, err
	}
	var timeout <-chan time.Time
	if maxWait != nil && *maxWait > 0 {
		t := time.NewTimer(time.Duration(*maxWait) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	for first := true; ; first = false {
		set, wake, cancel, err := s.poll(ctx, col, version, first, max)
		if err != nil || set != nil || maxWait != nil && *maxWait == 0 {
			return set, err
		}
		select {
		case <-wake:
		case <-cancel:
			return nil, vim.NewFault(&types.RequestCanceled{}, "The wait for updates was canceled by CancelWaitForUpdates, or its collector was destroyed.")
		case <-timeout:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// poll computes one UpdateSet for col, or nil when nothing changed. It also
// returns the channels to wait on before polling again: any change after
// this poll closes wake.
func (s *Service) poll(ctx *soap.Context, col *collector, version string, first bool, max int) (set *types.UpdateSet, wake, cancel <-chan struct{}, err error) {
	c := s.pc
	col.run.Lock()
	defer col.run.Unlock()
	if version != "" && version != strconv.FormatUint(col.version, 10) {
		return nil, nil, nil, vim.NewFault(&types.InvalidCollectorVersion{},
			"The data version %q is not the one this collector last returned; pass the version of its last reply, or \"\" to start over.", version)
	}
	c.mu.Lock()
	if col.gone {
		c.mu.Unlock()
		return nil, nil, nil, vim.ManagedObjectNotFound(col.ref)
	}
	wake, cancel = col.wake, col.cancel
	filters := sortedFilters(col)
	initial := version == "" && first
	for _, f := range filters {
		if initial {
			c.resetFilterLocked(f)
		}
		for _, id := range f.dirty.take() {
			f.report.push(id)
		}
	}
	c.mu.Unlock()

	set = &types.UpdateSet{}
	budget, truncated := max, false
	for _, f := range filters {
		if max > 0 && budget <= 0 {
			// Out of room: the reply is truncated if a filter not yet
			// looked at may have something to report.
			truncated = truncated || f.g == nil || f.report.len() > 0
			continue
		}
		fu, more := s.filterUpdate(ctx, f, max, &budget)
		truncated = truncated || more
		if len(fu.ObjectSet) > 0 || len(fu.MissingSet) > 0 {
			set.FilterSet = append(set.FilterSet, fu)
		}
	}
	if len(set.FilterSet) == 0 && !initial {
		return nil, wake, cancel, nil
	}
	col.version++
	set.Version = strconv.FormatUint(col.version, 10)
	if truncated {
		set.Truncated = types.NewBool(true)
	}
	return set, wake, cancel, nil
}

// resetFilterLocked makes f report everything afresh. col.run and
// collectors.mu must be held.
func (c *collectors) resetFilterLocked(f *filter) {
	if f.g != nil {
		for id := range f.g.byObj {
			c.unwatchLocked(id, f)
		}
	}
	f.g = nil
	f.members = map[string]mo.Reference{}
	f.missing = map[string]bool{}
	f.report = idQueue{}
	f.dirty = idQueue{}
}

// filterUpdate brings f's object set up to date and returns its object
// updates, at most *budget of them when max > 0 (budget is decreased), and
// whether more are pending. col.run must be held.
func (s *Service) filterUpdate(ctx *soap.Context, f *filter, max int, budget *int) (types.PropertyFilterUpdate, bool) {
	look := s.lookup(ctx)
	s.syncGraph(f, look)
	fu := types.PropertyFilterUpdate{Filter: f.ref}
	for _, r := range f.plan.roots {
		if r.reportMissing && !f.missing[r.obj.Value] && !rootExists(r, look) {
			f.missing[r.obj.Value] = true
			fu.MissingSet = append(fu.MissingSet, types.MissingObject{Obj: r.obj, Fault: *vim.ManagedObjectNotFound(r.obj).Localized()})
		}
	}
	for f.report.len() > 0 {
		if max > 0 && *budget <= 0 {
			return fu, true
		}
		id := f.report.peek()
		f.report.pop()
		if u, ok := s.objectUpdate(f, id, look); ok {
			fu.ObjectSet = append(fu.ObjectSet, u)
			*budget--
		}
	}
	return fu, false
}

// syncGraph brings f's object graph up to date with the objects queued in
// f.report, registers watches for the objects that entered it and drops
// those of the objects that left, and queues both for reporting.
//
// The graph reads objects before their watches exist; a commit in between
// would go unseen. So the registry version is read before and checked
// after: if it moved, the objects that entered are refreshed again (cheap
// when they did not change) until a pass sees no commit.
func (s *Service) syncGraph(f *filter, look lookupFunc) {
	c := s.pc
	v0 := s.reg.Version()
	switch {
	case f.g == nil:
		f.g = newGraph(f.plan.children, false)
		for _, r := range f.plan.roots {
			f.g.addRoot(node{id: r.obj.Value, sel: r.sel}, look)
		}
	case f.report.len() > 0:
		f.g.refresh(f.report.ids[f.report.head:], look)
	}
	if f.g.stale {
		s.rebuildGraph(f, look)
	}
	for {
		touched := f.g.takeTouched()
		if len(touched) == 0 {
			return
		}
		var entered []string
		c.mu.Lock()
		for _, id := range touched {
			if f.g.has(id) {
				c.watchLocked(id, f)
				entered = append(entered, id)
			} else {
				c.unwatchLocked(id, f)
			}
		}
		c.mu.Unlock()
		for _, id := range touched {
			f.report.push(id)
		}
		v1 := s.reg.Version()
		if v1 == v0 {
			return
		}
		v0 = v1
		f.g.refresh(entered, look)
	}
}

// rebuildGraph recomputes f's graph from its roots, for a graph that may
// have kept unreachable nodes; every object that was or is in it is queued
// for reporting (unchanged ones cost a pointer comparison).
func (s *Service) rebuildGraph(f *filter, look lookupFunc) {
	old := f.g
	f.g = newGraph(f.plan.children, false)
	for _, r := range f.plan.roots {
		f.g.addRoot(node{id: r.obj.Value, sel: r.sel}, look)
	}
	for id := range old.byObj {
		if !f.g.has(id) {
			f.g.touch(id)
		}
	}
}

// objectUpdate returns the update due for object id in f, if any: enter for
// an object that joined the reported set, modify with the changed
// properties, leave for one that left it. col.run must be held.
func (s *Service) objectUpdate(f *filter, id string, look lookupFunc) (types.ObjectUpdate, bool) {
	obj := look(id)
	var tp *typeProps
	want := obj != nil && f.reported(id)
	if want {
		tp = f.plan.selected(obj.Reference().Type)
		want = tp.matched
	}
	prev, had := f.members[id]
	switch {
	case want && !had:
		f.members[id] = obj
		return enterUpdate(obj, tp), true
	case want && prev != obj:
		f.members[id] = obj
		return modifyUpdate(prev, obj, tp, f.partial)
	case !want && had:
		delete(f.members, id)
		return types.ObjectUpdate{Kind: types.ObjectUpdateKindLeave, Obj: prev.Reference()}, true
	}
	return types.ObjectUpdate{}, false
}

// reported says whether object id is reached through a selector that does
// not skip it.
func (f *filter) reported(id string) bool {
	for _, sel := range f.g.sels(id) {
		if !f.plan.sels[sel].skip {
			return true
		}
	}
	return false
}
