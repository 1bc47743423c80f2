package api

import (
	"cmp"
	"context"
	"slices"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// Storage DRS initial placement. RecommendDatastores ranks the datastores
// of a datastore cluster for a VM being created, cloned, relocated or given
// new disks: each datastore of the pod that is in use (not in maintenance),
// reachable from a host the VM may run on and has the space the VM's new
// files need is a recommendation, the roomiest first. The recommendations of
// one request are alternatives: applying one (ApplyStorageDrsRecommendation
// _Task) performs the operation on its datastore and drops the others.

// placement is a pending initial placement request and its alternatives.
type placement struct {
	kind types.StoragePlacementSpecPlacementType
	spec types.StoragePlacementSpec
	pod  types.ManagedObjectReference
	// dest maps each recommendation's key to its datastore.
	dest map[string]types.ManagedObjectReference
	// disks are the keys of the disks the request places in the pod; the
	// VM's configuration files go there too when filesInPod.
	disks      []int32
	filesInPod bool
}

// storageRequest is a checked StoragePlacementSpec.
type storageRequest struct {
	kind  types.StoragePlacementSpecPlacementType
	spec  types.StoragePlacementSpec
	pod   *mo.StoragePod
	vm    *mo.VirtualMachine
	hosts []*mo.HostSystem
	// need is the space the placed files take, in bytes.
	need  int64
	disks []int32
}

func (s *Service) recommendDatastores(ctx *soap.Context, req *types.RecommendDatastores) (any, error) {
	res, err := s.recommendStorage(srmBook(ctx), req.StorageSpec)
	if err != nil {
		return nil, err
	}
	return &types.RecommendDatastoresResponse{Returnval: res}, nil
}

// recommendStorage answers RecommendDatastores and records its
// recommendations in book.
func (s *Service) recommendStorage(book *placementBook, spec types.StoragePlacementSpec) (types.StoragePlacementResult, error) {
	var res types.StoragePlacementResult
	r, err := s.storageRequest(spec)
	if err != nil {
		return res, err
	}
	cands, why := s.podCandidates(r)
	if len(cands) == 0 {
		res.DrsFault = &types.ClusterDrsFaults{
			Reason: string(types.RecommendationReasonCodeStoragePlacement),
			FaultsByVm: []types.BaseClusterDrsFaultsFaultsByVm{&types.ClusterDrsFaultsFaultsByVm{
				Vm: spec.Vm, Fault: []types.LocalizedMethodFault{*localizedFault(why)}}},
		}
		return res, nil
	}
	p := &placement{kind: r.kind, spec: vim.DeepCopy(spec), pod: r.pod.Self, disks: r.disks,
		dest: map[string]types.ManagedObjectReference{}, filesInPod: spec.PodSelectionSpec.StoragePod != nil}
	for i, ds := range cands {
		key := book.newKey()
		p.dest[key] = ds.Self
		res.Recommendations = append(res.Recommendations, s.placementRecommendation(key, r, ds, i))
	}
	book.add(p)
	return res, nil
}

// storageRequest checks spec and resolves what it places where.
func (s *Service) storageRequest(spec types.StoragePlacementSpec) (*storageRequest, error) {
	r := &storageRequest{kind: types.StoragePlacementSpecPlacementType(spec.Type), spec: spec}
	if !slices.Contains(r.kind.Values(), r.kind) {
		return nil, vim.InvalidArgument("storageSpec.type", "%q is not a placement type; use create, clone, relocate or reconfigure.", spec.Type)
	}
	pod, err := s.placementPod(spec.PodSelectionSpec)
	if err != nil {
		return nil, err
	}
	r.pod = pod
	if spec.Vm != nil {
		if r.vm, err = s.checkedVM(*spec.Vm); err != nil {
			return nil, err
		}
		if vmSDRSDisabled(pod, spec.Vm) {
			return nil, vim.NewFault(&types.StorageDrsDisabledOnVm{}, "Storage DRS is disabled for the virtual machine %s in the datastore cluster %s; choose a datastore yourself.", r.vm.Name, pod.Name)
		}
	}
	var disks []types.BaseVirtualDevice
	switch r.kind {
	case types.StoragePlacementSpecPlacementTypeCreate:
		disks, err = s.createRequest(r)
	case types.StoragePlacementSpecPlacementTypeReconfigure:
		disks, err = s.reconfigureRequest(r)
	default: // clone, relocate
		disks, err = s.moveRequest(r)
	}
	if err != nil {
		return nil, err
	}
	return r, r.pickDisks(disks)
}

// placementPod returns the datastore cluster a request places into, which
// must have Storage DRS on.
func (s *Service) placementPod(sel types.StorageDrsPodSelectionSpec) (*mo.StoragePod, error) {
	ref := sel.StoragePod
	for _, c := range sel.InitialVmConfig {
		if ref == nil {
			ref = refp(c.StoragePod)
		}
		if c.StoragePod.Value != ref.Value {
			return nil, vim.InvalidArgument("storageSpec.podSelectionSpec.initialVmConfig.storagePod",
				"All of a placement's disks must go to one datastore cluster here; place the disks of %s and %s in separate requests.", ref.Value, c.StoragePod.Value)
		}
	}
	if ref == nil {
		return nil, vim.InvalidArgument("storageSpec.podSelectionSpec.storagePod", "Name the datastore cluster to place into (podSelectionSpec.storagePod).")
	}
	pod, err := lookupAs[mo.StoragePod](s.reg, *ref, "StoragePod")
	if err != nil {
		return nil, err
	}
	if !podSDRSEnabled(pod) {
		return nil, vim.InvalidArgument("storageSpec.podSelectionSpec.storagePod",
			"Storage DRS is disabled on the datastore cluster %s; turn it on (ConfigureStorageDrsForPod_Task) or choose one of its datastores.", pod.Name)
	}
	return pod, nil
}

// vmSDRSDisabled reports whether pod's configuration turns Storage DRS off
// for vm.
func vmSDRSDisabled(pod *mo.StoragePod, vm *types.ManagedObjectReference) bool {
	for _, c := range pod.PodStorageDrsEntry.StorageDrsConfig.VmConfig {
		if c.Vm != nil && c.Vm.Value == vm.Value && c.Enabled != nil && !*c.Enabled {
			return true
		}
	}
	return false
}

// createRequest checks a create request: a pool, a config spec and the
// optional folder and host. It returns the new disks.
func (s *Service) createRequest(r *storageRequest) ([]types.BaseVirtualDevice, error) {
	spec := r.spec
	if spec.ResourcePool == nil {
		return nil, vim.InvalidArgument("storageSpec.resourcePool", "Placing a new virtual machine needs the resource pool it goes in (resourcePool).")
	}
	if spec.ConfigSpec == nil {
		return nil, vim.InvalidArgument("storageSpec.configSpec", "Placing a new virtual machine needs its configuration (configSpec).")
	}
	if spec.Folder != nil {
		if _, err := folderFor(s.reg, *spec.Folder, "VirtualMachine"); err != nil {
			return nil, err
		}
	}
	_, hosts, err := s.resolveTarget(target{host: spec.Host, pool: spec.ResourcePool, prefix: "storageSpec."})
	if err != nil {
		return nil, err
	}
	r.hosts = hosts
	disks := specNewDisks(spec.ConfigSpec)
	r.need = spec.ConfigSpec.MemoryMB << 20 // the swap file
	return disks, nil
}

// reconfigureRequest checks a reconfigure request: a VM and the config
// spec that adds disks to it. It returns the new disks.
func (s *Service) reconfigureRequest(r *storageRequest) ([]types.BaseVirtualDevice, error) {
	if r.vm == nil {
		return nil, vim.InvalidArgument("storageSpec.vm", "A reconfigure placement needs the virtual machine (vm).")
	}
	if r.spec.ConfigSpec == nil {
		return nil, vim.InvalidArgument("storageSpec.configSpec", "A reconfigure placement needs the configuration change (configSpec).")
	}
	_, hosts, err := s.resolveTarget(target{vm: r.vm, host: r.vm.Runtime.Host, prefix: "storageSpec."})
	if err != nil {
		return nil, err
	}
	r.hosts = hosts
	return specNewDisks(r.spec.ConfigSpec), nil
}

// moveRequest checks a clone or relocate request. It returns the VM's
// disks, which move with it.
func (s *Service) moveRequest(r *storageRequest) ([]types.BaseVirtualDevice, error) {
	if r.vm == nil {
		return nil, vim.InvalidArgument("storageSpec.vm", "A %s placement needs the virtual machine (vm).", r.kind)
	}
	loc := r.spec.RelocateSpec
	if r.kind == types.StoragePlacementSpecPlacementTypeClone {
		switch {
		case r.spec.Folder == nil:
			return nil, vim.InvalidArgument("storageSpec.folder", "A clone placement needs the folder of the clone (folder).")
		case r.spec.CloneName == "":
			return nil, vim.InvalidArgument("storageSpec.cloneName", "A clone placement needs the name of the clone (cloneName).")
		case r.spec.CloneSpec == nil:
			return nil, vim.InvalidArgument("storageSpec.cloneSpec", "A clone placement needs the clone spec (cloneSpec).")
		}
		if _, err := folderFor(s.reg, *r.spec.Folder, "VirtualMachine"); err != nil {
			return nil, err
		}
		loc = &r.spec.CloneSpec.Location
	}
	var host, pool *types.ManagedObjectReference
	if loc != nil {
		host, pool = loc.Host, loc.Pool
	}
	if host == nil && pool == nil {
		host = r.vm.Runtime.Host
	}
	_, hosts, err := s.resolveTarget(target{vm: r.vm, host: host, pool: pool, prefix: "storageSpec."})
	if err != nil {
		return nil, err
	}
	r.hosts = hosts
	var disks []types.BaseVirtualDevice
	for _, d := range r.vm.Config.Hardware.Device {
		if _, ok := d.(*types.VirtualDisk); ok {
			disks = append(disks, d)
		}
	}
	return disks, nil
}

// pickDisks chooses the disks placed: those initialVmConfig lists (which
// must be among disks), else all of disks; their capacity adds to need.
func (r *storageRequest) pickDisks(disks []types.BaseVirtualDevice) error {
	byKey := map[int32]*types.VirtualDisk{}
	for _, d := range disks {
		byKey[d.GetVirtualDevice().Key] = d.(*types.VirtualDisk)
	}
	for _, c := range r.spec.PodSelectionSpec.InitialVmConfig {
		for _, l := range c.Disk {
			if byKey[l.DiskId] == nil {
				return vim.InvalidArgument("storageSpec.podSelectionSpec.initialVmConfig.disk.diskId",
					"Disk %d is not a disk this %s places; name the keys of its new disks.", l.DiskId, r.kind)
			}
			if !slices.Contains(r.disks, l.DiskId) {
				r.disks = append(r.disks, l.DiskId)
			}
		}
	}
	if r.disks == nil {
		for _, d := range disks {
			r.disks = append(r.disks, d.GetVirtualDevice().Key)
		}
	}
	for _, k := range r.disks {
		r.need += diskCapacityBytes(byKey[k])
	}
	return nil
}

// specNewDisks returns the disks a config spec creates.
func specNewDisks(spec *types.VirtualMachineConfigSpec) []types.BaseVirtualDevice {
	var out []types.BaseVirtualDevice
	for _, c := range spec.DeviceChange {
		ds := c.GetVirtualDeviceConfigSpec()
		if _, ok := ds.Device.(*types.VirtualDisk); ok && ds.Operation == types.VirtualDeviceConfigSpecOperationAdd &&
			ds.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate {
			out = append(out, ds.Device)
		}
	}
	return out
}

// podCandidates returns the datastores of the pod that can take the
// request's files, the roomiest first; with none, the fault saying why.
func (s *Service) podCandidates(r *storageRequest) ([]*mo.Datastore, error) {
	var out []*mo.Datastore
	why := vim.NewFault(&types.NoCompatibleDatastore{}, "The datastore cluster %s has no datastores; move datastores into it first.", r.pod.Name)
	for _, ref := range r.pod.ChildEntity {
		ds := inventory.Get[mo.Datastore](s.reg, ref)
		if ds == nil {
			continue
		}
		if !dsInService(ds) || !slices.ContainsFunc(r.hosts, func(h *mo.HostSystem) bool { return datastoreUsableFrom(ds, h) }) {
			why = vim.NewFault(&types.NoCompatibleDatastore{},
				"No datastore of the datastore cluster %s is in service and reachable from a host the virtual machine can run on.", r.pod.Name)
			continue
		}
		if ds.Summary.FreeSpace < r.need {
			why = vim.NewFault(&types.InsufficientStorageSpace{},
				"No datastore of the datastore cluster %s has the %d MB free that the virtual machine's files need; free space or add datastores.", r.pod.Name, r.need>>20)
			continue
		}
		out = append(out, ds)
	}
	slices.SortStableFunc(out, func(a, b *mo.Datastore) int {
		return cmp.Or(cmp.Compare(b.Summary.FreeSpace, a.Summary.FreeSpace), cmp.Compare(a.Name, b.Name))
	})
	return out, why
}

// dsInService reports whether ds is accessible and not (entering)
// maintenance mode.
func dsInService(ds *mo.Datastore) bool {
	mm := ds.Summary.MaintenanceMode
	return ds.Summary.Accessible && (mm == "" || mm == string(types.DatastoreSummaryMaintenanceModeStateNormal))
}

// placementRecommendation is the recommendation, ranked rank (0 is the
// best), to place r's files on ds.
func (s *Service) placementRecommendation(key string, r *storageRequest, ds *mo.Datastore, rank int) types.ClusterRecommendation {
	dest := ds.Self
	rs := types.VirtualMachineRelocateSpec{Datastore: &dest, Pool: r.spec.ResourcePool, Host: r.spec.Host}
	for _, d := range r.disks {
		rs.Disk = append(rs.Disk, types.VirtualMachineRelocateSpecDiskLocator{DiskId: d, Datastore: dest})
	}
	before, after := dsSpaceUtil(ds, 0), dsSpaceUtil(ds, r.need)
	return types.ClusterRecommendation{
		Key: key, Type: "V1", Time: s.now(), Rating: int32(max(1, 5-rank)),
		Reason:     string(types.RecommendationReasonCodeStoragePlacement),
		ReasonText: "Satisfy storage initial placement requests",
		Target:     refp(r.pod.Self),
		Action: []types.BaseClusterAction{&types.StoragePlacementAction{
			ClusterAction: types.ClusterAction{Type: "StoragePlacementV1"},
			Vm:            r.spec.Vm, RelocateSpec: rs, Destination: dest,
			SpaceUtilBefore: before, SpaceDemandBefore: before, SpaceUtilAfter: after, SpaceDemandAfter: after,
		}},
	}
}

// dsSpaceUtil is the percentage of ds's capacity in use once extra more bytes
// are.
func dsSpaceUtil(ds *mo.Datastore, extra int64) float32 {
	c := ds.Summary.Capacity
	if c <= 0 {
		return 0
	}
	return float32(c-ds.Summary.FreeSpace+extra) * 100 / float32(c)
}

func (s *Service) applyStorageDrsRecommendation(ctx *soap.Context, req *types.ApplyStorageDrsRecommendation_Task) (any, error) {
	book := srmBook(ctx)
	pod, err := checkPlacementKeys(book, req.Key)
	if err != nil {
		return nil, err
	}
	user := ctx.UserName()
	spec := task.Spec{Entity: pod, DescriptionID: "StorageResourceManager.applyRecommendation", User: user, ChainID: s.tasks.NextChainID()}
	ref, err := s.tasks.Start(ctx, spec, func(tctx context.Context, t *task.Task) (types.AnyType, error) {
		return s.applyPlacementKeys(tctx, book, user, t.ChainID, req.Key, nil)
	})
	if err != nil {
		return nil, err
	}
	return &types.ApplyStorageDrsRecommendation_TaskResponse{Returnval: ref}, nil
}

// checkPlacementKeys checks that keys name pending recommendations, no two
// of them alternatives of one request, and returns the first one's pod.
func checkPlacementKeys(book *placementBook, keys []string) (types.ManagedObjectReference, error) {
	var pod types.ManagedObjectReference
	if len(keys) == 0 {
		return pod, vim.InvalidArgument("key", "Pass the key of the recommendation to apply.")
	}
	seen := map[*placement]string{}
	for _, k := range keys {
		p, ok := book.peek(k)
		if !ok {
			return pod, unknownRecommendation(k)
		}
		if other, dup := seen[p]; dup {
			return pod, vim.InvalidArgument("key", "The recommendations %s and %s are alternatives for one placement; apply only one of them.", other, k)
		}
		seen[p] = k
		if pod.Value == "" {
			pod = p.pod
		}
	}
	return pod, nil
}

// applyPlacementKeys applies the initial placement recommendations keys
// (of pod, when not nil) in turn and returns the VM of the last one.
func (s *Service) applyPlacementKeys(ctx context.Context, book *placementBook, user string, chain int32, keys []string, pod *types.ManagedObjectReference) (types.AnyType, error) {
	var res types.ApplyStorageRecommendationResult
	for _, k := range keys {
		if p, ok := book.peek(k); ok && pod != nil && p.pod.Value != pod.Value {
			return nil, vim.InvalidArgument("key", "The recommendation %s is for datastore cluster %s, not %s.", k, p.pod.Value, pod.Value)
		}
		p, ok := book.take(k)
		if !ok {
			return nil, unknownRecommendation(k)
		}
		vm, err := s.applyPlacement(ctx, user, chain, p, p.dest[k])
		if err != nil {
			return nil, err
		}
		res.Vm = vm
	}
	return res, nil
}

// applyPlacement performs the operation of placement p with its files on
// datastore dest, and returns the VM.
func (s *Service) applyPlacement(ctx context.Context, user string, chain int32, p *placement, dest types.ManagedObjectReference) (*types.ManagedObjectReference, error) {
	ds, err := lookupAs[mo.Datastore](s.reg, dest, "Datastore")
	if err != nil {
		return nil, err
	}
	members := s.podMemberNames(p.pod)
	switch p.kind {
	case types.StoragePlacementSpecPlacementTypeCreate:
		cfg := vim.DeepCopy(*p.spec.ConfigSpec)
		p.pin(&cfg, ds, members)
		folder, err := s.placementFolder(p.spec)
		if err != nil {
			return nil, err
		}
		ref, err := s.createVM(ctx, user, chain, folder, *p.spec.ResourcePool, p.spec.Host, cfg)
		if err != nil {
			return nil, err
		}
		return &ref, nil
	case types.StoragePlacementSpecPlacementTypeReconfigure:
		cfg := vim.DeepCopy(*p.spec.ConfigSpec)
		p.filesInPod = false // a reconfiguration only adds disks
		p.pin(&cfg, ds, members)
		_, err := s.withVM(ctx, *p.spec.Vm, func(vm *mo.VirtualMachine) (types.AnyType, error) {
			return nil, s.reconfigure(ctx, user, chain, vm, &cfg)
		})
		return p.spec.Vm, err
	case types.StoragePlacementSpecPlacementTypeRelocate:
		spec := types.VirtualMachineRelocateSpec{}
		if p.spec.RelocateSpec != nil {
			spec = vim.DeepCopy(*p.spec.RelocateSpec)
		}
		p.pinLocation(&spec, dest)
		return p.spec.Vm, s.relocateForSDRS(ctx, user, *p.spec.Vm, spec)
	}
	return s.cloneForSDRS(ctx, user, p, dest)
}

// placementFolder returns the folder a new VM goes in: the spec's, else the
// VM folder of its pool's datacenter.
func (s *Service) placementFolder(spec types.StoragePlacementSpec) (types.ManagedObjectReference, error) {
	if spec.Folder != nil {
		return *spec.Folder, nil
	}
	dc := datacenterOf(s.reg, *spec.ResourcePool)
	if dc == nil {
		return types.ManagedObjectReference{}, vim.InvalidArgument("storageSpec.resourcePool", "The resource pool is in no datacenter.")
	}
	return dc.VmFolder, nil
}

// podMemberNames returns the names of the datastores in pod.
func (s *Service) podMemberNames(pod types.ManagedObjectReference) map[string]bool {
	out := map[string]bool{}
	if p := inventory.Get[mo.StoragePod](s.reg, pod); p != nil {
		for _, r := range p.ChildEntity {
			if ds := inventory.Get[mo.Datastore](s.reg, r); ds != nil {
				out[ds.Name] = true
			}
		}
	}
	return out
}

// pin puts the files p places on ds: the configuration files (with
// filesInPod) and the disks p placed. A file stays where it is when its path
// names a datastore outside the pod.
func (p *placement) pin(cfg *types.VirtualMachineConfigSpec, ds *mo.Datastore, members map[string]bool) {
	if p.filesInPod {
		if cfg.Files == nil {
			cfg.Files = &types.VirtualMachineFileInfo{}
		}
		cfg.Files.VmPathName = repointPath(cfg.Files.VmPathName, ds.Name, members)
	}
	for _, c := range cfg.DeviceChange {
		disk, ok := c.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk)
		if !ok || !slices.Contains(p.disks, disk.Key) {
			continue
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		fi := b.GetVirtualDeviceFileBackingInfo()
		if name, _, ok := splitDSPath(fi.FileName); ok && !members[name] {
			continue
		}
		fi.FileName = repointPath(fi.FileName, ds.Name, members)
		fi.Datastore = refp(ds.Self)
	}
}

// repointPath moves a datastore path ("", "[ds]" or "[ds] rel") whose
// datastore is in the pod (or unnamed) to datastore dest.
func repointPath(p, dest string, members map[string]bool) string {
	name, rel, ok := splitDSPath(p)
	if ok && !members[name] {
		return p
	}
	return dsPath(dest, rel)
}

// pinLocation points a relocate spec's datastore, and the locators of the
// disks p placed, at dest.
func (p *placement) pinLocation(spec *types.VirtualMachineRelocateSpec, dest types.ManagedObjectReference) {
	if p.filesInPod {
		spec.Datastore = refp(dest)
	}
	for _, k := range p.disks {
		i := slices.IndexFunc(spec.Disk, func(l types.VirtualMachineRelocateSpecDiskLocator) bool { return l.DiskId == k })
		if i < 0 {
			spec.Disk = append(spec.Disk, types.VirtualMachineRelocateSpecDiskLocator{DiskId: k, Datastore: dest})
			continue
		}
		spec.Disk[i].Datastore = dest
	}
}

// relocateForSDRS moves vm as spec says (RelocateVM_Task's code), for a
// Storage DRS recommendation.
func (s *Service) relocateForSDRS(ctx context.Context, user string, vm types.ManagedObjectReference, spec types.VirtualMachineRelocateSpec) error {
	return s.RelocateVM(ctx, user, vm, spec)
}

// cloneForSDRS clones the VM of p with its files on dest (CloneVM_Task's
// code), for a Storage DRS recommendation, and returns the clone.
func (s *Service) cloneForSDRS(ctx context.Context, user string, p *placement, dest types.ManagedObjectReference) (*types.ManagedObjectReference, error) {
	spec := vim.DeepCopy(*p.spec.CloneSpec)
	p.pinLocation(&spec.Location, dest)
	ref, err := s.CloneVM(ctx, user, *p.spec.Vm, *p.spec.Folder, p.spec.CloneName, spec)
	if err != nil {
		return nil, err
	}
	return &ref, nil
}
