package inventory

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/store"
	"github.com/vireo-project/vireo/internal/vim"
)

// ChangeKind says what happened to an object in a commit.
type ChangeKind int

// Change kinds, named as PropertyCollector reports them.
const (
	Enter ChangeKind = iota
	Modify
	Leave
)

// Change is one object's change in a commit. Old is nil for Enter, New is nil
// for Leave. Both are published (immutable) values.
type Change struct {
	Kind ChangeKind
	Ref  types.ManagedObjectReference
	Old  mo.Reference
	New  mo.Reference
}

// Subscriber receives the changes of each commit, in commit order. It is
// called with the registry's writer lock held: it must be quick and must not
// call Update.
type Subscriber func(version uint64, changes []Change)

// Hook runs inside every Update, after the update's function returned nil and
// before anything is committed. It sees the transaction's changes so far
// (Txn.Changes) and may make further changes in the same transaction, so that
// derived objects (views) change atomically with what they derive from; an
// error aborts the whole update. Hooks run in the order they were added, with
// the registry's writer lock held: a hook must be quick, must not block and
// must not call Update.
type Hook func(tx *Txn) error

const metaNextID = "inventory.next_id"

// Registry is the object graph. It is safe for concurrent use.
type Registry struct {
	store store.Store

	// wmu serializes writers: Update holds it from the start of its function
	// until subscribers have been notified.
	wmu sync.Mutex
	// mu guards objs and version. Writers hold it only to publish.
	mu      sync.RWMutex
	objs    map[string]*entry
	version uint64

	// nextID is the next MoRef number; guarded by wmu.
	nextID int64
	subs   []Subscriber
	hooks  []Hook
}

type entry struct {
	obj     mo.Reference
	persist bool
}

// New returns an empty registry writing through to s. s may be nil for a
// registry that persists nothing (tests).
func New(s store.Store) *Registry {
	return &Registry{store: s, objs: map[string]*entry{}, nextID: 1}
}

// Load rebuilds the registry from its store. It must be called before any
// Update.
func (r *Registry) Load(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	objs, err := r.store.Objects(ctx)
	if err != nil {
		return fmt.Errorf("inventory: load: %w", err)
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range objs {
		obj, err := Decode(o.Type, o.Data)
		if err != nil {
			return fmt.Errorf("inventory: load %s: %w", o.ID, err)
		}
		r.objs[o.ID] = &entry{obj: obj, persist: true}
	}
	rebuildDerived(r.objs)
	if v, ok, err := r.store.Meta(ctx, metaNextID); err != nil {
		return fmt.Errorf("inventory: load: %w", err)
	} else if ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("inventory: bad %s %q: %w", metaNextID, v, err)
		}
		r.nextID = n
	}
	return nil
}

// Subscribe adds s to the subscribers notified after every commit.
func (r *Registry) Subscribe(s Subscriber) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.subs = append(r.subs, s)
}

// AddHook adds h to the hooks run inside every Update.
func (r *Registry) AddHook(h Hook) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.hooks = append(r.hooks, h)
}

// Get returns the published object with ref's value, or nil. The type in ref
// is not checked: MoRef values are unique across types.
func (r *Registry) Get(ref types.ManagedObjectReference) mo.Reference {
	return r.Lookup(ref.Value)
}

// Lookup returns the published object whose MoRef value is id, or nil.
func (r *Registry) Lookup(id string) mo.Reference {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e := r.objs[id]; e != nil {
		return e.obj
	}
	return nil
}

// Version returns the number of commits applied so far.
func (r *Registry) Version() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.version
}

// Each calls fn for every published object of type typ ("" for all) until fn
// returns false. The iteration sees a snapshot taken at the call.
func (r *Registry) Each(typ string, fn func(mo.Reference) bool) {
	r.mu.RLock()
	list := make([]mo.Reference, 0, len(r.objs))
	for _, e := range r.objs {
		if typ == "" || e.obj.Reference().Type == typ {
			list = append(list, e.obj)
		}
	}
	r.mu.RUnlock()
	for _, o := range list {
		if !fn(o) {
			return
		}
	}
}

