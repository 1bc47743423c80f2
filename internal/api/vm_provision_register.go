package api

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"path"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// registerVMTask is Folder.RegisterVM_Task.
func (s *Service) registerVMTask(ctx *soap.Context, req *types.RegisterVM_Task) (any, error) {
	folder := ctx.This
	args := *req
	spec := task.Spec{Entity: folder, DescriptionID: "Folder.registerVm", User: ctx.UserName(), ChainID: s.tasks.NextChainID()}
	ref, err := s.tasks.Start(ctx, spec, func(ctx context.Context, t *task.Task) (types.AnyType, error) {
		return s.registerVM(ctx, t.User, t.ChainID, folder, &args)
	})
	if err != nil {
		return nil, err
	}
	return &types.RegisterVM_TaskResponse{Returnval: ref}, nil
}

// RegisterVM adds the VM whose configuration file is path to folder, as
// RegisterVM_Task does, and returns it once it is durable.
func (s *Service) RegisterVM(ctx context.Context, user string, folder types.ManagedObjectReference, path, name string, asTemplate bool,
	pool, host *types.ManagedObjectReference) (types.ManagedObjectReference, error) {
	req := &types.RegisterVM_Task{Path: path, Name: name, AsTemplate: asTemplate, Pool: pool, Host: host}
	return s.registerVM(ctx, user, s.tasks.NextChainID(), folder, req)
}

// registerVM brings back a VM from its files: the configuration file at
// req.Path gives its name, hardware, disks (whose files must exist; their
// sizes are the capacities), network adapters with their MAC addresses,
// and its UUIDs. A VM is placed in a resource pool (required); a template
// on a host (required) and in no pool. The instance UUID and MAC addresses
// are kept unless another VM of the inventory has them (a copied VM), in
// which case they are new.
func (s *Service) registerVM(ctx context.Context, user string, chain int32, folder types.ManagedObjectReference,
	req *types.RegisterVM_Task) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	vmx, err := checkRegisterArgs(req)
	if err != nil {
		return none, err
	}
	if ref := s.vmByConfigFile(vmx); ref != nil {
		return none, vim.NewFault(&types.AlreadyExists{Name: ref.Value},
			"The virtual machine %s is already registered with configuration file %s; unregister it first.", ref.Value, vmx)
	}
	pool, host, err := s.registerPlacement(folder, vmx, req)
	if err != nil {
		return none, err
	}
	files, err := s.hostFilesOf(host)
	if err != nil {
		return none, err
	}
	cfg, err := readVMX(ctx, files, vmx)
	if err != nil {
		return none, registerFault(vmx, err)
	}
	spec := &cfg.spec
	spec.Name = registerName(req.Name, spec.Name, vmx)
	macTypes := s.keepIdentity(cfg)
	hostRef := host.Self
	ref, vm, err := s.provisionVM(ctx, folder, pool, &hostRef, spec, func(vm *mo.VirtualMachine, env *vmEnv) error {
		setAddressTypes(vm, macTypes)
		if req.AsTemplate {
			vm.Config.Template = true
			vm.ResourcePool = nil
			env.deriveVM(vm, s.now())
		}
		return nil
	})
	if err != nil {
		return none, err
	}
	s.postVMEvents(s.vmEventSpec(ref, user, chain), &types.VmRegisteredEvent{VmEvent: vmEvent(vm.Config.Template)})
	return ref, nil
}

// checkRegisterArgs checks RegisterVM_Task's arguments as vCenter does and
// returns the configuration file's datastore path.
func checkRegisterArgs(req *types.RegisterVM_Task) (string, error) {
	switch {
	case req.AsTemplate && req.Host == nil:
		return "", vim.InvalidArgument("host", "A template is registered on a host; give the host argument.")
	case req.AsTemplate && req.Pool != nil:
		return "", vim.InvalidArgument("pool", "A template belongs to no resource pool; leave the pool argument unset (give a host instead).")
	case !req.AsTemplate && req.Pool == nil:
		return "", vim.InvalidArgument("pool", "A virtual machine is registered in a resource pool; give the pool argument.")
	}
	ds, rel, ok := splitDSPath(req.Path)
	if !ok || rel == "" {
		return "", vim.InvalidArgument("path", "Invalid datastore path '%s'; use the form '[datastore] dir/name.vmx'.", req.Path)
	}
	if !strings.HasSuffix(rel, ".vmx") && !strings.HasSuffix(rel, ".vmtx") {
		return "", vim.InvalidArgument("path", "'%s' is not a virtual machine configuration file (.vmx or .vmtx).", req.Path)
	}
	return dsPath(ds, rel), nil
}

