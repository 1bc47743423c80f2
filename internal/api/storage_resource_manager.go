package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// The StorageResourceManager runs Storage DRS for datastore clusters
// (StoragePods): it stores a pod's Storage DRS configuration
// (podStorageDrsEntry.storageDrsConfig, persisted with the pod), recommends
// datastores of a pod for new or moved VM files (RecommendDatastores,
// storage_resource_manager_place.go) and applies those recommendations, and
// computes a pod's space load-balancing recommendations
// (podStorageDrsEntry.recommendation). Initial placement recommendations
// live in memory until applied or cancelled, as vCenter's do.

// MoRefs of the StorageResourceManager: vCenter's, and a host agent's.
var (
	StorageResourceManagerRef    = ref("StorageResourceManager", "StorageResourceManager")
	ESXStorageResourceManagerRef = ref("StorageResourceManager", "ha-storage-resource-manager")
)

// storageResourceManager is the StorageResourceManager object; book holds
// its pending initial placement recommendations.
type storageResourceManager struct {
	mo.StorageResourceManager
	book *placementBook
}

func newStorageResourceManager(ref types.ManagedObjectReference) *storageResourceManager {
	m := &storageResourceManager{book: &placementBook{byKey: map[string]*placement{}}}
	m.Self = ref
	return m
}

func (s *Service) registerStorageResourceManager(t *soap.Table) {
	const srm = "StorageResourceManager"
	soap.Register(t, srm, "ConfigureStorageDrsForPod_Task", s.configureStorageDrsForPod)
	soap.Register(t, srm, "RecommendDatastores", s.recommendDatastores)
	soap.Register(t, srm, "ApplyStorageDrsRecommendation_Task", s.applyStorageDrsRecommendation)
	soap.Register(t, srm, "ApplyStorageDrsRecommendationToPod_Task", s.applyStorageDrsRecommendationToPod)
	soap.Register(t, srm, "CancelStorageDrsRecommendation", s.cancelStorageDrsRecommendation)
	soap.Register(t, srm, "RefreshStorageDrsRecommendation", s.refreshStorageDrsRecommendation)
	soap.Register(t, srm, "RefreshStorageDrsRecommendationsForPod_Task", s.refreshStorageDrsRecommendationsForPod)
}

// placementBook holds the initial placement recommendations handed out by
// RecommendDatastores, by key, until one is applied or they are cancelled.
type placementBook struct {
	mu sync.Mutex
	// next numbers recommendation keys (those of pods too).
	next  int64
	byKey map[string]*placement
	// order lists placements oldest first, to bound the book.
	order []*placement
}

// maxPlacements bounds the placements a book keeps; the oldest go first.
const maxPlacements = 1000

// newKey returns a fresh recommendation key.
func (b *placementBook) newKey() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	return strconv.FormatInt(b.next, 10)
}

// add records p under its recommendations' keys.
func (b *placementBook) add(p *placement) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.order) >= maxPlacements {
		b.dropLocked(b.order[0])
	}
	b.order = append(b.order, p)
	for k := range p.dest {
		b.byKey[k] = p
	}
}

// take removes and returns the placement of key: applying one of its
// recommendations consumes the others, which were alternatives.
func (b *placementBook) take(key string) (*placement, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.byKey[key]
	if ok {
		b.dropLocked(p)
	}
	return p, ok
}

// peek returns the placement of key, leaving it pending.
func (b *placementBook) peek(key string) (*placement, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.byKey[key]
	return p, ok
}

func (b *placementBook) dropLocked(p *placement) {
	for k := range p.dest {
		delete(b.byKey, k)
	}
	if i := slices.Index(b.order, p); i >= 0 {
		b.order = slices.Delete(b.order, i, i+1)
	}
}

// srmBook returns the placement book of the StorageResourceManager ctx
// calls.
func srmBook(ctx *soap.Context) *placementBook {
	if m, ok := ctx.Object.(*storageResourceManager); ok {
		return m.book
	}
	return &placementBook{byKey: map[string]*placement{}}
}

func (s *Service) configureStorageDrsForPod(ctx *soap.Context, req *types.ConfigureStorageDrsForPod_Task) (any, error) {
	if _, err := lookupAs[mo.StoragePod](s.reg, req.Pod, "StoragePod"); err != nil {
		return nil, err
	}
	spec := task.Spec{Entity: req.Pod, DescriptionID: "StorageResourceManager.configureStorageDrsForPod", User: ctx.UserName()}
	ref, err := s.tasks.Start(ctx, spec, func(tctx context.Context, _ *task.Task) (types.AnyType, error) {
		return nil, s.ConfigureStorageDrsForPod(tctx, req.Pod, req.Spec, req.Modify)
	})
	if err != nil {
		return nil, err
	}
	return &types.ConfigureStorageDrsForPod_TaskResponse{Returnval: ref}, nil
}

