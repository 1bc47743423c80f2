package api

import (
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/vim"
)

// plan is a PropertyFilterSpec (or several, for RetrieveProperties) compiled
// for evaluation: the ObjectSpecs and TraversalSpecs become a graph of
// selectors over (object, selector) nodes, and the PropertySpecs an index by
// object type. A plan is immutable except for its type cache, so it must be
// used by one goroutine at a time.
type plan struct {
	roots []planRoot
	sels  []selector
	travs []traversal
	props []types.PropertySpec
	// byType caches the selected properties per object type.
	byType map[string]*typeProps
}

// planRoot is one ObjectSpec's starting object.
type planRoot struct {
	obj types.ManagedObjectReference
	sel int32
	// reportMissing says a missing object is reported rather than a fault
	// (PropertyFilterSpec.reportMissingObjectsInResults).
	reportMissing bool
}

// selector is what applies to an object reached one way (from an ObjectSpec
// or through one TraversalSpec): whether the object itself is reported, and
// the traversals that continue from it.
type selector struct {
	skip bool
	next []int32 // indexes into plan.travs
}

// traversal is a compiled TraversalSpec: from objects of type typ, follow
// the references in property path; the objects reached get selector sel.
type traversal struct {
	typ, path string
	sel       int32
}

// typeProps are the properties a plan selects for one object type.
type typeProps struct {
	// matched says some PropertySpec applies to the type; objects of other
	// types are traversed but never reported.
	matched bool
	paths   []string
	// nested[i] says paths[i] reaches a data object through struct fields
	// only, so partial updates may report changes below it.
	nested []bool
}

// node is one object as reached through one selector.
type node struct {
	id  string
	sel int32
}

// compilePlan validates specs and compiles them into one plan. It returns an
// InvalidArgument fault for a SelectionSpec naming no TraversalSpec, an
// InvalidType fault for an unknown managed object type, and an
// InvalidProperty fault for a property path the named type does not have.
func compilePlan(specs []types.PropertyFilterSpec) (*plan, error) {
	p := &plan{byType: map[string]*typeProps{}}
	c := planCompiler{p: p, named: map[string]*types.TraversalSpec{}, index: map[*types.TraversalSpec]int32{}}
	seen := map[*types.TraversalSpec]bool{}
	for i := range specs {
		for _, os := range specs[i].ObjectSet {
			c.collectNames(os.SelectSet, seen)
		}
	}
	for i := range specs {
		spec := &specs[i]
		for _, os := range spec.ObjectSet {
			next, err := c.resolve(os.SelectSet)
			if err != nil {
				return nil, err
			}
			p.sels = append(p.sels, selector{skip: isTrue(os.Skip), next: next})
			p.roots = append(p.roots, planRoot{obj: os.Obj, sel: int32(len(p.sels) - 1), reportMissing: isTrue(spec.ReportMissingObjectsInResults)})
		}
		for _, ps := range spec.PropSet {
			if err := checkPropertySpec(ps); err != nil {
				return nil, err
			}
			p.props = append(p.props, ps)
		}
	}
	return p, nil
}

type planCompiler struct {
	p     *plan
	named map[string]*types.TraversalSpec
	index map[*types.TraversalSpec]int32
}

// collectNames records the named TraversalSpecs under sel, recursively; the
// first spec with a name wins.
func (c *planCompiler) collectNames(sel []types.BaseSelectionSpec, seen map[*types.TraversalSpec]bool) {
	for _, b := range sel {
		ts, ok := b.(*types.TraversalSpec)
		if !ok || seen[ts] {
			continue
		}
		seen[ts] = true
		if _, dup := c.named[ts.Name]; ts.Name != "" && !dup {
			c.named[ts.Name] = ts
		}
		c.collectNames(ts.SelectSet, seen)
	}
}

