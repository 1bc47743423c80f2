package api

import (
	"context"
	"slices"
	"sync"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// History collector limits, as vCenter applies them.
const (
	// maxCollectorsPerSession is EventManager/TaskManager.maxCollector: the
	// number of collectors of each kind one session may hold.
	maxCollectorsPerSession = 32
	// maxPageSize bounds SetCollectorPageSize and the ReadNext/ReadPrevious
	// maxCount.
	maxPageSize = 1000
	// defaultPageSize is the latest page size of a new collector.
	defaultPageSize = 10
)

// historyCollector is what EventHistoryCollector and TaskHistoryCollector
// share: the HistoryCollector methods and session ownership.
type historyCollector interface {
	reference() types.ManagedObjectReference
	owner() string
	rewind()
	reset()
	setPageSize(n int)
	// close detaches the collector from its source.
	close()
}

func (s *Service) registerHistoryCollector(t *soap.Table) {
	soap.Register(t, "HistoryCollector", "RewindCollector", s.rewindCollector)
	soap.Register(t, "HistoryCollector", "ResetCollector", s.resetCollector)
	soap.Register(t, "HistoryCollector", "SetCollectorPageSize", s.setCollectorPageSize)
	soap.Register(t, "HistoryCollector", "DestroyCollector", s.destroyCollector)
}

func (s *Service) rewindCollector(ctx *soap.Context, _ *types.RewindCollector) (any, error) {
	c, err := s.mgr.collector(ctx)
	if err != nil {
		return nil, err
	}
	c.rewind()
	return &types.RewindCollectorResponse{}, nil
}

func (s *Service) resetCollector(ctx *soap.Context, _ *types.ResetCollector) (any, error) {
	c, err := s.mgr.collector(ctx)
	if err != nil {
		return nil, err
	}
	c.reset()
	return &types.ResetCollectorResponse{}, nil
}

func (s *Service) setCollectorPageSize(ctx *soap.Context, req *types.SetCollectorPageSize) (any, error) {
	c, err := s.mgr.collector(ctx)
	if err != nil {
		return nil, err
	}
	if req.MaxCount < 0 || req.MaxCount > maxPageSize {
		return nil, vim.InvalidArgument("maxCount", "The page size %d is out of range; use 0 to %d.", req.MaxCount, maxPageSize)
	}
	c.setPageSize(int(req.MaxCount))
	s.mgr.notify.mark(c.reference())
	return &types.SetCollectorPageSizeResponse{}, nil
}

func (s *Service) destroyCollector(ctx *soap.Context, _ *types.DestroyCollector) (any, error) {
	c, err := s.mgr.collector(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.mgr.remove(ctx, func(o historyCollector) bool { return o == c }); err != nil {
		return nil, err
	}
	return &types.DestroyCollectorResponse{}, nil
}

// checkReadCount validates the maxCount of ReadNext*/ReadPrevious*.
func checkReadCount(n int32) error {
	if n <= 0 || n > maxPageSize {
		return vim.InvalidArgument("maxCount", "The read count %d is out of range; use 1 to %d.", n, maxPageSize)
	}
	return nil
}

// cursor is the scrollable-view position of a history collector: a boundary
// between items, given by the sequence number (event key, task sequence) of
// the first item after it. ReadNext returns items at or after the boundary
// and moves it past them; ReadPrevious returns items before it, newest
// first, and moves it before them.
type cursor uint64

// readNext returns up to n of seqs (ascending) at or after c, as indexes,
// and the new boundary.
func (c cursor) readNext(seqs []uint64, n int) (lo, hi int, next cursor) {
	lo = searchSeq(seqs, uint64(c))
	hi = min(lo+n, len(seqs))
	if hi > lo {
		return lo, hi, cursor(seqs[hi-1] + 1)
	}
	return lo, hi, c
}

// readPrev returns up to n of seqs before c as an index range [lo, hi) (to be
// reported newest first) and the new boundary.
func (c cursor) readPrev(seqs []uint64, n int) (lo, hi int, next cursor) {
	hi = searchSeq(seqs, uint64(c))
	lo = max(hi-n, 0)
	if hi > lo {
		return lo, hi, cursor(seqs[lo])
	}
	return lo, hi, c
}

// resetCursor returns the boundary just before the latest page of size page.
func resetCursor(seqs []uint64, page int) cursor {
	if len(seqs) == 0 {
		return 0
	}
	if page <= 0 {
		return cursor(seqs[len(seqs)-1] + 1)
	}
	return cursor(seqs[max(len(seqs)-page, 0)])
}

// searchSeq returns the index of the first element of seqs (ascending) that
// is >= v.
func searchSeq(seqs []uint64, v uint64) int {
	i, _ := slices.BinarySearch(seqs, v)
	return i
}

// pageRefresher is a managed object whose published properties follow state
// kept outside the registry (latestPage, latestEvent, recentTask).
// refreshed returns a shallow copy with that state as it is now; the copy
// shares everything else with the published object, which is immutable, so
// republishing costs no deep copy of large properties (the task and event
// catalogs).
type pageRefresher interface {
	mo.Reference
	refreshed() mo.Reference
}

// pageNotifier republishes objects whose latestPage (or latestEvent)
// changed, so that PropertyCollector filters on them report the change. It
// batches the objects marked since its last run into one registry update,
// made from its own goroutine: marking is cheap and safe anywhere, even
// inside a registry update or with locks held, which posting an event may
// be. The goroutine runs only while there is work and then exits.
type pageNotifier struct {
	reg *inventory.Registry
	svc *Service

	// mu guards dirty and running.
	mu      sync.Mutex
	dirty   map[string]types.ManagedObjectReference
	running bool
	// idle is closed and replaced when a run finds nothing left to do.
	idle chan struct{}
}

func newPageNotifier(reg *inventory.Registry, s *Service) *pageNotifier {
	return &pageNotifier{reg: reg, svc: s, dirty: map[string]types.ManagedObjectReference{}, idle: make(chan struct{})}
}

// mark schedules ref's object to be republished.
func (n *pageNotifier) mark(ref types.ManagedObjectReference) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dirty[ref.Value] = ref
	if !n.running {
		n.running = true
		go n.run()
	}
}

func (n *pageNotifier) run() {
	for {
		n.mu.Lock()
		if len(n.dirty) == 0 {
			n.running = false
			close(n.idle)
			n.idle = make(chan struct{})
			n.mu.Unlock()
			return
		}
		batch := n.dirty
		n.dirty = map[string]types.ManagedObjectReference{}
		n.mu.Unlock()
		err := n.reg.Update(context.Background(), func(tx *inventory.Txn) error {
			for _, ref := range batch {
				if o, ok := tx.Get(ref).(pageRefresher); ok {
					tx.Create(o.refreshed(), false)
				}
			}
			return nil
		})
		if err != nil {
			n.svc.log.Error("republish history pages", "err", err)
		}
	}
}

// wait blocks until the notifier has nothing left to do (for tests).
func (n *pageNotifier) wait() {
	n.mu.Lock()
	if !n.running {
		n.mu.Unlock()
		return
	}
	idle := n.idle
	n.mu.Unlock()
	<-idle
}