// Update runs fn in a transaction. When fn returns nil, the changes it made
// are committed to the store in one transaction, published, and sent to the
// subscribers; when fn or the commit fails, nothing changes and the error is
// returned. fn must not block on anything but the registry.
func (r *Registry) Update(ctx context.Context, fn func(tx *Txn) error) (err error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	tx := &Txn{r: r, mods: map[string]*mod{}, nextID: r.nextID}
	defer func() {
		if err != nil {
			for _, f := range tx.aborts {
				f()
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	for _, h := range r.hooks {
		if err := h(tx); err != nil {
			return err
		}
	}
	if len(tx.order) == 0 && len(tx.meta) == 0 {
		return nil
	}
	var b store.Batch
	for _, id := range tx.order {
		m := tx.mods[id]
		if !m.persist || (tx.volatile && m.obj != nil && r.objs[id] != nil) {
			continue
		}
		if m.obj == nil {
			b.Delete = append(b.Delete, id)
			continue
		}
		sortDerived(m.obj)
		if e := r.objs[id]; e != nil && onlyDerivedChanged(e.obj, m.obj) {
			continue // the stored form is unchanged
		}
		data, err := Encode(storedForm(m.obj))
		if err != nil {
			return fmt.Errorf("inventory: encode %s: %w", id, err)
		}
		b.Put = append(b.Put, store.Object{Type: m.obj.Reference().Type, ID: id, Data: data})
	}
	if len(tx.meta) > 0 || tx.nextID != r.nextID {
		b.Meta = map[string]string{}
		for k, v := range tx.meta {
			b.Meta[k] = v
		}
		if tx.nextID != r.nextID {
			b.Meta[metaNextID] = strconv.FormatInt(tx.nextID, 10)
		}
	}
	if r.store != nil && !b.Empty() {
		if err := r.store.Commit(ctx, &b); err != nil {
			return fmt.Errorf("inventory: commit: %w", err)
		}
	}
	r.nextID = tx.nextID
	changes := make([]Change, 0, len(tx.order))
	r.mu.Lock()
	for _, id := range tx.order {
		m := tx.mods[id]
		old := r.objs[id]
		var c Change
		switch {
		case m.obj == nil:
			if old == nil {
				continue
			}
			delete(r.objs, id)
			c = Change{Kind: Leave, Ref: old.obj.Reference(), Old: old.obj}
		case old == nil:
			r.objs[id] = &entry{obj: m.obj, persist: m.persist}
			c = Change{Kind: Enter, Ref: m.obj.Reference(), New: m.obj}
		default:
			r.objs[id] = &entry{obj: m.obj, persist: m.persist}
			c = Change{Kind: Modify, Ref: m.obj.Reference(), Old: old.obj, New: m.obj}
		}
		changes = append(changes, c)
	}
	r.version++
	v := r.version
	r.mu.Unlock()
	for _, s := range r.subs {
		s(v, changes)
	}
	return nil
}

// Txn is a mutation in progress. It is valid only inside Registry.Update.
type Txn struct {
	r      *Registry
	mods   map[string]*mod
	order  []string
	meta   map[string]string
	nextID int64
	aborts []func()
	// volatile: edits are published but not stored (see Volatile).
	volatile bool
}

// Volatile marks this transaction's edits of existing objects as runtime
// figures (quick statistics, say) that are published to subscribers but
// not written to the store: they are measured again after a restart. The
// next stored change of such an object stores them with it. Creations,
// deletions and settings are stored as usual.
func (tx *Txn) Volatile() { tx.volatile = true }

type mod struct {
	obj     mo.Reference // nil: deleted
	persist bool
	copied  bool // obj is the transaction's private copy
}

// Get returns the object with ref's value as this transaction sees it, or
// nil. The result must not be modified; use Edit.
func (tx *Txn) Get(ref types.ManagedObjectReference) mo.Reference {
	return tx.Lookup(ref.Value)
}

// Lookup is Get by MoRef value.
func (tx *Txn) Lookup(id string) mo.Reference {
	if m, ok := tx.mods[id]; ok {
		return m.obj
	}
	if e := tx.r.objs[id]; e != nil {
		return e.obj
	}
	return nil
}

// Edit returns a private, mutable copy of the object with ref's value (the
// same copy on every call in this transaction), or nil if there is none.
func (tx *Txn) Edit(ref types.ManagedObjectReference) mo.Reference {
	id := ref.Value
	if m, ok := tx.mods[id]; ok {
		if m.obj != nil && !m.copied {
			m.obj = vim.DeepCopy(m.obj)
			m.copied = true
		}
		return m.obj
	}
	e := tx.r.objs[id]
	if e == nil {
		return nil
	}
	m := &mod{obj: vim.DeepCopy(e.obj), persist: e.persist, copied: true}
	tx.mods[id] = m
	tx.order = append(tx.order, id)
	return m.obj
}

// Create adds obj, whose Self must be set (see NewRef). persist says whether
// the object belongs in the store (inventory) or lives only in memory
// (sessions, views, filters, tasks).
func (tx *Txn) Create(obj mo.Reference, persist bool) {
	id := obj.Reference().Value
	if _, ok := tx.mods[id]; !ok {
		tx.order = append(tx.order, id)
	}
	tx.mods[id] = &mod{obj: obj, persist: persist, copied: true}
}

// Delete removes the object with ref's value.
func (tx *Txn) Delete(ref types.ManagedObjectReference) {
	id := ref.Value
	m, ok := tx.mods[id]
	if !ok {
		e := tx.r.objs[id]
		if e == nil {
			return
		}
		m = &mod{persist: e.persist}
		tx.mods[id] = m
		tx.order = append(tx.order, id)
	}
	m.obj = nil
}

// Changes returns what the transaction has changed so far, in the order the
// objects were first touched: Enter for a created object (Old nil), Modify for
// an edited or replaced one, Leave for a deleted one (New nil). Old is the
// published value, New the transaction's; an object created and deleted in
// the same transaction is left out. Edited objects are listed even when the
// edit left them equal.
func (tx *Txn) Changes() []Change {
	out := make([]Change, 0, len(tx.order))
	for _, id := range tx.order {
		m := tx.mods[id]
		var old mo.Reference
		if e := tx.r.objs[id]; e != nil {
			old = e.obj
		}
		switch {
		case old == nil && m.obj == nil:
			continue
		case old == nil:
			out = append(out, Change{Kind: Enter, Ref: m.obj.Reference(), New: m.obj})
		case m.obj == nil:
			out = append(out, Change{Kind: Leave, Ref: old.Reference(), Old: old})
		default:
			out = append(out, Change{Kind: Modify, Ref: m.obj.Reference(), Old: old, New: m.obj})
		}
	}
	return out
}

// OnAbort registers fn to run if the update is abandoned after this call: its
// function or a hook returned an error, or the commit failed. fn runs with
// the registry's writer lock held and must not call Update. Hooks that keep
// state derived from transactions use it to forget what they derived.
func (tx *Txn) OnAbort(fn func()) { tx.aborts = append(tx.aborts, fn) }

// SetMeta stores a setting in the same transaction.
func (tx *Txn) SetMeta(key, value string) {
	if tx.meta == nil {
		tx.meta = map[string]string{}
	}
	tx.meta[key] = value
}

// NewRef allocates a MoRef for a new object of type typ, with vCenter's
// prefix for that type ("vm-17", "host-9", "group-v4").
func (tx *Txn) NewRef(typ string) types.ManagedObjectReference {
	n := tx.nextID
	tx.nextID++
	return types.ManagedObjectReference{Type: typ, Value: Prefix(typ) + strconv.FormatInt(n, 10)}
}

// Edit is Txn.Edit with the result's type asserted.
func Edit[T any, PT interface {
	*T
	mo.Reference
}](tx *Txn, ref types.ManagedObjectReference) PT {
	o := tx.Edit(ref)
	if o == nil {
		return nil
	}
	p, _ := o.(PT)
	return p
}

// Get is Registry.Get with the result's type asserted; nil if the object is
// missing or of another type.
func Get[T any, PT interface {
	*T
	mo.Reference
}](r interface {
	Get(types.ManagedObjectReference) mo.Reference
}, ref types.ManagedObjectReference) PT {
	o := r.Get(ref)
	if o == nil {
		return nil
	}
	p, _ := o.(PT)
	return p
}

// Encode returns the stored form of obj.
func Encode(obj mo.Reference) ([]byte, error) {
	var b bytes.Buffer
	if err := types.NewJSONEncoder(&b).Encode(obj); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode rebuilds an object of managed type typ from its stored form.
func Decode(typ string, data []byte) (mo.Reference, error) {
	proto, ok := mo.Value(types.ManagedObjectReference{Type: typ})
	if !ok {
		return nil, fmt.Errorf("inventory: unknown managed entity type %q", typ)
	}
	v := reflect.New(reflect.TypeOf(proto))
	if err := types.NewJSONDecoder(bytes.NewReader(data)).Decode(v.Interface()); err != nil {
		return nil, err
	}
	obj, ok := v.Interface().(mo.Reference)
	if !ok {
		return nil, fmt.Errorf("inventory: %q is not a managed object type", typ)
	}
	restoreShadowedNames(obj)
	return obj, nil
}
