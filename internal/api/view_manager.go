package api

import (
	"slices"
	"sort"
	"sync"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// views holds the sessions' ContainerViews and ListViews. A view is a
// session-scoped, in-memory registry object whose `view` property lists the
// objects it shows; a registry hook keeps that list current in the same
// transaction as the inventory change that moves an object into or out of
// it, at a cost in proportion to the change: the hook looks up only the
// changed objects in an index of the objects each view depends on.
type views struct {
	svc *Service

	// mu guards byID, byNode, seq and rebuild, and every view's state.
	mu     sync.Mutex
	byID   map[string]*view
	byNode map[string]map[*view]struct{}
	seq    uint64
	// rebuild says a transaction the hook changed views for was abandoned,
	// so every view must be recomputed at the next transaction.
	rebuild bool
}

// view is one view's state.
type view struct {
	ref   types.ManagedObjectReference
	scope string
	seq   uint64

	// A ContainerView shows the objects of types (all when empty) that g
	// reaches from container, excluding container itself.
	container types.ManagedObjectReference
	types     []string
	recursive bool
	g         *graph // nil for a ListView

	// members is the published `view` property; in holds its ids.
	members []types.ManagedObjectReference
	in      map[string]struct{}
}

func newViews(s *Service) *views {
	return &views{svc: s, byID: map[string]*view{}, byNode: map[string]map[*view]struct{}{}}
}

func (s *Service) registerViewManager(t *soap.Table) {
	soap.Register(t, "ViewManager", "CreateContainerView", s.createContainerView)
	soap.Register(t, "ViewManager", "CreateListView", s.createListView)
	soap.Register(t, "ViewManager", "CreateListViewFromView", s.createListViewFromView)
	soap.Register(t, "ListView", "ModifyListView", s.modifyListView)
	soap.Register(t, "ListView", "ResetListView", s.resetListView)
	soap.Register(t, "ListView", "ResetListViewFromView", s.resetListViewFromView)
	soap.Register(t, "View", "DestroyView", s.destroyView)
}

// containerTypes are the types a ContainerView may be rooted at.
var containerTypes = []string{"Folder", "Datacenter", "ComputeResource", "ResourcePool", "HostSystem"}

func (s *Service) createContainerView(ctx *soap.Context, req *types.CreateContainerView) (any, error) {
	c := s.live(ctx, req.Container.Value)
	if c == nil {
		return nil, vim.ManagedObjectNotFound(req.Container)
	}
	ok := false
	for _, t := range containerTypes {
		ok = ok || inventory.IsA(c.Reference().Type, t)
	}
	if !ok {
		return nil, vim.InvalidArgument("container", "A container view must be rooted at a Folder, Datacenter, ComputeResource, ResourcePool or HostSystem, not a %s.", c.Reference().Type)
	}
	for _, t := range req.Type {
		if _, known := vim.ManagedType(t); !known {
			return nil, vim.InvalidArgument("type", "%q is not a managed object type.", t)
		}
	}
	vw := &view{ref: newSessionRef("ContainerView", ctx.Session), scope: sessionScope(ctx.Session),
		container: c.Reference(), types: req.Type, recursive: req.Recursive}
	if err := s.addView(ctx, vw, nil); err != nil {
		return nil, err
	}
	return &types.CreateContainerViewResponse{Returnval: vw.ref}, nil
}

func (s *Service) createListView(ctx *soap.Context, req *types.CreateListView) (any, error) {
	vw := &view{ref: newSessionRef("ListView", ctx.Session), scope: sessionScope(ctx.Session)}
	if err := s.addView(ctx, vw, req.Obj); err != nil {
		return nil, err
	}
	return &types.CreateListViewResponse{Returnval: vw.ref}, nil
}

func (s *Service) createListViewFromView(ctx *soap.Context, req *types.CreateListViewFromView) (any, error) {
	objs, err := s.viewContents(ctx, req.View)
	if err != nil {
		return nil, err
	}
	vw := &view{ref: newSessionRef("ListView", ctx.Session), scope: sessionScope(ctx.Session)}
	if err := s.addView(ctx, vw, objs); err != nil {
		return nil, err
	}
	return &types.CreateListViewFromViewResponse{Returnval: vw.ref}, nil
}

// viewContents returns the `view` property of ctx's session's view ref.
func (s *Service) viewContents(ctx *soap.Context, ref types.ManagedObjectReference) ([]types.ManagedObjectReference, error) {
	o := s.live(ctx, ref.Value)
	v, ok := vim.Property(o, "view")
	if o == nil || !inventory.IsA(o.Reference().Type, "ManagedObjectView") || !ok {
		return nil, vim.ManagedObjectNotFound(ref)
	}
	refs, _ := v.([]types.ManagedObjectReference)
	return refs, nil
}

// addView computes vw's contents (a container view's from its container, a
// list view's from objs) and publishes it in one transaction.
func (s *Service) addView(ctx *soap.Context, vw *view, objs []types.ManagedObjectReference) error {
	v := s.pc.views
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.seq++
		vw.seq = v.seq
		if vw.list() {
			vw.in = map[string]struct{}{}
			v.setListTxn(tx, vw, objs)
		} else {
			v.computeTxn(tx, vw)
		}
		v.byID[vw.ref.Value] = vw
		tx.Create(vw.object(), false)
		tx.OnAbort(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.forgetLocked(vw)
		})
		return nil
	})
}

