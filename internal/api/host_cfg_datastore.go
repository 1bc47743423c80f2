package api

import (
	"fmt"
	"path/filepath"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// registerHostDatastoreSystem adds the methods that create datastores on a
// host.
func (s *Service) registerHostDatastoreSystem(t *soap.Table) {
	soap.Register(t, "HostDatastoreSystem", "CreateLocalDatastore", s.createLocalDatastore)
}

// LocalDatastorePath returns the host directory of a datastore made with
// CreateLocalDatastore, and false for any other datastore.
func LocalDatastorePath(ds *mo.Datastore) (string, bool) {
	if i, ok := ds.Info.(*types.LocalDatastoreInfo); ok && i.Path != "" {
		return i.Path, true
	}
	return "", false
}

// createLocalDatastore is HostDatastoreSystem.CreateLocalDatastore: a
// datastore whose files live in a directory of the host (created when
// missing), mounted on that host only. A host agent's datastores are the
// directories it was started with, so an agent host refuses it.
func (s *Service) createLocalDatastore(ctx *soap.Context, req *types.CreateLocalDatastore) (any, error) {
	name, err := entityName(req.Name, "datastore")
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(req.Path) {
		return nil, vim.InvalidArgument("path", "The path of a local datastore must be an absolute directory path on the host, not %q.", req.Path)
	}
	h, err := hostOfManager(ctx, s.reg)
	if err != nil {
		return nil, err
	}
	if s.isAgentHost(h.Self) {
		return nil, vim.NotSupported("The datastores of host %s are the directories its agent serves; restart `vireo host` with --datastore %s=%s.", h.Name, name, req.Path)
	}
	var ref types.ManagedObjectReference
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		dc := datacenterOf(tx, h.Self)
		if dc == nil {
			return vim.InvalidArgument("host", "The host %s is not in a datacenter.", h.Name)
		}
		if e := entityNamed(tx, dc.Datastore, name); e != nil {
			return vim.DuplicateName(name, e.Self)
		}
		ref = newDatastoreTxn(tx, dc, name, false, s.now())
		ds := inventory.Edit[mo.Datastore](tx, ref)
		info := ds.Info.GetDatastoreInfo()
		info.Url, info.ContainerId = req.Path, ""
		ds.Info = &types.LocalDatastoreInfo{DatastoreInfo: *info, Path: req.Path}
		ds.Summary.Type, ds.Summary.Url = "OTHER", req.Path
		ds.Capability.RawDiskMappingsSupported, ds.Capability.VmfsSparseSupported = false, types.NewBool(false)
		mountDatastoreTxn(tx, ref, h.Self)
		host := inventory.Edit[mo.HostSystem](tx, h.Self)
		appendRef(&host.Datastore, ref)
		var dss []*mo.Datastore
		for _, d := range host.Datastore {
			if x, ok := tx.Get(d).(*mo.Datastore); ok {
				dss = append(dss, x)
			}
		}
		if host.Config != nil {
			host.Config.FileSystemVolume = hostFileSystems(dss)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.RefreshHostDatastores(ctx, h.Self)
	s.postEvent(&types.LocalDatastoreCreatedEvent{Datastore: *dsArg(name, ref)}, ctx.UserName(), 0, h.Self,
		fmt.Sprintf("Created local datastore %s on %s in %s", name, h.Name, dcNameOf(datacenterOf(s.reg, h.Self))))
	return &types.CreateLocalDatastoreResponse{Returnval: ref}, nil
}
