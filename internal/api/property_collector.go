package api

import (
	"context"
	"sort"
	"sync"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// maxPages bounds the unread RetrievePropertiesEx continuations a collector
// keeps; the oldest is dropped first.
const maxPages = 64

// collectors holds the PropertyCollector state of every session: the
// collectors a session uses (the shared singleton has one state per
// session), their filters, paged retrievals in progress, and the index from
// object to the filters that watch it, so that a committed change costs work
// in proportion to the filters that see it. It also owns the sessions'
// views, which feed collectors.
//
// Lock order: collector.run, then collectors.mu, then the registry's read
// lock. The registry's commit path (onCommit) takes collectors.mu only.
type collectors struct {
	svc   *Service
	views *views

	// mu guards byKey, filters, watchers, seq, and the fields documented as
	// guarded by collectors.mu in collector and filter.
	mu       sync.Mutex
	byKey    map[pcKey]*collector
	filters  map[string]*filter
	watchers map[string]map[*filter]struct{}
	seq      uint64
}

// pcKey names one session's state of one collector.
type pcKey struct {
	session string
	pc      string
}

// collector is one session's state of one PropertyCollector.
type collector struct {
	ref types.ManagedObjectReference
	key pcKey

	// Guarded by collectors.mu: the filters, the channel closed to wake
	// waiters when a filter has something new, the channel closed by
	// CancelWaitForUpdates, and whether the collector was destroyed.
	filters map[string]*filter
	wake    chan struct{}
	cancel  chan struct{}
	gone    bool

	// run serializes retrievals and update computations on the collector
	// and guards the fields below and the filters' evaluation state.
	run sync.Mutex
	// version is the data version last returned by a WaitForUpdates call.
	version uint64
	// pages holds unread RetrievePropertiesEx results by token, oldest
	// first in pageOrder.
	pages     map[string]*page
	pageOrder []string
}

// page is the unread rest of a RetrievePropertiesEx result.
type page struct {
	rest []types.ObjectContent
	// max is the maxObjects of the retrieval that started it; every
	// continuation returns pages of that size.
	max int
}

func newCollectors(s *Service) *collectors {
	c := &collectors{svc: s, byKey: map[pcKey]*collector{}, filters: map[string]*filter{},
		watchers: map[string]map[*filter]struct{}{}}
	c.views = newViews(s)
	s.reg.Subscribe(c.onCommit)
	s.reg.AddHook(c.views.hook)
	s.sessions.OnEnd(c.endSession)
	return c
}

func (s *Service) registerPropertyCollector(t *soap.Table) {
	soap.Register(t, "PropertyCollector", "RetrieveProperties", s.retrieveProperties)
	soap.Register(t, "PropertyCollector", "RetrievePropertiesEx", s.retrievePropertiesEx)
	soap.Register(t, "PropertyCollector", "ContinueRetrievePropertiesEx", s.continueRetrievePropertiesEx)
	soap.Register(t, "PropertyCollector", "CancelRetrievePropertiesEx", s.cancelRetrievePropertiesEx)
	soap.Register(t, "PropertyCollector", "CreateFilter", s.createFilter)
	soap.Register(t, "PropertyFilter", "DestroyPropertyFilter", s.destroyPropertyFilter)
	soap.Register(t, "PropertyCollector", "WaitForUpdatesEx", s.waitForUpdatesEx)
	soap.Register(t, "PropertyCollector", "WaitForUpdates", s.waitForUpdates)
	soap.Register(t, "PropertyCollector", "CheckForUpdates", s.checkForUpdates)
	soap.Register(t, "PropertyCollector", "CancelWaitForUpdates", s.cancelWaitForUpdates)
	soap.Register(t, "PropertyCollector", "CreatePropertyCollector", s.createPropertyCollector)
	soap.Register(t, "PropertyCollector", "DestroyPropertyCollector", s.destroyPropertyCollector)
	t.Anonymous("RetrieveProperties")
}

// collector returns the state of ctx.This for ctx's session, creating the
// session's state of the shared collector on first use. It fails with
// ManagedObjectNotFound for another session's collector or a destroyed one.
func (c *collectors) collector(ctx *soap.Context) (*collector, error) {
	if !visible(ctx.This.Value, ctx.Session) {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := pcKey{session: sessionKey(ctx.Session), pc: ctx.This.Value}
	col := c.byKey[k]
	if col == nil {
		col = newCollector(ctx.This, k)
		c.byKey[k] = col
	}
	return col, nil
}

func newCollector(ref types.ManagedObjectReference, k pcKey) *collector {
	return &collector{ref: ref, key: k, filters: map[string]*filter{},
		wake: make(chan struct{}), cancel: make(chan struct{}), pages: map[string]*page{}}
}

func sessionKey(s *session.Session) string {
	if s == nil {
		return ""
	}
	return s.Key
}

// --- retrieval -------------------------------------------------------------

func (s *Service) retrieveProperties(ctx *soap.Context, req *types.RetrieveProperties) (any, error) {
	objs, err := s.retrieve(ctx, req.SpecSet)
	if err != nil {
		return nil, err
	}
	if ctx.Session == nil {
		withholdAnonymous(objs)
	}
	return &types.RetrievePropertiesResponse{Returnval: objs}, nil
}

// withholdAnonymous answers a RetrieveProperties made without a session as
// vCenter does: the objects are named, but every property other than the
// ServiceInstance's is reported in missingSet as NotAuthenticated.
func withholdAnonymous(objs []types.ObjectContent) {
	for i := range objs {
		oc := &objs[i]
		if oc.Obj.Type == ServiceInstanceRef.Type {
			continue
		}
		for _, p := range oc.PropSet {
			oc.MissingSet = append(oc.MissingSet, types.MissingProperty{Path: p.Name, Fault: types.LocalizedMethodFault{
				Fault:            &types.NotAuthenticated{NoPermission: types.NoPermission{Object: &oc.Obj, PrivilegeId: "System.View"}},
				LocalizedMessage: "The session is not authenticated.",
			}})
		}
		oc.PropSet = nil
	}
}

func (s *Service) retrievePropertiesEx(ctx *soap.Context, req *types.RetrievePropertiesEx) (any, error) {
	max := int(req.Options.MaxObjects)
	if max < 0 {
		return nil, vim.InvalidArgument("options.maxObjects", "maxObjects must be positive or unset, not %d.", max)
	}
	col, err := s.pc.collector(ctx)
	if err != nil {
		return nil, err
	}
	objs, err := s.retrieve(ctx, req.SpecSet)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return &types.RetrievePropertiesExResponse{}, nil
	}
	res := col.nextPage(&page{rest: objs, max: max})
	return &types.RetrievePropertiesExResponse{Returnval: &res}, nil
}

// nextPage returns the next page of pg, saving the rest under a new token.
func (col *collector) nextPage(pg *page) types.RetrieveResult {
	if pg.max <= 0 || len(pg.rest) <= pg.max {
		return types.RetrieveResult{Objects: pg.rest}
	}
	res := types.RetrieveResult{Objects: pg.rest[:pg.max:pg.max], Token: uuid.NewString()}
	col.run.Lock()
	defer col.run.Unlock()
	col.pages[res.Token] = &page{rest: pg.rest[pg.max:], max: pg.max}
	col.pageOrder = append(col.pageOrder, res.Token)
	for len(col.pageOrder) > maxPages {
		delete(col.pages, col.pageOrder[0])
		col.pageOrder = col.pageOrder[1:]
	}
	return res
}

// takePage removes and returns the page saved under token.
func (col *collector) takePage(token string) (*page, error) {
	col.run.Lock()
	defer col.run.Unlock()
	pg, ok := col.pages[token]
	if !ok {
		return nil, vim.NewFault(&types.InvalidProperty{Name: "token"},
			"The retrieval token %q is unknown, already used, or expired; start again with RetrievePropertiesEx.", token)
	}
	delete(col.pages, token)
	for i, t := range col.pageOrder {
		if t == token {
			col.pageOrder = append(col.pageOrder[:i], col.pageOrder[i+1:]...)
			break
		}
	}
	return pg, nil
}

func (s *Service) continueRetrievePropertiesEx(ctx *soap.Context, req *types.ContinueRetrievePropertiesEx) (any, error) {
	col, err := s.pc.collector(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := col.takePage(req.Token)
	if err != nil {
		return nil, err
	}
	return &types.ContinueRetrievePropertiesExResponse{Returnval: col.nextPage(pg)}, nil
}

func (s *Service) cancelRetrievePropertiesEx(ctx *soap.Context, req *types.CancelRetrievePropertiesEx) (any, error) {
	col, err := s.pc.collector(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := col.takePage(req.Token); err != nil {
		return nil, err
	}
	return &types.CancelRetrievePropertiesExResponse{}, nil
}

// retrieve evaluates filter specs against the current inventory. Objects
// selected by several specs are reported once, with the union of the
// properties every spec selects for their type, as the vSphere API asks.
func (s *Service) retrieve(ctx *soap.Context, specs []types.PropertyFilterSpec) ([]types.ObjectContent, error) {
	p, err := compilePlan(specs)
	if err != nil {
		return nil, err
	}
	objs, missing := p.walk(s.lookup(ctx))
	if len(missing) > 0 {
		return nil, vim.ManagedObjectNotFound(missing[0])
	}
	out := make([]types.ObjectContent, 0, len(objs))
	for _, o := range objs {
		if tp := p.selected(o.Reference().Type); tp.matched {
			out = append(out, objectContent(o, tp))
		}
	}
	return out, nil
}

// lookup returns the function that finds objects as ctx's session sees them.
func (s *Service) lookup(ctx *soap.Context) lookupFunc {
	return func(id string) mo.Reference { return s.live(ctx, id) }
}

// live returns the object with MoRef value id as ctx's session sees it, or
// nil: another session's session-scoped objects (filters, views, created
// collectors) are invisible, and objects whose properties depend on the
// caller (SessionManager.currentSession, PropertyCollector.filter,
// ViewManager.viewList) are computed for it.
func (s *Service) live(ctx *soap.Context, id string) mo.Reference {
	o := s.reg.Lookup(id)
	if o == nil || !visible(id, ctx.Session) {
		return nil
	}
	switch v := o.(type) {
	case sessionView:
		return v.forSession(ctx)
	case *mo.PropertyCollector:
		return s.pc.forSession(ctx, v)
	case *mo.ViewManager:
		return s.pc.views.forSession(ctx, v)
	}
	return o
}

// sessionView is implemented by objects whose properties depend on the caller.
type sessionView interface {
	forSession(ctx *soap.Context) mo.Reference
}

// forSession returns pc with its filter property listing the filters ctx's
// session created on it.
func (c *collectors) forSession(ctx *soap.Context, pc *mo.PropertyCollector) mo.Reference {
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.byKey[pcKey{session: sessionKey(ctx.Session), pc: pc.Self.Value}]
	if col == nil || len(col.filters) == 0 {
		return pc
	}
	v := &mo.PropertyCollector{Self: pc.Self}
	for _, f := range sortedFilters(col) {
		v.Filter = append(v.Filter, f.ref)
	}
	return v
}

// sortedFilters returns col's filters in creation order. collectors.mu must
// be held.
func sortedFilters(col *collector) []*filter {
	out := make([]*filter, 0, len(col.filters))
	for _, f := range col.filters {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// --- collectors --------------------------------------------------------------

func (s *Service) createPropertyCollector(ctx *soap.Context, _ *types.CreatePropertyCollector) (any, error) {
	ref := newSessionRef("PropertyCollector", ctx.Session)
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		tx.Create(&mo.PropertyCollector{Self: ref}, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	k := pcKey{session: sessionKey(ctx.Session), pc: ref.Value}
	s.pc.mu.Lock()
	s.pc.byKey[k] = newCollector(ref, k)
	s.pc.mu.Unlock()
	return &types.CreatePropertyCollectorResponse{Returnval: ref}, nil
}

func (s *Service) destroyPropertyCollector(ctx *soap.Context, _ *types.DestroyPropertyCollector) (any, error) {
	if ctx.This.Value == PropertyCollectorRef.Value {
		return nil, vim.InvalidArgument("_this", "The session's default PropertyCollector cannot be destroyed; destroy its filters instead.")
	}
	col, err := s.pc.collector(ctx)
	if err != nil {
		return nil, err
	}
	dead := s.pc.dropCollector(col)
	if err := s.deleteObjects(ctx, append(dead, col.ref)); err != nil {
		return nil, err
	}
	return &types.DestroyPropertyCollectorResponse{}, nil
}

// dropCollector forgets col and its filters, fails its waiters, and returns
// the filters' MoRefs for the caller to delete from the registry.
func (c *collectors) dropCollector(col *collector) []types.ManagedObjectReference {
	col.run.Lock()
	defer col.run.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	var refs []types.ManagedObjectReference
	for _, f := range sortedFilters(col) {
		c.removeFilterLocked(f)
		refs = append(refs, f.ref)
	}
	if !col.gone {
		col.gone = true
		close(col.cancel)
	}
	delete(c.byKey, col.key)
	col.pages, col.pageOrder = map[string]*page{}, nil
	return refs
}

// deleteObjects removes session-scoped objects from the registry.
func (s *Service) deleteObjects(ctx *soap.Context, refs []types.ManagedObjectReference) error {
	if len(refs) == 0 {
		return nil
	}
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		for _, r := range refs {
			tx.Delete(r)
		}
		return nil
	})
}

// endSession drops everything a session owned: its collectors' state and
// filters, the collectors it created, and its views.
func (c *collectors) endSession(sess *session.Session) {
	c.mu.Lock()
	var cols []*collector
	for k, col := range c.byKey {
		if k.session == sess.Key {
			cols = append(cols, col)
		}
	}
	c.mu.Unlock()
	var dead []types.ManagedObjectReference
	for _, col := range cols {
		dead = append(dead, c.dropCollector(col)...)
		if col.ref.Value != PropertyCollectorRef.Value {
			dead = append(dead, col.ref)
		}
	}
	scope := sessionScope(sess)
	err := c.svc.reg.Update(context.Background(), func(tx *inventory.Txn) error {
		for _, r := range dead {
			tx.Delete(r)
		}
		c.views.dropSessionTxn(tx, scope)
		return nil
	})
	if err != nil {
		c.svc.log.Error("drop session objects", "session", scope, "err", err)
	}
}
