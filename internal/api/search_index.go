package api

import (
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// The SearchIndex finds entities by inventory path, name, UUID, IP address,
// DNS name and datastore path. Where vCenter returns an unset result, so do
// these methods (a nil reference, or an empty list), never a fault; a
// datacenter or entity argument that does not exist is a
// ManagedObjectNotFound fault.

func (s *Service) registerSearchIndex(t *soap.Table) {
	soap.Register(t, "SearchIndex", "FindByInventoryPath", s.findByInventoryPath)
	soap.Register(t, "SearchIndex", "FindChild", s.findChild)
	soap.Register(t, "SearchIndex", "FindByUuid", s.findByUUID)
	soap.Register(t, "SearchIndex", "FindAllByUuid", s.findAllByUUID)
	soap.Register(t, "SearchIndex", "FindByIp", s.findByIP)
	soap.Register(t, "SearchIndex", "FindAllByIp", s.findAllByIP)
	soap.Register(t, "SearchIndex", "FindByDnsName", s.findByDNSName)
	soap.Register(t, "SearchIndex", "FindAllByDnsName", s.findAllByDNSName)
	soap.Register(t, "SearchIndex", "FindByDatastorePath", s.findByDatastorePath)
}

// inventoryChildren returns what vCenter's inventory paths and FindChild
// consider the children of an entity: a folder's childEntity, a
// datacenter's four folders, a compute resource's hosts and root resource
// pool, a resource pool's (or vApp's) child pools and VMs.
func inventoryChildren(o mo.Reference) []types.ManagedObjectReference {
	if o == nil {
		return nil
	}
	switch e := o.(type) {
	case *mo.Folder:
		return e.ChildEntity
	case *mo.StoragePod:
		return e.ChildEntity
	case *mo.Datacenter:
		return []types.ManagedObjectReference{e.VmFolder, e.HostFolder, e.DatastoreFolder, e.NetworkFolder}
	case *mo.ComputeResource:
		return append(append([]types.ManagedObjectReference(nil), e.Host...), derefs(e.ResourcePool)...)
	case *mo.ClusterComputeResource:
		return append(append([]types.ManagedObjectReference(nil), e.Host...), derefs(e.ResourcePool)...)
	case *mo.ResourcePool:
		return append(append([]types.ManagedObjectReference(nil), e.ResourcePool...), e.Vm...)
	case *mo.VirtualApp:
		return append(append([]types.ManagedObjectReference(nil), e.ResourcePool.ResourcePool...), e.Vm...)
	}
	typ := o.Reference().Type
	if inventory.IsA(typ, "HostSystem") {
		return nil // a host's VMs are not its inventory children
	}
	var out []types.ManagedObjectReference
	for _, p := range containmentPaths(typ) {
		v, _ := vim.Property(o, p)
		forEachRef(v, func(r types.ManagedObjectReference) { out = append(out, r) })
	}
	return out
}

// nameMatches reports whether an entity named name is the inventory path
// component comp. vCenter escapes '%', '/' and '\' in entity names
// ("a%2fb"); a name stored escaped matches as is, a raw one ("a/b")
// matches its escaped form.
func nameMatches(name, comp string) bool {
	return name == comp || strings.Contains(comp, "%") && name == unescapeName(comp)
}

func unescapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			switch strings.ToLower(s[i+1 : i+3]) {
			case "25":
				b.WriteByte('%')
				i += 2
				continue
			case "2f":
				b.WriteByte('/')
				i += 2
				continue
			case "5c":
				b.WriteByte('\\')
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// childNamed returns the child of o whose name is comp, or nil.
func (s *Service) childNamed(ctx *soap.Context, o mo.Reference, comp string) mo.Reference {
	for _, r := range inventoryChildren(o) {
		c := s.live(ctx, r.Value)
		if e, ok := c.(mo.Entity); ok && nameMatches(e.Entity().Name, comp) {
			return c
		}
	}
	return nil
}

func (s *Service) findChild(ctx *soap.Context, req *types.FindChild) (any, error) {
	o := s.live(ctx, req.Entity.Value)
	if o == nil {
		return nil, vim.ManagedObjectNotFound(req.Entity)
	}
	res := &types.FindChildResponse{}
	if c := s.childNamed(ctx, o, req.Name); c != nil {
		res.Returnval = refp(c.Reference())
	}
	return res, nil
}

func (s *Service) findByInventoryPath(ctx *soap.Context, req *types.FindByInventoryPath) (any, error) {
	res := &types.FindByInventoryPathResponse{}
	var o mo.Reference = s.live(ctx, s.content.RootFolder.Value)
	if o == nil {
		return res, nil
	}
	comps := strings.FieldsFunc(req.InventoryPath, func(r rune) bool { return r == '/' })
	if len(comps) == 0 && req.InventoryPath != "/" {
		return res, nil
	}
	for _, comp := range comps {
		if o = s.childNamed(ctx, o, comp); o == nil {
			return res, nil
		}
	}
	res.Returnval = refp(o.Reference())
	return res, nil
}

// searchScope checks the optional datacenter argument of a search and
// returns a function that says whether an object belongs to it.
func (s *Service) searchScope(ctx *soap.Context, dc *types.ManagedObjectReference) (func(mo.Reference) bool, error) {
	if dc == nil {
		return func(mo.Reference) bool { return true }, nil
	}
	if d, ok := s.live(ctx, dc.Value).(*mo.Datacenter); !ok || d == nil {
		return nil, vim.ManagedObjectNotFound(*dc)
	}
	return func(o mo.Reference) bool {
		d := datacenterOf(s.reg, o.Reference())
		return d != nil && d.Self.Value == dc.Value
	}, nil
}

// search returns the VMs (vmSearch) or hosts in scope for which match holds.
func (s *Service) search(ctx *soap.Context, dc *types.ManagedObjectReference, vmSearch bool, match func(mo.Reference) bool) ([]types.ManagedObjectReference, error) {
	inScope, err := s.searchScope(ctx, dc)
	if err != nil {
		return nil, err
	}
	typ := "HostSystem"
	if vmSearch {
		typ = "VirtualMachine"
	}
	var out []types.ManagedObjectReference
	s.reg.Each(typ, func(o mo.Reference) bool {
		if match(o) && inScope(o) {
			out = append(out, o.Reference())
		}
		return true
	})
	sortRefs(out)
	return out, nil
}

// first returns the first of refs, or nil.
func first(refs []types.ManagedObjectReference) *types.ManagedObjectReference {
	if len(refs) == 0 {
		return nil
	}
	return refp(refs[0])
}

// uuidMatch returns the matcher of FindByUuid: a VM's BIOS UUID (or its
// instance UUID when instanceUUID is set), a host's hardware UUID.
func uuidMatch(uuid string, vmSearch, instanceUUID bool) func(mo.Reference) bool {
	return func(o mo.Reference) bool {
		switch e := o.(type) {
		case *mo.VirtualMachine:
			if !vmSearch || e.Config == nil {
				return false
			}
			if instanceUUID {
				return strings.EqualFold(e.Config.InstanceUuid, uuid)
			}
			return strings.EqualFold(e.Config.Uuid, uuid)
		case *mo.HostSystem:
			switch {
			case vmSearch:
				return false
			case e.Hardware != nil:
				return strings.EqualFold(e.Hardware.SystemInfo.Uuid, uuid)
			case e.Summary.Hardware != nil:
				return strings.EqualFold(e.Summary.Hardware.Uuid, uuid)
			}
		}
		return false
	}
}

func (s *Service) findByUUID(ctx *soap.Context, req *types.FindByUuid) (any, error) {
	refs, err := s.search(ctx, req.Datacenter, req.VmSearch, uuidMatch(req.Uuid, req.VmSearch, isTrue(req.InstanceUuid)))
	if err != nil {
		return nil, err
	}
	return &types.FindByUuidResponse{Returnval: first(refs)}, nil
}

func (s *Service) findAllByUUID(ctx *soap.Context, req *types.FindAllByUuid) (any, error) {
	refs, err := s.search(ctx, req.Datacenter, req.VmSearch, uuidMatch(req.Uuid, req.VmSearch, isTrue(req.InstanceUuid)))
	if err != nil {
		return nil, err
	}
	return &types.FindAllByUuidResponse{Returnval: refs}, nil
}

// ipMatch returns the matcher of FindByIp: a VM's guest IP addresses, a
// host's VMkernel NIC addresses or a host added by its address.
func ipMatch(ip string) func(mo.Reference) bool {
	return func(o mo.Reference) bool {
		switch e := o.(type) {
		case *mo.VirtualMachine:
			if e.Guest == nil {
				return false
			}
			if e.Guest.IpAddress == ip {
				return true
			}
			for _, n := range e.Guest.Net {
				for _, a := range n.IpAddress {
					if a == ip {
						return true
					}
				}
			}
		case *mo.HostSystem:
			if e.Name == ip {
				return true
			}
			if e.Config != nil && e.Config.Network != nil {
				for _, n := range e.Config.Network.Vnic {
					if n.Spec.Ip != nil && n.Spec.Ip.IpAddress == ip {
						return true
					}
				}
			}
		}
		return false
	}
}

func (s *Service) findByIP(ctx *soap.Context, req *types.FindByIp) (any, error) {
	refs, err := s.search(ctx, req.Datacenter, req.VmSearch, ipMatch(req.Ip))
	if err != nil {
		return nil, err
	}
	return &types.FindByIpResponse{Returnval: first(refs)}, nil
}

func (s *Service) findAllByIP(ctx *soap.Context, req *types.FindAllByIp) (any, error) {
	refs, err := s.search(ctx, req.Datacenter, req.VmSearch, ipMatch(req.Ip))
	if err != nil {
		return nil, err
	}
	return &types.FindAllByIpResponse{Returnval: refs}, nil
}

// dnsMatch returns the matcher of FindByDnsName, which ignores case: a VM's
// guest host name, or a host's DNS host name (config.network.dnsConfig,
// alone or with its domain). A host's inventory name is not its DNS name.
func dnsMatch(name string) func(mo.Reference) bool {
	return func(o mo.Reference) bool {
		switch e := o.(type) {
		case *mo.VirtualMachine:
			return e.Guest != nil && e.Guest.HostName != "" && strings.EqualFold(e.Guest.HostName, name)
		case *mo.HostSystem:
			if e.Config == nil || e.Config.Network == nil || e.Config.Network.DnsConfig == nil {
				return false
			}
			d := e.Config.Network.DnsConfig.GetHostDnsConfig()
			return d.HostName != "" && (strings.EqualFold(d.HostName, name) ||
				d.DomainName != "" && strings.EqualFold(d.HostName+"."+d.DomainName, name))
		}
		return false
	}
}

func (s *Service) findByDNSName(ctx *soap.Context, req *types.FindByDnsName) (any, error) {
	refs, err := s.search(ctx, req.Datacenter, req.VmSearch, dnsMatch(req.DnsName))
	if err != nil {
		return nil, err
	}
	return &types.FindByDnsNameResponse{Returnval: first(refs)}, nil
}

func (s *Service) findAllByDNSName(ctx *soap.Context, req *types.FindAllByDnsName) (any, error) {
	refs, err := s.search(ctx, req.Datacenter, req.VmSearch, dnsMatch(req.DnsName))
	if err != nil {
		return nil, err
	}
	return &types.FindAllByDnsNameResponse{Returnval: refs}, nil
}

// findByDatastorePath finds the VM whose configuration file is path
// ("[datastore1] vm1/vm1.vmx") in a datacenter. A path that is not of that
// form is an InvalidDatastorePath fault, as in vCenter.
func (s *Service) findByDatastorePath(ctx *soap.Context, req *types.FindByDatastorePath) (any, error) {
	ds, file, ok := splitDatastorePath(req.Path)
	if !ok {
		return nil, vim.NewFault(&types.InvalidDatastorePath{DatastorePath: req.Path},
			"Invalid datastore path '%s': write it as '[datastore] folder/file.vmx'.", req.Path)
	}
	dc := req.Datacenter
	refs, err := s.search(ctx, &dc, true, func(o mo.Reference) bool {
		vm := o.(*mo.VirtualMachine)
		if vm.Config == nil {
			return false
		}
		d, f, ok := splitDatastorePath(vm.Config.Files.VmPathName)
		return ok && d == ds && f == file
	})
	if err != nil {
		return nil, err
	}
	return &types.FindByDatastorePathResponse{Returnval: first(refs)}, nil
}

// splitDatastorePath splits "[ds] path" into its datastore name and path,
// ignoring the spaces after the bracket.
func splitDatastorePath(p string) (ds, file string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(p), "[")
	if !ok {
		return "", "", false
	}
	ds, file, ok = strings.Cut(rest, "]")
	if !ok || ds == "" {
		return "", "", false
	}
	return ds, strings.TrimLeft(file, " "), true
}