func (vw *view) list() bool { return vw.container.Value == "" }

// object returns vw as the registry object clients read.
func (vw *view) object() mo.Reference {
	if vw.list() {
		return &mo.ListView{ManagedObjectView: mo.ManagedObjectView{Self: vw.ref, View: vw.members}}
	}
	return &mo.ContainerView{ManagedObjectView: mo.ManagedObjectView{Self: vw.ref, View: vw.members},
		Container: vw.container, Type: vw.types, Recursive: vw.recursive}
}

func txLookup(tx *inventory.Txn) lookupFunc { return tx.Lookup }

// computeTxn (re)computes container view vw from scratch. views.mu must be
// held.
func (v *views) computeTxn(tx *inventory.Txn, vw *view) {
	if vw.g != nil {
		for id := range vw.g.byObj {
			v.unindexLocked(id, vw)
		}
	}
	vw.g = newGraph(vw.kids, true)
	vw.g.addRoot(node{id: vw.container.Value}, txLookup(tx))
	vw.members, vw.in = nil, map[string]struct{}{}
	for _, id := range vw.g.takeTouched() {
		v.indexLocked(id, vw)
		if o := tx.Lookup(id); o != nil && vw.shows(id, o) {
			vw.members = append(vw.members, o.Reference())
			vw.in[id] = struct{}{}
		}
	}
}

// setListTxn makes list view vw show the objects of objs that exist, and
// returns the others. views.mu must be held.
func (v *views) setListTxn(tx *inventory.Txn, vw *view, objs []types.ManagedObjectReference) (unresolved []types.ManagedObjectReference) {
	for id := range vw.in {
		v.unindexLocked(id, vw)
	}
	vw.members, vw.in = nil, map[string]struct{}{}
	return v.addListTxn(tx, vw, objs)
}

// addListTxn adds objs to list view vw and returns those that do not exist.
// views.mu must be held.
func (v *views) addListTxn(tx *inventory.Txn, vw *view, objs []types.ManagedObjectReference) (unresolved []types.ManagedObjectReference) {
	members := slices.Clip(vw.members)
	for _, r := range objs {
		o := tx.Lookup(r.Value)
		if o == nil || !visibleScope(r.Value, vw.scope) {
			unresolved = append(unresolved, r)
			continue
		}
		if _, dup := vw.in[r.Value]; dup {
			continue
		}
		members = append(members, o.Reference())
		vw.in[r.Value] = struct{}{}
		v.indexLocked(r.Value, vw)
	}
	vw.members = members
	return unresolved
}

