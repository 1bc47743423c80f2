package api

import "github.com/vmware/govmomi/vim25/mo"

// graph keeps the set of nodes reachable from a set of roots, where a node's
// children come from its object's current value (a filter's traversal specs,
// a container view's containment rules), and updates it as objects change
// at a cost in proportion to the change: each present node remembers the
// children it was expanded with and counts the present nodes that point at
// it, so refreshing a changed object diffs its children and expands or
// collapses only what entered or left.
//
// Reference counts are exact on an acyclic graph. A graph that may have
// cycles (a filter's traversal specs may walk up and down the tree) marks
// itself stale when a removal leaves a node with other referrers, since
// they may all lie on a cycle no longer reachable; its owner then rebuilds
// it. A graph is not safe for concurrent use.
type graph struct {
	// kids calls add for each child of obj as reached through sel.
	kids    func(obj mo.Reference, sel int32, add func(node))
	acyclic bool

	count map[node]int32
	edges map[node][]node
	// byObj lists the selectors of the present nodes of each object.
	byObj map[string][]int32
	// touched lists, in order, the objects whose set of present nodes
	// changed since takeTouched.
	touched    []string
	touchedSet map[string]struct{}
	// stale says the graph may hold nodes that are no longer reachable.
	stale bool
}

// lookupFunc returns an object's current value, or nil.
type lookupFunc func(id string) mo.Reference

func newGraph(kids func(mo.Reference, int32, func(node)), acyclic bool) *graph {
	return &graph{kids: kids, acyclic: acyclic, count: map[node]int32{}, edges: map[node][]node{},
		byObj: map[string][]int32{}, touchedSet: map[string]struct{}{}}
}

// addRoot makes n present for as long as the graph lives.
func (g *graph) addRoot(n node, look lookupFunc) { g.inc([]node{n}, look) }

// has reports whether some node of object id is present.
func (g *graph) has(id string) bool { return len(g.byObj[id]) > 0 }

// sels returns the selectors of object id's present nodes; the result must
// not be modified.
func (g *graph) sels(id string) []int32 { return g.byObj[id] }

// takeTouched returns the objects whose presence changed since the last call.
func (g *graph) takeTouched() []string {
	t := g.touched
	g.touched = nil
	clear(g.touchedSet)
	return t
}

func (g *graph) touch(id string) {
	if _, ok := g.touchedSet[id]; !ok {
		g.touchedSet[id] = struct{}{}
		g.touched = append(g.touched, id)
	}
}

// expand returns the children of n from its object's current value.
func (g *graph) expand(n node, look lookupFunc) []node {
	o := look(n.id)
	if o == nil {
		return nil
	}
	var kids []node
	g.kids(o, n.sel, func(k node) { kids = append(kids, k) })
	return kids
}

// inc adds one reference to each node in ns, expanding nodes that become
// present, depth first in order.
func (g *graph) inc(ns []node, look lookupFunc) {
	stack := make([]node, 0, len(ns))
	for i := len(ns) - 1; i >= 0; i-- {
		stack = append(stack, ns[i])
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		g.count[n]++
		if g.count[n] > 1 {
			continue
		}
		g.byObj[n.id] = append(g.byObj[n.id], n.sel)
		g.touch(n.id)
		kids := g.expand(n, look)
		g.edges[n] = kids
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, kids[i])
		}
	}
}

// dec removes one reference from each node in ns, collapsing nodes that are
// no longer referenced.
func (g *graph) dec(ns []node) {
	stack := append([]node(nil), ns...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c, ok := g.count[n]
		if !ok {
			continue
		}
		if c > 1 {
			g.count[n] = c - 1
			if !g.acyclic {
				g.stale = true
			}
			continue
		}
		delete(g.count, n)
		g.byObj[n.id] = removeSel(g.byObj[n.id], n.sel)
		if len(g.byObj[n.id]) == 0 {
			delete(g.byObj, n.id)
		}
		g.touch(n.id)
		stack = append(stack, g.edges[n]...)
		delete(g.edges, n)
	}
}

func removeSel(sels []int32, sel int32) []int32 {
	for i, s := range sels {
		if s == sel {
			return append(sels[:i:i], sels[i+1:]...)
		}
	}
	return sels
}

// refresh re-expands the present nodes of the objects ids from their current
// values and applies the difference: children that appeared are added before
// children that disappeared are removed, so an object moving between two
// present parents never leaves.
func (g *graph) refresh(ids []string, look lookupFunc) {
	var adds, dels []node
	for _, id := range ids {
		for _, sel := range append([]int32(nil), g.byObj[id]...) {
			n := node{id: id, sel: sel}
			kids := g.expand(n, look)
			a, d := diffNodes(g.edges[n], kids)
			g.edges[n] = kids
			adds = append(adds, a...)
			dels = append(dels, d...)
		}
	}
	g.inc(adds, look)
	g.dec(dels)
}

// diffNodes returns the nodes added to and removed from old to make new,
// counting duplicates. Common prefixes and suffixes are skipped first, so a
// single insertion or removal costs no map.
func diffNodes(old, new []node) (added, removed []node) {
	for len(old) > 0 && len(new) > 0 && old[0] == new[0] {
		old, new = old[1:], new[1:]
	}
	for len(old) > 0 && len(new) > 0 && old[len(old)-1] == new[len(new)-1] {
		old, new = old[:len(old)-1], new[:len(new)-1]
	}
	if len(old) == 0 || len(new) == 0 {
		return new, old
	}
	n := make(map[node]int, len(old))
	for _, x := range old {
		n[x]++
	}
	for _, x := range new {
		if n[x] > 0 {
			n[x]--
			continue
		}
		added = append(added, x)
	}
	for _, x := range old {
		if n[x] > 0 {
			n[x]--
			removed = append(removed, x)
		}
	}
	return added, removed
}
