package api

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// defaultMaxObjectUpdates bounds one WaitForUpdatesEx reply when the client
// sets no maxObjectUpdates ("the server may choose a limit"; vCenter uses 100).
const defaultMaxObjectUpdates = 100

// collectors holds the PropertyCollector state of every session: the
// collectors a session created, their filters, paged retrievals in progress,
// and the index from object to the filters that watch it, so a change costs
// work in proportion to the filters that see it.
type collectors struct {
	svc *Service

	// mu guards every collector, filter and the index.
	mu sync.Mutex
	// byRef maps a collector's MoRef value (per session for the shared
	// singleton) to its state.
	byKey map[pcKey]*collector
	// watchers maps an object id to the filters whose object set holds it.
	watchers map[string]map[*filter]struct{}
	// filters maps a filter's MoRef value to the filter.
	filters map[string]*filter
}

type pcKey struct {
	session string
	pc      string
}

type collector struct {
	ref     types.ManagedObjectReference
	session string
	filters map[string]*filter
	// version is the last version reported by WaitForUpdatesEx.
	version uint64
	// wake is closed and replaced when a filter of this collector changes.
	wake chan struct{}
	// cancel is closed by CancelWaitForUpdates.
	cancel chan struct{}
	// pages holds unread RetrievePropertiesEx results by token.
	pages map[string][]types.ObjectContent
	// waiting counts WaitForUpdatesEx calls in progress.
	waiting int
}

type filter struct {
	ref     types.ManagedObjectReference
	c       *collector
	spec    types.PropertyFilterSpec
	partial bool
	// members maps each object in the filter's set to what was last reported
	// for it; nil until the first report.
	members map[string]*reported
	// order keeps members in traversal order for stable replies.
	order []types.ManagedObjectReference
	// changed lists members modified since the last report.
	changed map[string]struct{}
	// recompute says the object set may have changed.
	recompute bool
	// initial says nothing was reported yet.
	initial bool
	// hops lists the (type, property) pairs the filter traverses; a change
	// of such a property on a member may change the object set.
	hops []hop
}

type hop struct{ typ, path string }

type reported struct {
	obj   mo.Reference
	props map[string]any
}

func newCollectors(s *Service) *collectors {
	c := &collectors{svc: s, byKey: map[pcKey]*collector{},
		watchers: map[string]map[*filter]struct{}{}, filters: map[string]*filter{}}
	s.reg.Subscribe(c.onCommit)
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

// collectorFor returns the state of the collector ctx.This for ctx's session.
// c.mu must be held.
func (c *collectors) collectorLocked(ctx *soap.Context) *collector {
	k := pcKey{session: sessionKey(ctx.Session), pc: ctx.This.Value}
	col := c.byKey[k]
	if col == nil {
		col = &collector{ref: ctx.This, session: k.session, filters: map[string]*filter{},
			wake: make(chan struct{}), cancel: make(chan struct{}), pages: map[string][]types.ObjectContent{}}
		c.byKey[k] = col
	}
	return col
}

func sessionKey(s *session.Session) string {
	if s == nil {
		return ""
	}
	return s.Key
}

// --- retrieval -------------------------------------------------------------

func (s *Service) retrieveProperties(ctx *soap.Context, req *types.RetrieveProperties) (any, error) {
	objs, err := s.collect(ctx, req.SpecSet)
	if err != nil {
		return nil, err
	}
	return &types.RetrievePropertiesResponse{Returnval: objs}, nil
}

func (s *Service) retrievePropertiesEx(ctx *soap.Context, req *types.RetrievePropertiesEx) (any, error) {
	objs, err := s.collect(ctx, req.SpecSet)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return &types.RetrievePropertiesExResponse{}, nil
	}
	res := &types.RetrieveResult{Objects: objs}
	if max := int(req.Options.MaxObjects); max > 0 && len(objs) > max {
		res.Objects = objs[:max]
		res.Token = s.pc.savePage(ctx, objs[max:])
	}
	return &types.RetrievePropertiesExResponse{Returnval: res}, nil
}