// visibleScope reports whether an object is visible to the session of scope.
func visibleScope(id, scope string) bool {
	s, ok := refScope(id)
	return !ok || s == scope
}

// shows says whether a container view lists object o (with MoRef value id)
// once its graph reaches it.
func (vw *view) shows(id string, o mo.Reference) bool {
	if id == vw.container.Value {
		return false
	}
	if len(vw.types) == 0 {
		return true
	}
	for _, t := range vw.types {
		if inventory.IsA(o.Reference().Type, t) {
			return true
		}
	}
	return false
}

// kids lists what a container view reaches from obj in one step, following
// the containment vCenter's views use: a folder's childEntity, a
// datacenter's four folders, a compute resource's hosts and root pool, a
// resource pool's (or vApp's) child pools and VMs, a host's VMs. Objects
// reached by a non-recursive view get selector 1 and are not expanded.
func (vw *view) kids(obj mo.Reference, sel int32, add func(node)) {
	if sel != 0 {
		return
	}
	next := int32(1)
	if vw.recursive {
		next = 0
	}
	each := func(refs ...types.ManagedObjectReference) {
		for _, r := range refs {
			if r.Value != "" {
				add(node{id: r.Value, sel: next})
			}
		}
	}
	switch o := obj.(type) {
	case *mo.Folder:
		each(o.ChildEntity...)
	case *mo.StoragePod:
		each(o.ChildEntity...)
	case *mo.Datacenter:
		each(o.VmFolder, o.HostFolder, o.DatastoreFolder, o.NetworkFolder)
	case *mo.ComputeResource:
		each(o.Host...)
		each(derefs(o.ResourcePool)...)
	case *mo.ClusterComputeResource:
		each(o.Host...)
		each(derefs(o.ResourcePool)...)
	case *mo.ResourcePool:
		each(o.ResourcePool...)
		each(o.Vm...)
	case *mo.VirtualApp:
		each(o.ResourcePool.ResourcePool...)
		each(o.Vm...)
	case *mo.HostSystem:
		each(o.Vm...)
	default:
		// Objects of other Go types (wrappers of mo structs) by property.
		for _, p := range containmentPaths(obj.Reference().Type) {
			v, _ := vim.Property(obj, p)
			forEachRef(v, func(r types.ManagedObjectReference) { each(r) })
		}
	}
}

func derefs(r *types.ManagedObjectReference) []types.ManagedObjectReference {
	if r == nil {
		return nil
	}
	return []types.ManagedObjectReference{*r}
}

// containmentPaths returns the properties a container view follows from
// objects of type typ.
func containmentPaths(typ string) []string {
	switch {
	case inventory.IsA(typ, "Folder"):
		return []string{"childEntity"}
	case inventory.IsA(typ, "Datacenter"):
		return []string{"vmFolder", "hostFolder", "datastoreFolder", "networkFolder"}
	case inventory.IsA(typ, "ComputeResource"):
		return []string{"host", "resourcePool"}
	case inventory.IsA(typ, "ResourcePool"):
		return []string{"resourcePool", "vm"}
	case inventory.IsA(typ, "HostSystem"):
		return []string{"vm"}
	}
	return nil
}

func (v *views) indexLocked(id string, vw *view) {
	m := v.byNode[id]
	if m == nil {
		m = map[*view]struct{}{}
		v.byNode[id] = m
	}
	m[vw] = struct{}{}
}

func (v *views) unindexLocked(id string, vw *view) {
	if m := v.byNode[id]; m != nil {
		delete(m, vw)
		if len(m) == 0 {
			delete(v.byNode, id)
		}
	}
}