// ConfigureStorageDrsForPod changes the Storage DRS configuration of the
// datastore cluster pod, as ConfigureStorageDrsForPod_Task does: with
// modify the set fields of spec change the configuration, without it the
// configuration becomes spec (unset fields take their defaults). Turning
// Storage DRS off drops the pod's recommendations. Faults:
// ManagedObjectNotFound, InvalidArgument.
func (s *Service) ConfigureStorageDrsForPod(ctx context.Context, pod types.ManagedObjectReference, spec types.StorageDrsConfigSpec, modify bool) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		p, err := lookupAs[mo.StoragePod](tx, pod, "StoragePod")
		if err != nil {
			return err
		}
		cfg := types.StorageDrsConfigInfo{PodConfig: defaultPodConfig()}
		if modify && p.PodStorageDrsEntry != nil {
			cfg = vim.DeepCopy(p.PodStorageDrsEntry.StorageDrsConfig)
		}
		if err := applyPodConfig(&cfg.PodConfig, spec.PodConfigSpec); err != nil {
			return err
		}
		for _, v := range spec.VmConfigSpec {
			if v.Info != nil && v.Info.Vm != nil && tx.Get(*v.Info.Vm) == nil {
				return vim.ManagedObjectNotFound(*v.Info.Vm)
			}
		}
		if cfg.VmConfig, err = updateVMOverrides(cfg.VmConfig, spec.VmConfigSpec, "vmConfigSpec",
			func(v types.StorageDrsVmConfigSpec) (types.ArrayUpdateSpec, *types.StorageDrsVmConfigInfo) {
				return v.ArrayUpdateSpec, v.Info
			},
			func(i types.StorageDrsVmConfigInfo) types.ManagedObjectReference { return refOrZero(i.Vm) }); err != nil {
			return err
		}
		e := inventory.Edit[mo.StoragePod](tx, pod)
		if e.PodStorageDrsEntry == nil {
			e.PodStorageDrsEntry = &types.PodStorageDrsEntry{}
		}
		e.PodStorageDrsEntry.StorageDrsConfig = cfg
		if !cfg.PodConfig.Enabled {
			e.PodStorageDrsEntry.Recommendation = nil
		}
		return nil
	})
}

// applyPodConfig applies the set fields of sp to c after checking them
// against vCenter's ranges.
func applyPodConfig(c *types.StorageDrsPodConfigInfo, sp *types.StorageDrsPodConfigSpec) error {
	if sp == nil {
		return nil
	}
	if err := checkPodConfig(sp); err != nil {
		return err
	}
	if sp.Enabled != nil {
		c.Enabled = *sp.Enabled
	}
	if sp.IoLoadBalanceEnabled != nil {
		c.IoLoadBalanceEnabled = *sp.IoLoadBalanceEnabled
	}
	if sp.DefaultVmBehavior != "" {
		c.DefaultVmBehavior = sp.DefaultVmBehavior
	}
	if sp.LoadBalanceInterval != 0 {
		c.LoadBalanceInterval = sp.LoadBalanceInterval
	}
	if sp.DefaultIntraVmAffinity != nil {
		c.DefaultIntraVmAffinity = types.NewBool(*sp.DefaultIntraVmAffinity)
	}
	mergeInto(&c.SpaceLoadBalanceConfig, sp.SpaceLoadBalanceConfig)
	mergeInto(&c.IoLoadBalanceConfig, sp.IoLoadBalanceConfig)
	mergeInto(&c.AutomationOverrides, sp.AutomationOverrides)
	var err error
	if c.Rule, err = updateRules(c.Rule, sp.Rule, nil); err != nil {
		return err
	}
	c.Option, err = updatePodOptions(c.Option, sp.Option)
	return err
}

// podEnum and podRange are checks of a pod config spec's fields; a zero
// value is unset and always passes.
type (
	podEnum struct {
		prop, val string
		allowed   []string
	}
	podRange struct {
		prop        string
		val, lo, hi int32
	}
)