func (c *collectors) savePage(ctx *soap.Context, rest []types.ObjectContent) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.collectorLocked(ctx)
	tok := uuid.NewString()
	col.pages[tok] = rest
	return tok
}

func (s *Service) continueRetrievePropertiesEx(ctx *soap.Context, req *types.ContinueRetrievePropertiesEx) (any, error) {
	c := s.pc
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.collectorLocked(ctx)
	rest, ok := col.pages[req.Token]
	if !ok {
		return nil, vim.InvalidArgument("token", "Unknown or expired retrieval token %q.", req.Token)
	}
	delete(col.pages, req.Token)
	// Pages after the first keep the size of the first: clients ask for the
	// next page with the same maxObjects.
	res := &types.RetrieveResult{Objects: rest}
	if len(rest) > defaultMaxObjectUpdates*10 {
		res.Objects = rest[:defaultMaxObjectUpdates*10]
		tok := uuid.NewString()
		col.pages[tok] = rest[defaultMaxObjectUpdates*10:]
		res.Token = tok
	}
	return &types.ContinueRetrievePropertiesExResponse{Returnval: *res}, nil
}

func (s *Service) cancelRetrievePropertiesEx(ctx *soap.Context, req *types.CancelRetrievePropertiesEx) (any, error) {
	c := s.pc
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.collectorLocked(ctx)
	if _, ok := col.pages[req.Token]; !ok {
		return nil, vim.InvalidArgument("token", "Unknown or expired retrieval token %q.", req.Token)
	}
	delete(col.pages, req.Token)
	return &types.CancelRetrievePropertiesExResponse{}, nil
}

// collect evaluates filter specs against the current inventory.
func (s *Service) collect(ctx *soap.Context, specs []types.PropertyFilterSpec) ([]types.ObjectContent, error) {
	var out []types.ObjectContent
	for i := range specs {
		members, err := s.members(ctx, &specs[i])
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			oc, err := s.objectContent(ctx, m, specs[i].PropSet)
			if err != nil {
				return nil, err
			}
			if oc != nil {
				out = append(out, *oc)
			}
		}
	}
	return out, nil
}

// live returns the published object, as seen by ctx's session where that
// matters (SessionManager.currentSession).
func (s *Service) live(ctx *soap.Context, id string) mo.Reference {
	o := s.reg.Lookup(id)
	if d, ok := o.(sessionView); ok {
		return d.forSession(ctx)
	}
	return o
}

// sessionView is implemented by objects whose properties depend on the caller.
type sessionView interface {
	forSession(ctx *soap.Context) mo.Reference
}

// objectContent returns the selected properties of obj, or nil when no
// PropertySpec applies to its type.
func (s *Service) objectContent(ctx *soap.Context, obj mo.Reference, props []types.PropertySpec) (*types.ObjectContent, error) {
	paths, all, any := selectedPaths(obj, props)
	if !any {
		return nil, nil
	}
	oc := &types.ObjectContent{Obj: obj.Reference()}
	if all {
		paths = allPaths(obj)
	}
	for _, p := range paths {
		v, ok := vim.Property(obj, p)
		if !ok {
			if !vim.HasProperty(obj, p) {
				return nil, vim.InvalidProperty(p)
			}
			oc.MissingSet = append(oc.MissingSet, types.MissingProperty{Path: p,
				Fault: types.LocalizedMethodFault{Fault: &types.InvalidProperty{Name: p}, LocalizedMessage: "Invalid property: " + p}})
			continue
		}
		if v == nil {
			continue
		}
		oc.PropSet = append(oc.PropSet, types.DynamicProperty{Name: p, Val: vim.AnyValue(v)})
	}
	return oc, nil
}