// resolve returns the traversal indexes of a select set, compiling the
// TraversalSpecs it names on first use.
func (c *planCompiler) resolve(sel []types.BaseSelectionSpec) ([]int32, error) {
	var out []int32
	for _, b := range sel {
		ts, ok := b.(*types.TraversalSpec)
		if !ok {
			name := b.GetSelectionSpec().Name
			if ts = c.named[name]; ts == nil {
				return nil, vim.InvalidArgument("selectSet", "The selection spec %q names no TraversalSpec of the filter spec.", name)
			}
		}
		i, err := c.traversal(ts)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

func (c *planCompiler) traversal(ts *types.TraversalSpec) (int32, error) {
	if i, ok := c.index[ts]; ok {
		return i, nil
	}
	t, ok := vim.ManagedType(ts.Type)
	if !ok {
		return 0, vim.NewFault(&types.InvalidType{Argument: ts.Type}, "The TraversalSpec type %q is not a managed object type.", ts.Type)
	}
	if !vim.CheckPath(t, ts.Path) {
		return 0, vim.InvalidProperty(ts.Path)
	}
	p := c.p
	i := int32(len(p.travs))
	p.sels = append(p.sels, selector{skip: isTrue(ts.Skip)})
	sel := int32(len(p.sels) - 1)
	p.travs = append(p.travs, traversal{typ: ts.Type, path: ts.Path, sel: sel})
	c.index[ts] = i
	next, err := c.resolve(ts.SelectSet)
	if err != nil {
		return 0, err
	}
	p.sels[sel].next = next
	return i, nil
}

func checkPropertySpec(ps types.PropertySpec) error {
	t, ok := vim.ManagedType(ps.Type)
	if !ok {
		return vim.NewFault(&types.InvalidType{Argument: ps.Type}, "The PropertySpec type %q is not a managed object type.", ps.Type)
	}
	if isTrue(ps.All) {
		return nil
	}
	for _, path := range ps.PathSet {
		if !vim.CheckPath(t, path) {
			return vim.InvalidProperty(path)
		}
	}
	return nil
}

// selected returns the properties the plan selects for objects of type typ:
// the union of every PropertySpec whose type is typ or a supertype of it.
func (p *plan) selected(typ string) *typeProps {
	if tp, ok := p.byType[typ]; ok {
		return tp
	}
	tp := &typeProps{}
	seen := map[string]bool{}
	add := func(path string) {
		if !seen[path] {
			seen[path] = true
			tp.paths = append(tp.paths, path)
		}
	}
	for _, ps := range p.props {
		if !inventory.IsA(typ, ps.Type) {
			continue
		}
		tp.matched = true
		if isTrue(ps.All) {
			if t, ok := vim.ManagedType(typ); ok {
				for _, name := range vim.PropertyNames(t) {
					add(name)
				}
			}
			continue
		}
		for _, path := range ps.PathSet {
			add(path)
		}
	}
	if t, ok := vim.ManagedType(typ); ok {
		for _, path := range tp.paths {
			tp.nested = append(tp.nested, vim.StructPath(t, path))
		}
	}
	p.byType[typ] = tp
	return tp
}

// children calls add for every node reached in one step from obj as reached
// through selector sel.
func (p *plan) children(obj mo.Reference, sel int32, add func(node)) {
	typ := obj.Reference().Type
	for _, ti := range p.sels[sel].next {
		tr := &p.travs[ti]
		if !inventory.IsA(typ, tr.typ) {
			continue
		}
		v, _ := vim.Property(obj, tr.path)
		forEachRef(v, func(r types.ManagedObjectReference) { add(node{id: r.Value, sel: tr.sel}) })
	}
}

// forEachRef calls fn for the managed object references in a property value.
func forEachRef(v any, fn func(types.ManagedObjectReference)) {
	switch r := v.(type) {
	case types.ManagedObjectReference:
		fn(r)
	case []types.ManagedObjectReference:
		for _, x := range r {
			fn(x)
		}
	}
}

// walk evaluates the plan once: it returns the objects it selects (reached
// through a selector that does not skip them), each once, in traversal
// order. A root that does not exist, or whose type does not match its
// ObjectSpec, is returned in missing unless it asked to be reported in the
// results, in which case it is left out.
func (p *plan) walk(look func(id string) mo.Reference) (objs []mo.Reference, missing []types.ManagedObjectReference) {
	visited := map[node]bool{}
	reported := map[string]bool{}
	var visit func(n node, o mo.Reference)
	visit = func(n node, o mo.Reference) {
		if visited[n] {
			return
		}
		visited[n] = true
		if !p.sels[n.sel].skip && !reported[n.id] {
			reported[n.id] = true
			objs = append(objs, o)
		}
		p.children(o, n.sel, func(k node) {
			if visited[k] {
				return
			}
			if ko := look(k.id); ko != nil {
				visit(k, ko)
			}
		})
	}
	for _, r := range p.roots {
		o := look(r.obj.Value)
		if o == nil || r.obj.Type != "" && !inventory.IsA(o.Reference().Type, r.obj.Type) {
			if !r.reportMissing {
				missing = append(missing, r.obj)
			}
			continue
		}
		visit(node{id: r.obj.Value, sel: r.sel}, o)
	}
	return objs, missing
}