// checkPodConfig checks a pod config spec's enumerations and ranges.
func checkPodConfig(sp *types.StorageDrsPodConfigSpec) error {
	const prop = "spec.podConfigSpec."
	enums := []podEnum{{"defaultVmBehavior", sp.DefaultVmBehavior, types.StorageDrsPodConfigInfoBehavior("").Strings()}}
	ranges := []podRange{{"loadBalanceInterval", sp.LoadBalanceInterval, 60, 43200}}
	if sl := sp.SpaceLoadBalanceConfig; sl != nil {
		enums = append(enums, podEnum{"spaceLoadBalanceConfig.spaceThresholdMode", sl.SpaceThresholdMode,
			types.StorageDrsSpaceLoadBalanceConfigSpaceThresholdMode("").Strings()})
		ranges = append(ranges,
			podRange{"spaceLoadBalanceConfig.spaceUtilizationThreshold", sl.SpaceUtilizationThreshold, 50, 100},
			podRange{"spaceLoadBalanceConfig.minSpaceUtilizationDifference", sl.MinSpaceUtilizationDifference, 1, 50},
			podRange{"spaceLoadBalanceConfig.freeSpaceThresholdGB", sl.FreeSpaceThresholdGB, 1, 1 << 20})
	}
	if io := sp.IoLoadBalanceConfig; io != nil {
		enums = append(enums, podEnum{"ioLoadBalanceConfig.reservableThresholdMode", io.ReservableThresholdMode,
			[]string{"automatic", "manual"}})
		ranges = append(ranges,
			podRange{"ioLoadBalanceConfig.ioLatencyThreshold", io.IoLatencyThreshold, 5, 100},
			podRange{"ioLoadBalanceConfig.ioLoadImbalanceThreshold", io.IoLoadImbalanceThreshold, 1, 100})
	}
	for _, e := range enums {
		if e.val != "" && !slices.Contains(e.allowed, e.val) {
			return vim.InvalidArgument(prop+e.prop, "%q is not a valid %s; use one of %s.", e.val, e.prop, strings.Join(e.allowed, ", "))
		}
	}
	for _, r := range ranges {
		if r.val != 0 && (r.val < r.lo || r.val > r.hi) {
			return vim.InvalidArgument(prop+r.prop, "%s must be between %d and %d, not %d.", r.prop, r.lo, r.hi, r.val)
		}
	}
	return nil
}

// updatePodOptions applies advanced option specs, keyed by option key.
func updatePodOptions(opts []types.BaseOptionValue, specs []types.StorageDrsOptionSpec) ([]types.BaseOptionValue, error) {
	opts = slices.Clone(opts)
	for _, sp := range specs {
		var key string
		switch {
		case sp.Operation == types.ArrayUpdateOperationRemove:
			key, _ = sp.RemoveKey.(string)
		case sp.Option != nil:
			key = sp.Option.GetOptionValue().Key
		default:
			return nil, vim.InvalidArgument("spec.podConfigSpec.option.option", "An option spec to %s needs the option.", sp.Operation)
		}
		idx := slices.IndexFunc(opts, func(o types.BaseOptionValue) bool { return o.GetOptionValue().Key == key })
		if err := arrayIndex(sp.Operation, idx, "spec.podConfigSpec.option", fmt.Sprintf("option '%s'", key)); err != nil {
			return nil, err
		}
		opts = applyArrayOp(opts, sp.Operation, idx, vim.DeepCopy(sp.Option))
	}
	return opts, nil
}

// refOrZero returns *r, or the zero reference.
func refOrZero(r *types.ManagedObjectReference) types.ManagedObjectReference {
	if r == nil {
		return types.ManagedObjectReference{}
	}
	return *r
}

func (s *Service) cancelStorageDrsRecommendation(ctx *soap.Context, req *types.CancelStorageDrsRecommendation) (any, error) {
	book := srmBook(ctx)
	for _, k := range req.Key {
		if _, ok := book.peek(k); !ok {
			return nil, unknownRecommendation(k)
		}
	}
	for _, k := range req.Key {
		book.take(k)
	}
	return &types.CancelStorageDrsRecommendationResponse{}, nil
}

// unknownRecommendation is the fault for a key naming no pending
// recommendation.
func unknownRecommendation(key string) error {
	return vim.InvalidArgument("key", "There is no pending Storage DRS recommendation with key %q; it may have been applied or cancelled. Ask for new ones (RecommendDatastores).", key)
}

func (s *Service) refreshStorageDrsRecommendation(ctx *soap.Context, req *types.RefreshStorageDrsRecommendation) (any, error) {
	if err := s.refreshPodRecommendations(ctx, srmBook(ctx), req.Pod); err != nil {
		return nil, err
	}
	return &types.RefreshStorageDrsRecommendationResponse{}, nil
}