// selectedPaths returns the property paths props select for obj's type.
func selectedPaths(obj mo.Reference, props []types.PropertySpec) (paths []string, all, matched bool) {
	typ := obj.Reference().Type
	seen := map[string]bool{}
	for _, ps := range props {
		if !inventory.IsA(typ, ps.Type) {
			continue
		}
		matched = true
		if ps.All != nil && *ps.All {
			all = true
		}
		for _, p := range ps.PathSet {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	return paths, all, matched
}

var allPathCache sync.Map // reflect.Type -> []string

// allPaths lists every top-level property name of obj's type.
func allPaths(obj mo.Reference) []string {
	t := reflect.TypeOf(obj)
	if v, ok := allPathCache.Load(t); ok {
		return v.([]string)
	}
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				if f.Type.PkgPath() == reflect.TypeFor[mo.ManagedEntity]().PkgPath() {
					walk(f.Type)
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				names = append(names, name)
			}
		}
	}
	walk(t)
	allPathCache.Store(t, names)
	return names
}

// members resolves a filter spec's object set: the starting objects and
// everything reached through its traversal specs, in traversal order.
func (s *Service) members(ctx *soap.Context, spec *types.PropertyFilterSpec) ([]mo.Reference, error) {
	named := map[string]*types.TraversalSpec{}
	var index func(sel []types.BaseSelectionSpec)
	index = func(sel []types.BaseSelectionSpec) {
		for _, b := range sel {
			if ts, ok := b.(*types.TraversalSpec); ok {
				if ts.Name != "" {
					if _, dup := named[ts.Name]; dup {
						continue
					}
					named[ts.Name] = ts
				}
				index(ts.SelectSet)
			}
		}
	}
	for _, os := range spec.ObjectSet {
		index(os.SelectSet)
	}
	var out []mo.Reference
	seen := map[string]bool{}
	visited := map[[2]string]bool{}
	add := func(o mo.Reference) {
		id := o.Reference().Value
		if !seen[id] {
			seen[id] = true
			out = append(out, o)
		}
	}
	var walk func(o mo.Reference, sel []types.BaseSelectionSpec)
	walk = func(o mo.Reference, sel []types.BaseSelectionSpec) {
		for _, b := range sel {
			var ts *types.TraversalSpec
			switch v := b.(type) {
			case *types.TraversalSpec:
				ts = v
			default:
				ts = named[b.GetSelectionSpec().Name]
			}
			if ts == nil {
				continue
			}
			if !inventory.IsA(o.Reference().Type, ts.Type) {
				continue
			}
			k := [2]string{o.Reference().Value, ts.Name + "\x00" + ts.Path}
			if ts.Name != "" {
				if visited[k] {
					continue
				}
				visited[k] = true
			}
			v, ok := vim.Property(o, ts.Path)
			if !ok || v == nil {
				continue
			}
			for _, r := range refsOf(v) {
				next := s.live(ctx, r.Value)
				if next == nil {
					continue
				}
				if ts.Skip == nil || !*ts.Skip {
					add(next)
				}
				walk(next, ts.SelectSet)
			}
		}
	}
	for _, os := range spec.ObjectSet {
		o := s.live(ctx, os.Obj.Value)
		if o == nil || !inventory.IsA(o.Reference().Type, os.Obj.Type) && os.Obj.Type != "" {
			if spec.ReportMissingObjectsInResults != nil && *spec.ReportMissingObjectsInResults {
				continue
			}
			return nil, vim.ManagedObjectNotFound(os.Obj)
		}
		if os.Skip == nil || !*os.Skip {
			add(o)
		}
		walk(o, os.SelectSet)
	}
	return out, nil
}

// refsOf returns the MoRefs in a traversal property value.
func refsOf(v any) []types.ManagedObjectReference {
	switch r := v.(type) {
	case types.ManagedObjectReference:
		return []types.ManagedObjectReference{r}
	case []types.ManagedObjectReference:
		return r
	}
	return nil
}

// --- filters and updates ---------------------------------------------------