// forgetLocked drops vw's state. views.mu must be held.
func (v *views) forgetLocked(vw *view) {
	delete(v.byID, vw.ref.Value)
	if vw.g != nil {
		for id := range vw.g.byObj {
			v.unindexLocked(id, vw)
		}
	}
	for id := range vw.in {
		v.unindexLocked(id, vw)
	}
}

// hook is the registry hook that keeps views current: for each object the
// transaction changed, the views whose graph or list holds it are updated,
// and those whose contents changed are republished in the transaction.
func (v *views) hook(tx *inventory.Txn) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.byID) == 0 {
		v.rebuild = false
		return nil
	}
	changed := map[*view][]string{}
	var order []*view
	if v.rebuild {
		v.rebuild = false
		for _, vw := range v.byID {
			order = append(order, vw)
			changed[vw] = nil
		}
	} else {
		for _, ch := range tx.Changes() {
			if ch.Ref.Type == "ContainerView" || ch.Ref.Type == "ListView" {
				continue
			}
			for vw := range v.byNode[ch.Ref.Value] {
				if _, ok := changed[vw]; !ok {
					order = append(order, vw)
				}
				changed[vw] = append(changed[vw], ch.Ref.Value)
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	tx.OnAbort(func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.rebuild = true
	})
	for _, vw := range order {
		if tx.Lookup(vw.ref.Value) == nil {
			continue // deleted in this transaction
		}
		before := vw.members
		if ids := changed[vw]; ids == nil {
			v.recomputeTxn(tx, vw)
		} else {
			v.updateTxn(tx, vw, ids)
		}
		if !slices.Equal(before, vw.members) {
			tx.Create(vw.object(), false)
		}
	}
	return nil
}

// recomputeTxn recomputes vw from scratch.
func (v *views) recomputeTxn(tx *inventory.Txn, vw *view) {
	if !vw.list() {
		v.computeTxn(tx, vw)
		return
	}
	v.setListTxn(tx, vw, vw.members)
}

// updateTxn applies the changes of objects ids to vw. views.mu must be held.
func (v *views) updateTxn(tx *inventory.Txn, vw *view, ids []string) {
	if vw.list() {
		var gone map[string]bool
		for _, id := range ids {
			if tx.Lookup(id) == nil {
				if gone == nil {
					gone = map[string]bool{}
				}
				gone[id] = true
				delete(vw.in, id)
				v.unindexLocked(id, vw)
			}
		}
		if gone != nil {
			vw.members = slices.DeleteFunc(slices.Clone(vw.members), func(r types.ManagedObjectReference) bool { return gone[r.Value] })
		}
		return
	}
	vw.g.refresh(ids, txLookup(tx))
	candidates := append(vw.g.takeTouched(), ids...)
	var add []types.ManagedObjectReference
	var drop map[string]bool
	for _, id := range candidates {
		o := tx.Lookup(id)
		present := vw.g.has(id)
		if present {
			v.indexLocked(id, vw)
		} else {
			v.unindexLocked(id, vw)
		}
		_, in := vw.in[id]
		want := present && o != nil && vw.shows(id, o)
		switch {
		case want && !in:
			vw.in[id] = struct{}{}
			add = append(add, o.Reference())
		case !want && in:
			delete(vw.in, id)
			if drop == nil {
				drop = map[string]bool{}
			}
			drop[id] = true
		}
	}
	if drop == nil && add == nil {
		return
	}
	members := slices.Clone(vw.members)
	if drop != nil {
		members = slices.DeleteFunc(members, func(r types.ManagedObjectReference) bool { return drop[r.Value] })
	}
	vw.members = append(members, add...)
}

// dropSessionTxn deletes the views of the session with scope in tx.
func (v *views) dropSessionTxn(tx *inventory.Txn, scope string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, vw := range v.byID {
		if vw.scope == scope {
			v.forgetLocked(vw)
			tx.Delete(vw.ref)
		}
	}
}

// forSession returns vm with its viewList listing ctx's session's views.
func (v *views) forSession(ctx *soap.Context, vm *mo.ViewManager) mo.Reference {
	scope := sessionScope(ctx.Session)
	v.mu.Lock()
	var mine []*view
	for _, vw := range v.byID {
		if vw.scope == scope {
			mine = append(mine, vw)
		}
	}
	v.mu.Unlock()
	if len(mine) == 0 {
		return vm
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].seq < mine[j].seq })
	c := &mo.ViewManager{Self: vm.Self}
	for _, vw := range mine {
		c.ViewList = append(c.ViewList, vw.ref)
	}
	return c
}