func (s *Service) refreshStorageDrsRecommendationsForPod(ctx *soap.Context, req *types.RefreshStorageDrsRecommendationsForPod_Task) (any, error) {
	if _, err := lookupAs[mo.StoragePod](s.reg, req.Pod, "StoragePod"); err != nil {
		return nil, err
	}
	book := srmBook(ctx)
	spec := task.Spec{Entity: req.Pod, DescriptionID: "StorageResourceManager.refreshRecommendationsForPod", User: ctx.UserName()}
	ref, err := s.tasks.Start(ctx, spec, func(tctx context.Context, _ *task.Task) (types.AnyType, error) {
		return nil, s.refreshPodRecommendations(tctx, book, req.Pod)
	})
	if err != nil {
		return nil, err
	}
	return &types.RefreshStorageDrsRecommendationsForPod_TaskResponse{Returnval: ref}, nil
}

// refreshPodRecommendations recomputes the space load-balancing
// recommendations of pod (storage_resource_manager_balance.go) into its
// podStorageDrsEntry.recommendation.
func (s *Service) refreshPodRecommendations(ctx context.Context, book *placementBook, pod types.ManagedObjectReference) error {
	p, err := lookupAs[mo.StoragePod](s.reg, pod, "StoragePod")
	if err != nil {
		return err
	}
	if !podSDRSEnabled(p) {
		return vim.InvalidState("Storage DRS is disabled on the datastore cluster %s; enable it (ConfigureStorageDrsForPod_Task) first.", p.Name)
	}
	recs := s.spaceBalanceRecommendations(p, book.newKey)
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if _, err := lookupAs[mo.StoragePod](tx, pod, "StoragePod"); err != nil {
			return err
		}
		if e := inventory.Edit[mo.StoragePod](tx, pod); e.PodStorageDrsEntry != nil {
			e.PodStorageDrsEntry.Recommendation = recs
		}
		return nil
	})
}

// podSDRSEnabled reports whether Storage DRS is on for p.
func podSDRSEnabled(p *mo.StoragePod) bool {
	return p.PodStorageDrsEntry != nil && p.PodStorageDrsEntry.StorageDrsConfig.PodConfig.Enabled
}

func (s *Service) applyStorageDrsRecommendationToPod(ctx *soap.Context, req *types.ApplyStorageDrsRecommendationToPod_Task) (any, error) {
	p, err := lookupAs[mo.StoragePod](s.reg, req.Pod, "StoragePod")
	if err != nil {
		return nil, err
	}
	book, user := srmBook(ctx), ctx.UserName()
	spec := task.Spec{Entity: p.Self, DescriptionID: "StorageResourceManager.applyRecommendationToPod", User: user, ChainID: s.tasks.NextChainID()}
	ref, err := s.tasks.Start(ctx, spec, func(tctx context.Context, t *task.Task) (types.AnyType, error) {
		if _, ok := book.peek(req.Key); ok {
			return s.applyPlacementKeys(tctx, book, user, t.ChainID, []string{req.Key}, &req.Pod)
		}
		return nil, s.applyPodRecommendation(tctx, user, req.Pod, req.Key)
	})
	if err != nil {
		return nil, err
	}
	return &types.ApplyStorageDrsRecommendationToPod_TaskResponse{Returnval: ref}, nil
}

// applyPodRecommendation applies the load-balancing recommendation key of
// pod: its migrations move VMs between the pod's datastores.
func (s *Service) applyPodRecommendation(ctx context.Context, user string, pod types.ManagedObjectReference, key string) error {
	p, err := lookupAs[mo.StoragePod](s.reg, pod, "StoragePod")
	if err != nil {
		return err
	}
	var rec *types.ClusterRecommendation
	if e := p.PodStorageDrsEntry; e != nil {
		for i := range e.Recommendation {
			if e.Recommendation[i].Key == key {
				rec = &e.Recommendation[i]
			}
		}
	}
	if rec == nil {
		return unknownRecommendation(key)
	}
	for _, a := range rec.Action {
		if m, ok := a.(*types.StorageMigrationAction); ok {
			if err := s.relocateForSDRS(ctx, user, m.Vm, m.RelocateSpec); err != nil {
				return err
			}
		}
	}
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if tx.Get(pod) == nil {
			return nil
		}
		e := inventory.Edit[mo.StoragePod](tx, pod)
		if e.PodStorageDrsEntry != nil {
			e.PodStorageDrsEntry.Recommendation = slices.DeleteFunc(e.PodStorageDrsEntry.Recommendation,
				func(r types.ClusterRecommendation) bool { return r.Key == key })
		}
		return nil
	})
}
