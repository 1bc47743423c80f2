package api

import (
	"context"
	"sync"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// managers holds the state of the service managers (EventManager,
// TaskManager, OptionManager, CustomFieldsManager, LicenseManager) that is
// not simply a property of their managed objects: the history collectors of
// every session and the notifier that keeps their latestPage current.
type managers struct {
	s      *Service
	notify *pageNotifier

	// mu guards collectors.
	mu sync.Mutex
	// collectors maps a collector's MoRef value to it.
	collectors map[string]historyCollector

	// fieldKey is the next custom field key. It is read and advanced only
	// inside Registry.Update, whose writer lock guards it.
	fieldKey int32
}

func newManagers(s *Service) *managers {
	m := &managers{s: s, notify: newPageNotifier(s.reg, s), collectors: map[string]historyCollector{}}
	s.events.notify = m.notify
	if s.tasks != nil {
		s.tasks.Observe(m.taskChanged)
	}
	if s.sessions != nil {
		s.sessions.OnEnd(m.endSession)
	}
	return m
}

// load restores the managers' persisted settings into their managed objects.
// Bootstrap calls it once the singletons exist.
func (m *managers) load(ctx context.Context) error {
	if err := m.s.loadOptions(ctx); err != nil {
		return err
	}
	if err := m.s.loadCustomFields(ctx); err != nil {
		return err
	}
	return m.s.loadLicenses(ctx)
}

// addCollector registers c for its session after checking the session's
// limit for collectors of c's type.
func (m *managers) addCollector(c historyCollector) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, o := range m.collectors {
		if o.owner() == c.owner() && o.reference().Type == c.reference().Type {
			n++
		}
	}
	if n >= maxCollectorsPerSession {
		return vim.InvalidState("This session already has %d %s objects, the most it may hold; destroy unused ones with DestroyCollector.",
			n, c.reference().Type)
	}
	m.collectors[c.reference().Value] = c
	return nil
}

// collector returns the collector ctx.This of the calling session.
func (m *managers) collector(ctx *soap.Context) (historyCollector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.collectors[ctx.This.Value]
	if c == nil || c.owner() != sessionKey(ctx.Session) {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	return c, nil
}

// remove forgets the collectors for which drop returns true and deletes
// their managed objects.
func (m *managers) remove(ctx context.Context, drop func(historyCollector) bool) error {
	var refs []types.ManagedObjectReference
	m.mu.Lock()
	for id, c := range m.collectors {
		if drop(c) {
			delete(m.collectors, id)
			c.close()
			refs = append(refs, c.reference())
		}
	}
	m.mu.Unlock()
	if len(refs) == 0 {
		return nil
	}
	return m.s.reg.Update(ctx, func(tx *inventory.Txn) error {
		for _, r := range refs {
			tx.Delete(r)
		}
		return nil
	})
}

// endSession destroys the collectors of a session that ended.
func (m *managers) endSession(sess *session.Session) {
	err := m.remove(context.Background(), func(c historyCollector) bool { return c.owner() == sess.Key })
	if err != nil {
		m.s.log.Error("destroy history collectors of ended session", "session", sess.Key, "err", err)
	}
}

// eachCollector calls fn for every collector of type typ.
func (m *managers) eachCollector(typ string, fn func(historyCollector)) {
	m.mu.Lock()
	list := make([]historyCollector, 0, len(m.collectors))
	for _, c := range m.collectors {
		if c.reference().Type == typ {
			list = append(list, c)
		}
	}
	m.mu.Unlock()
	for _, c := range list {
		fn(c)
	}
}

// taskChanged is the task.Manager observer: it posts a TaskEvent for a new
// task and republishes the task collectors the change concerns.
func (m *managers) taskChanged(ch task.Change) {
	if ch.Created {
		m.s.postTaskEvent(ch.Info)
	}
	if ch.Created || ch.Removed {
		m.notify.mark(TaskManagerRef)
	}
	m.eachCollector("TaskHistoryCollector", func(hc historyCollector) {
		if c, ok := hc.(*taskCollector); ok && c.concerns(ch) {
			m.notify.mark(c.ref)
		}
	})
}

// publishCollector adds a new history collector's object to the inventory
// and the collector to its session's collectors, removing the object again
// if the session may not have another collector.
func (s *Service) publishCollector(ctx *soap.Context, c historyCollector, obj mo.Reference) error {
	if err := s.reg.Update(ctx, func(tx *inventory.Txn) error { tx.Create(obj, false); return nil }); err != nil {
		return err
	}
	if err := s.mgr.addCollector(c); err != nil {
		_ = s.reg.Update(ctx, func(tx *inventory.Txn) error { tx.Delete(obj.Reference()); return nil })
		return err
	}
	return nil
}
