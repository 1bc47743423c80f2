package api

import (
	"reflect"
	"sort"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestDiffNodes(t *testing.T) {
	n := func(ids ...string) []node {
		out := []node{}
		for _, id := range ids {
			out = append(out, node{id: id})
		}
		return out
	}
	tests := []struct {
		name           string
		old, new       []node
		added, removed []node
	}{
		{"same", n("a", "b"), n("a", "b"), n(), n()},
		{"append", n("a", "b"), n("a", "b", "c"), n("c"), n()},
		{"remove middle", n("a", "b", "c"), n("a", "c"), n(), n("b")},
		{"replace", n("a", "b", "c"), n("a", "x", "c"), n("x"), n("b")},
		{"reorder", n("a", "b"), n("b", "a"), n(), n()},
		{"duplicates counted", n("a", "a", "b"), n("a", "b", "b"), n("b"), n("a")},
		{"from empty", nil, n("a"), n("a"), n()},
		{"to empty", n("a"), nil, n(), n("a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, r := diffNodes(tt.old, tt.new)
			if len(a) == 0 {
				a = n()
			}
			if len(r) == 0 {
				r = n()
			}
			if !reflect.DeepEqual(a, tt.added) || !reflect.DeepEqual(r, tt.removed) {
				t.Fatalf("diffNodes = +%v -%v, want +%v -%v", a, r, tt.added, tt.removed)
			}
		})
	}
}

// folderWorld is a set of folders whose childEntity lists drive a graph.
type folderWorld map[string]*mo.Folder

func (w folderWorld) set(id string, kids ...string) {
	f := &mo.Folder{}
	f.Self = types.ManagedObjectReference{Type: "Folder", Value: id}
	for _, k := range kids {
		f.ChildEntity = append(f.ChildEntity, types.ManagedObjectReference{Type: "Folder", Value: k})
	}
	w[id] = f
}

func (w folderWorld) look(id string) mo.Reference {
	if f, ok := w[id]; ok {
		return f
	}
	return nil
}

func childEntities(o mo.Reference, sel int32, add func(node)) {
	for _, r := range o.(*mo.Folder).ChildEntity {
		add(node{id: r.Value, sel: sel})
	}
}

func present(g *graph) []string {
	var out []string
	for id := range g.byObj {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func sorted(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

func TestGraphFollowsChanges(t *testing.T) {
	w := folderWorld{}
	w.set("root", "a", "b")
	w.set("a", "x")
	w.set("b")
	w.set("x", "y")
	w.set("y")
	g := newGraph(childEntities, true)
	g.addRoot(node{id: "root"}, w.look)
	if got := g.takeTouched(); !reflect.DeepEqual(got, []string{"root", "a", "x", "y", "b"}) {
		t.Fatalf("initial order = %v, want depth first", got)
	}
	// Move x (with its subtree) from a to b: nothing enters or leaves.
	w.set("a")
	w.set("b", "x")
	g.refresh([]string{"a", "b"}, w.look)
	if got := g.takeTouched(); len(got) != 0 || !reflect.DeepEqual(present(g), []string{"a", "b", "root", "x", "y"}) {
		t.Fatalf("after move: touched %v, present %v", got, present(g))
	}
	// Detach b: b, x and y leave.
	w.set("root", "a")
	g.refresh([]string{"root"}, w.look)
	if got := sorted(g.takeTouched()); !reflect.DeepEqual(got, []string{"b", "x", "y"}) || g.stale {
		t.Fatalf("after detach: touched %v, stale %v", got, g.stale)
	}
	// A node with two parents stays until both let go.
	w.set("root", "a", "b")
	w.set("a", "x")
	g.refresh([]string{"root", "a"}, w.look)
	g.takeTouched()
	w.set("a")
	g.refresh([]string{"a"}, w.look)
	if !g.has("x") || len(g.takeTouched()) != 0 {
		t.Fatal("x left while b still holds it")
	}
	if g.stale {
		t.Fatal("an acyclic graph marked itself stale")
	}
}

func TestGraphCycleGoesStale(t *testing.T) {
	w := folderWorld{}
	w.set("root", "a")
	w.set("a", "b")
	w.set("b", "a") // a cycle
	g := newGraph(childEntities, false)
	g.addRoot(node{id: "root"}, w.look)
	g.takeTouched()
	w.set("root")
	g.refresh([]string{"root"}, w.look)
	if !g.stale {
		t.Fatal("dropping the only way into a cycle left the graph fresh")
	}
}