func (s *Service) createFilter(ctx *soap.Context, req *types.CreateFilter) (any, error) {
	if _, err := s.members(ctx, &req.Spec); err != nil {
		return nil, err
	}
	c := s.pc
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.collectorLocked(ctx)
	f := &filter{
		ref:       types.ManagedObjectReference{Type: "PropertyFilter", Value: "session[" + col.session + "]" + uuid.NewString()},
		c:         col,
		spec:      req.Spec,
		partial:   req.PartialUpdates,
		recompute: true,
		initial:   true,
		changed:   map[string]struct{}{},
	}
	f.hops = hops(&req.Spec)
	col.filters[f.ref.Value] = f
	c.filters[f.ref.Value] = f
	c.signalLocked(col)
	return &types.CreateFilterResponse{Returnval: f.ref}, nil
}

func (s *Service) destroyPropertyFilter(ctx *soap.Context, req *types.DestroyPropertyFilter) (any, error) {
	c := s.pc
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.filters[ctx.This.Value]
	if !ok {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	c.removeFilterLocked(f)
	return &types.DestroyPropertyFilterResponse{}, nil
}

// removeFilterLocked forgets f. c.mu must be held.
func (c *collectors) removeFilterLocked(f *filter) {
	delete(f.c.filters, f.ref.Value)
	delete(c.filters, f.ref.Value)
	for id := range f.members {
		c.unwatchLocked(id, f)
	}
	c.signalLocked(f.c)
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

// signalLocked wakes col's waiters. c.mu must be held.
func (c *collectors) signalLocked(col *collector) {
	close(col.wake)
	col.wake = make(chan struct{})
}

// onCommit is the registry subscriber: it marks the filters a commit affects.
func (c *collectors) onCommit(_ uint64, changes []inventory.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	woken := map[*collector]bool{}
	for _, ch := range changes {
		for f := range c.watchers[ch.Ref.Value] {
			f.changed[ch.Ref.Value] = struct{}{}
			if ch.Kind != inventory.Modify || traversesFrom(f, ch) {
				f.recompute = true
			}
			woken[f.c] = true
		}
	}
	for col := range woken {
		c.signalLocked(col)
	}
}

// traversesFrom reports whether a change modified a property that f
// traverses, so f's object set must be recomputed. Objects enter a filter's
// set only through such a property of a member, so this is the only way the
// set changes.
func traversesFrom(f *filter, ch inventory.Change) bool {
	for _, h := range f.hops {
		if !inventory.IsA(ch.Ref.Type, h.typ) {
			continue
		}
		ov, _ := vim.Property(ch.Old, h.path)
		nv, _ := vim.Property(ch.New, h.path)
		if !reflect.DeepEqual(ov, nv) {
			return true
		}
	}
	return false
}

// hops lists the traversals of spec.
func hops(spec *types.PropertyFilterSpec) []hop {
	var out []hop
	seen := map[hop]bool{}
	var walk func(sel []types.BaseSelectionSpec)
	walk = func(sel []types.BaseSelectionSpec) {
		for _, b := range sel {
			ts, ok := b.(*types.TraversalSpec)
			if !ok {
				continue
			}
			h := hop{ts.Type, ts.Path}
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
				walk(ts.SelectSet)
			}
		}
	}
	for _, os := range spec.ObjectSet {
		walk(os.SelectSet)
	}
	return out
}

func (c *collectors) endSession(s *session.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, col := range c.byKey {
		if k.session != s.Key {
			continue
		}
		for _, f := range col.filters {
			c.removeFilterLocked(f)
		}
		close(col.cancel)
		delete(c.byKey, k)
	}
}

func (s *Service) waitForUpdatesEx(ctx *soap.Context, req *types.WaitForUpdatesEx) (any, error) {
	var opts types.WaitOptions
	if req.Options != nil {
		opts = *req.Options
	}
	set, err := s.wait(ctx, req.Version, opts.MaxWaitSeconds, opts.MaxObjectUpdates)
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

func (s *Service) cancelWaitForUpdates(ctx *soap.Context, req *types.CancelWaitForUpdates) (any, error) {
	c := s.pc
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.collectorLocked(ctx)
	close(col.cancel)
	col.cancel = make(chan struct{})
	return &types.CancelWaitForUpdatesResponse{}, nil
}

// wait implements WaitForUpdatesEx: it returns the changes since version, or
// blocks up to maxWait seconds (forever when nil) for some.
func (s *Service) wait(ctx *soap.Context, version string, maxWait *int32, maxUpdates int32) (*types.UpdateSet, error) {
	c := s.pc
	if maxUpdates <= 0 {
		maxUpdates = defaultMaxObjectUpdates
	}
	var timeout <-chan time.Time
	if maxWait != nil {
		t := time.NewTimer(time.Duration(*maxWait) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	c.mu.Lock()
	col := c.collectorLocked(ctx)
	if version != "" {
		if _, err := strconv.ParseUint(version, 10, 64); err != nil {
			c.mu.Unlock()
			return nil, vim.InvalidArgument("version", "Invalid update version %q.", version)
		}
	} else {
		for _, f := range col.filters {
			f.members, f.order, f.initial, f.recompute = nil, nil, true, true
		}
	}
	col.waiting++
	defer func() {
		c.mu.Lock()
		col.waiting--
		c.mu.Unlock()
	}()
	for {
		set := s.updatesLocked(ctx, col, int(maxUpdates))
		if set != nil {
			c.mu.Unlock()
			return set, nil
		}
		wake, cancel := col.wake, col.cancel
		c.mu.Unlock()
		select {
		case <-wake:
		case <-cancel:
			return nil, vim.NewFault(&types.RequestCanceled{}, "The request was canceled by CancelWaitForUpdates.")
		case <-timeout:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
	}
}

// updatesLocked computes the pending updates of col's filters, or nil if
// there are none. c.mu must be held.
func (s *Service) updatesLocked(ctx *soap.Context, col *collector, max int) *types.UpdateSet {
	var fsets []types.PropertyFilterUpdate
	truncated := false
	budget := max
	for _, f := range sortedFilters(col) {
		if budget <= 0 {
			truncated = true
			break
		}
		upd, more := s.filterUpdates(ctx, f, budget)
		if more {
			truncated = true
		}
		if len(upd) > 0 {
			budget -= len(upd)
			fsets = append(fsets, types.PropertyFilterUpdate{Filter: f.ref, ObjectSet: upd})
		}
	}
	if len(fsets) == 0 {
		return nil
	}
	col.version++
	set := &types.UpdateSet{Version: strconv.FormatUint(col.version, 10), FilterSet: fsets}
	if truncated {
		set.Truncated = types.NewBool(true)
		// Tell the next call there is more to report.
		close(col.wake)
		col.wake = make(chan struct{})
	}
	return set
}

func sortedFilters(col *collector) []*filter {
	out := make([]*filter, 0, len(col.filters))
	for _, f := range col.filters {
		out = append(out, f)
	}
	sortFilters(out)
	return out
}

// filterUpdates returns up to max object updates for f and whether more are
// pending. s.pc.mu must be held.
func (s *Service) filterUpdates(ctx *soap.Context, f *filter, max int) ([]types.ObjectUpdate, bool) {
	c := s.pc
	var out []types.ObjectUpdate
	if f.recompute {
		objs, err := s.members(ctx, &f.spec)
		if err != nil {
			objs = nil
		}
		next := make(map[string]bool, len(objs))
		for _, o := range objs {
			next[o.Reference().Value] = true
		}
		if f.members == nil {
			f.members = map[string]*reported{}
		}
		// Leaves first, then enters and modifications in traversal order.
		for _, r := range f.order {
			if !next[r.Value] {
				if _, ok := f.members[r.Value]; ok {
					out = append(out, types.ObjectUpdate{Kind: types.ObjectUpdateKindLeave, Obj: r})
					delete(f.members, r.Value)
					c.unwatchLocked(r.Value, f)
				}
			}
		}
		f.order = f.order[:0]
		for _, o := range objs {
			id := o.Reference().Value
			f.order = append(f.order, o.Reference())
			if _, ok := f.members[id]; !ok {
				f.changed[id] = struct{}{}
				c.watchLocked(id, f)
			}
		}
		f.recompute = false
	}
	more := false
	for _, r := range f.order {
		id := r.Value
		if _, ok := f.changed[id]; !ok {
			continue
		}
		if len(out) >= max {
			more = true
			break
		}
		delete(f.changed, id)
		obj := s.live(ctx, id)
		if obj == nil {
			continue
		}
		prev := f.members[id]
		if prev != nil && prev.obj == obj {
			continue
		}
		props := currentProps(obj, f.spec.PropSet)
		if props == nil {
			if prev == nil {
				f.members[id] = &reported{obj: obj}
			}
			continue
		}
		if prev == nil {
			f.members[id] = &reported{obj: obj, props: props}
			u := types.ObjectUpdate{Kind: types.ObjectUpdateKindEnter, Obj: r}
			for _, p := range sortedKeys(props) {
				u.ChangeSet = append(u.ChangeSet, types.PropertyChange{Name: p, Op: types.PropertyChangeOpAssign, Val: vim.AnyValue(props[p])})
			}
			out = append(out, u)
			continue
		}
		u := types.ObjectUpdate{Kind: types.ObjectUpdateKindModify, Obj: r}
		for _, p := range sortedKeys(props) {
			if !reflect.DeepEqual(prev.props[p], props[p]) {
				u.ChangeSet = append(u.ChangeSet, types.PropertyChange{Name: p, Op: types.PropertyChangeOpAssign, Val: vim.AnyValue(props[p])})
			}
		}
		for p := range prev.props {
			if _, ok := props[p]; !ok {
				u.ChangeSet = append(u.ChangeSet, types.PropertyChange{Name: p, Op: types.PropertyChangeOpAssign})
			}
		}
		prev.obj, prev.props = obj, props
		if len(u.ChangeSet) > 0 {
			out = append(out, u)
		}
	}
	if !more {
		for id := range f.changed {
			if _, ok := f.members[id]; !ok {
				delete(f.changed, id)
			}
		}
	}
	f.initial = false
	return out, more
}

// currentProps returns the selected property values of obj (unset ones are
// absent), or nil when no PropertySpec applies to its type.
func currentProps(obj mo.Reference, props []types.PropertySpec) map[string]any {
	paths, all, matched := selectedPaths(obj, props)
	if !matched {
		return nil
	}
	if all {
		paths = allPaths(obj)
	}
	out := make(map[string]any, len(paths))
	for _, p := range paths {
		if v, ok := vim.Property(obj, p); ok && v != nil {
			out[p] = v
		}
	}
	return out
}

func (s *Service) createPropertyCollector(ctx *soap.Context, req *types.CreatePropertyCollector) (any, error) {
	ref := types.ManagedObjectReference{Type: "PropertyCollector", Value: "session[" + sessionKey(ctx.Session) + "]" + uuid.NewString()}
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		pc := &mo.PropertyCollector{}
		pc.Self = ref
		tx.Create(pc, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.CreatePropertyCollectorResponse{Returnval: ref}, nil
}

func (s *Service) destroyPropertyCollector(ctx *soap.Context, req *types.DestroyPropertyCollector) (any, error) {
	if ctx.This == PropertyCollectorRef {
		return nil, vim.InvalidArgument("_this", "The default PropertyCollector cannot be destroyed.")
	}
	c := s.pc
	c.mu.Lock()
	k := pcKey{session: sessionKey(ctx.Session), pc: ctx.This.Value}
	if col := c.byKey[k]; col != nil {
		for _, f := range col.filters {
			c.removeFilterLocked(f)
		}
		close(col.cancel)
		delete(c.byKey, k)
	}
	c.mu.Unlock()
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		tx.Delete(ctx.This)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.DestroyPropertyCollectorResponse{}, nil
}