// ownView returns ctx's session's view ctx.This.
func (s *Service) ownView(ctx *soap.Context) (*view, error) {
	v := s.pc.views
	v.mu.Lock()
	defer v.mu.Unlock()
	vw := v.byID[ctx.This.Value]
	if vw == nil || vw.scope != sessionScope(ctx.Session) {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	return vw, nil
}

func (s *Service) destroyView(ctx *soap.Context, _ *types.DestroyView) (any, error) {
	vw, err := s.ownView(ctx)
	if err != nil {
		return nil, err
	}
	v := s.pc.views
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.forgetLocked(vw)
		tx.Delete(vw.ref)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.DestroyViewResponse{}, nil
}

// editList runs fn on list view ctx.This in a transaction and publishes the
// result; fn returns the objects it could not resolve.
func (s *Service) editList(ctx *soap.Context, fn func(tx *inventory.Txn, v *views, vw *view) []types.ManagedObjectReference) ([]types.ManagedObjectReference, error) {
	vw, err := s.ownView(ctx)
	if err != nil {
		return nil, err
	}
	if !vw.list() {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	v := s.pc.views
	var unresolved []types.ManagedObjectReference
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.byID[vw.ref.Value] != vw {
			return vim.ManagedObjectNotFound(vw.ref)
		}
		unresolved = fn(tx, v, vw)
		tx.Create(vw.object(), false)
		tx.OnAbort(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.rebuild = true
		})
		return nil
	})
	return unresolved, err
}

func (s *Service) modifyListView(ctx *soap.Context, req *types.ModifyListView) (any, error) {
	unresolved, err := s.editList(ctx, func(tx *inventory.Txn, v *views, vw *view) []types.ManagedObjectReference {
		var drop map[string]bool
		for _, r := range req.Remove {
			if _, ok := vw.in[r.Value]; ok {
				if drop == nil {
					drop = map[string]bool{}
				}
				drop[r.Value] = true
				delete(vw.in, r.Value)
				v.unindexLocked(r.Value, vw)
			}
		}
		if drop != nil {
			vw.members = slices.DeleteFunc(slices.Clone(vw.members), func(r types.ManagedObjectReference) bool { return drop[r.Value] })
		}
		return v.addListTxn(tx, vw, req.Add)
	})
	if err != nil {
		return nil, err
	}
	return &types.ModifyListViewResponse{Returnval: unresolved}, nil
}

func (s *Service) resetListView(ctx *soap.Context, req *types.ResetListView) (any, error) {
	unresolved, err := s.editList(ctx, func(tx *inventory.Txn, v *views, vw *view) []types.ManagedObjectReference {
		return v.setListTxn(tx, vw, req.Obj)
	})
	if err != nil {
		return nil, err
	}
	return &types.ResetListViewResponse{Returnval: unresolved}, nil
}

func (s *Service) resetListViewFromView(ctx *soap.Context, req *types.ResetListViewFromView) (any, error) {
	objs, err := s.viewContents(ctx, req.View)
	if err != nil {
		return nil, err
	}
	_, err = s.editList(ctx, func(tx *inventory.Txn, v *views, vw *view) []types.ManagedObjectReference {
		return v.setListTxn(tx, vw, objs)
	})
	if err != nil {
		return nil, err
	}
	return &types.ResetListViewFromViewResponse{}, nil
}