// vmByConfigFile returns the VM of the inventory whose configuration file
// is vmx, or nil.
func (s *Service) vmByConfigFile(vmx string) *types.ManagedObjectReference {
	var found *types.ManagedObjectReference
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		vm := o.(*mo.VirtualMachine)
		if vm.Config != nil && vm.Config.Files.VmPathName == vmx {
			r := vm.Self
			found = &r
		}
		return found == nil
	})
	return found
}

// registerPlacement resolves the pool and host of a VM to register: the
// given pool (a template uses its host's compute resource's root pool) and
// the given host, else a usable host of the pool's compute resource that
// mounts the configuration file's datastore.
func (s *Service) registerPlacement(folder types.ManagedObjectReference, vmx string, req *types.RegisterVM_Task) (types.ManagedObjectReference, *mo.HostSystem, error) {
	var pool types.ManagedObjectReference
	if req.Pool != nil {
		pool = *req.Pool
	} else {
		h := inventory.Get[mo.HostSystem](s.reg, *req.Host)
		if h == nil {
			return pool, nil, vim.ManagedObjectNotFound(*req.Host)
		}
		root := hostRootPool(s.reg, h)
		if root == nil {
			return pool, nil, vim.InvalidArgument("host", "Host %s belongs to no compute resource.", h.Name)
		}
		pool = *root
	}
	cr, err := s.poolComputeResource(pool, folder)
	if err != nil {
		return pool, nil, err
	}
	ds, _, _ := splitDSPath(vmx)
	host, err := s.vmHost(cr, req.Host, ds)
	return pool, host, err
}

// registerFault maps an error reading a configuration file to vCenter's
// fault: NotFound for a missing configuration or disk file, InvalidArgument
// for a file that is not a VM's configuration.
func registerFault(vmx string, err error) error {
	var f *vim.Fault
	switch {
	case errors.As(err, &f), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return vim.NotFound("Cannot register %s: a file was not found: %v", vmx, err)
	}
	return vim.InvalidArgument("path", "%s is not a usable virtual machine configuration file: %v", vmx, err)
}

// registerName returns the name of a VM to register: the one asked for,
// else the configuration's displayName, else its directory's name.
func registerName(asked, display, vmx string) string {
	switch {
	case asked != "":
		return asked
	case display != "":
		return display
	}
	_, rel, _ := splitDSPath(vmx)
	if dir := path.Dir(rel); dir != "." {
		return path.Base(dir)
	}
	return strings.TrimSuffix(path.Base(rel), path.Ext(rel))
}

// keepIdentity keeps the configuration's instance UUID and MAC addresses
// where no VM of the inventory has them: an instance UUID in use is
// dropped (a new one is assigned), as is a vCenter-assigned or generated
// MAC address in use. It returns the address type of each kept MAC
// address (lower case), which the spec carries as manual.
func (s *Service) keepIdentity(cfg *vmxConfig) map[string]string {
	spec := &cfg.spec
	if spec.InstanceUuid != "" && s.instanceUUIDInUse(spec.InstanceUuid) {
		spec.InstanceUuid = ""
	}
	inUse := map[string]bool{}
	for _, m := range s.inventoryMACs() {
		inUse[strings.ToLower(m)] = true
	}
	out := map[string]string{}
	for i, ch := range spec.DeviceChange {
		at, ok := cfg.addressTypes[i]
		if !ok {
			continue
		}
		nic := ch.GetVirtualDeviceConfigSpec().Device.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		hw, err := net.ParseMAC(nic.MacAddress)
		if err != nil || (inUse[hw.String()] && at != string(types.VirtualEthernetCardMacTypeManual)) {
			nic.AddressType, nic.MacAddress = string(types.VirtualEthernetCardMacTypeAssigned), ""
			continue
		}
		out[hw.String()] = at
	}
	return out
}

// instanceUUIDInUse reports whether a VM of the inventory has instance
// UUID id.
func (s *Service) instanceUUIDInUse(id string) bool {
	found := false
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		vm := o.(*mo.VirtualMachine)
		found = vm.Config != nil && strings.EqualFold(vm.Config.InstanceUuid, id)
		return !found
	})
	return found
}

// setAddressTypes gives vm's network adapters the address types of their
// MAC addresses (lower case).
func setAddressTypes(vm *mo.VirtualMachine, macTypes map[string]string) {
	for _, d := range vm.Config.Hardware.Device {
		if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
			c := nic.GetVirtualEthernetCard()
			if at, ok := macTypes[strings.ToLower(c.MacAddress)]; ok {
				c.AddressType = at
			}
		}
	}
}
