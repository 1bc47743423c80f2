package api

import (
	"context"
	"slices"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// Child types of vCenter's folders.
var (
	rootFolderTypes      = []string{"Folder", "Datacenter"}
	vmFolderTypes        = []string{"Folder", "VirtualMachine", "VirtualApp"}
	hostFolderTypes      = []string{"Folder", "ComputeResource"}
	datastoreFolderTypes = []string{"Folder", "Datastore", "StoragePod"}
	networkFolderTypes   = []string{"Folder", "Network", "DistributedVirtualSwitch"}
)

func (s *Service) registerFolder(t *soap.Table) {
	soap.Register(t, "Folder", "CreateFolder", s.createFolder)
	soap.Register(t, "Folder", "CreateDatacenter", s.createDatacenter)
	soap.Register(t, "Folder", "CreateClusterEx", s.createClusterEx)
	soap.Register(t, "Folder", "CreateCluster", s.createCluster)
	soap.Register(t, "Folder", "MoveIntoFolder_Task", s.moveIntoFolder)
	soap.Register(t, "Folder", "PlaceVmsXCluster", s.placeVmsXCluster)
	soap.Register(t, "Folder", "CreateStoragePod", s.createStoragePod)
}

func (s *Service) createFolder(ctx *soap.Context, req *types.CreateFolder) (any, error) {
	ref, err := s.CreateFolder(ctx, ctx.UserName(), ctx.This, req.Name)
	if err != nil {
		return nil, err
	}
	return &types.CreateFolderResponse{Returnval: ref}, nil
}

// CreateFolder creates a folder called name in parent, as Folder.CreateFolder
// does. The new folder holds the same child types as parent. Faults:
// InvalidName, DuplicateName (a sibling has the name), NotSupported (parent
// cannot hold folders), ManagedObjectNotFound.
func (s *Service) CreateFolder(ctx context.Context, user string, parent types.ManagedObjectReference, name string) (types.ManagedObjectReference, error) {
	name, err := entityName(name, "folder")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	var ref types.ManagedObjectReference
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		p, err := folderFor(tx, parent, "Folder")
		if err != nil {
			return err
		}
		if err := checkUnique(tx, p.ChildEntity, name, ref); err != nil {
			return err
		}
		ref = newFolderTxn(tx, name, p.Self, p.ChildType)
		addChildTxn(tx, p.Self, ref)
		return nil
	})
	return ref, err
}

// newFolderTxn creates a folder holding childTypes, with a MoRef in
// vCenter's style for its kind (group-v7 for a VM folder), and returns it.
// The caller links it into its parent.
func newFolderTxn(tx *inventory.Txn, name string, parent types.ManagedObjectReference, childTypes []string) types.ManagedObjectReference {
	ref := folderRefTxn(tx, childTypes)
	f := &mo.Folder{}
	initEntity(&f.ManagedEntity, ref, name, &parent)
	f.ChildType = append([]string(nil), childTypes...)
	tx.Create(f, true)
	return ref
}

// folderRefTxn allocates a folder MoRef in vCenter's style for what the
// folder holds (group-v7 for a VM folder), skipping values in use (the root
// folder is group-d1).
func folderRefTxn(tx *inventory.Txn, childTypes []string) types.ManagedObjectReference {
	for {
		ref := tx.NewRef("Folder")
		ref.Value = "group-" + folderKind(childTypes) + strings.TrimPrefix(ref.Value, "group-")
		if tx.Get(ref) == nil {
			return ref
		}
	}
}

// folderKind is the letter vCenter puts in a folder's MoRef for what it holds.
func folderKind(childTypes []string) string {
	for _, t := range childTypes {
		switch t {
		case "Datacenter":
			return "d"
		case "VirtualMachine":
			return "v"
		case "ComputeResource":
			return "h"
		case "Datastore":
			return "s"
		case "Network":
			return "n"
		}
	}
	return ""
}

func (s *Service) createDatacenter(ctx *soap.Context, req *types.CreateDatacenter) (any, error) {
	if s.isESX() {
		return nil, vim.NotSupported("An ESX host has exactly one datacenter; connect to a vCenter to create datacenters.")
	}
	ref, err := s.CreateDatacenter(ctx, ctx.UserName(), ctx.This, req.Name)
	if err != nil {
		return nil, err
	}
	return &types.CreateDatacenterResponse{Returnval: ref}, nil
}

func (s *Service) createClusterEx(ctx *soap.Context, req *types.CreateClusterEx) (any, error) {
	ref, err := s.CreateCluster(ctx, ctx.UserName(), ctx.This, req.Name, req.Spec)
	if err != nil {
		return nil, err
	}
	return &types.CreateClusterExResponse{Returnval: ref}, nil
}

// createCluster serves the deprecated CreateCluster, whose ClusterConfigSpec
// is a subset of ClusterConfigSpecEx.
func (s *Service) createCluster(ctx *soap.Context, req *types.CreateCluster) (any, error) {
	ref, err := s.CreateCluster(ctx, ctx.UserName(), ctx.This, req.Name, *specEx(req.Spec))
	if err != nil {
		return nil, err
	}
	return &types.CreateClusterResponse{Returnval: ref}, nil
}

// isESX reports whether the server presents itself as a standalone ESX host.
func (s *Service) isESX() bool { return s.content.About.ApiType == "HostAgent" }

func (s *Service) moveIntoFolder(ctx *soap.Context, req *types.MoveIntoFolder_Task) (any, error) {
	folder, list, user := ctx.This, req.List, ctx.UserName()
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: folder, DescriptionID: "Folder.moveInto", User: user},
		func(tctx context.Context, t *task.Task) (types.AnyType, error) {
			return nil, s.MoveIntoFolder(tctx, user, folder, list)
		})
	if err != nil {
		return nil, err
	}
	return &types.MoveIntoFolder_TaskResponse{Returnval: ref}, nil
}

// MoveIntoFolder moves the entities in list into folder in one transaction,
// as Folder.MoveIntoFolder_Task does. Faults: NotSupported (the folder cannot
// hold an entity's type, or the move would cross datacenters), InvalidFolder
// (a folder into itself or its subtree), DuplicateName, ManagedObjectNotFound.
func (s *Service) MoveIntoFolder(ctx context.Context, user string, folder types.ManagedObjectReference, list []types.ManagedObjectReference) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		for _, ref := range list {
			if err := moveOneTxn(tx, folder, ref); err != nil {
				return err
			}
		}
		return nil
	})
}

func moveOneTxn(tx *inventory.Txn, folder, ref types.ManagedObjectReference) error {
	obj, ok := tx.Get(ref).(mo.Entity)
	if !ok {
		return vim.ManagedObjectNotFound(ref)
	}
	e := obj.Entity()
	f, err := folderFor(tx, folder, e.Self.Type)
	if err != nil {
		return err
	}
	if e.Parent == nil {
		return vim.NotSupported("The root folder cannot be moved.")
	}
	if e.Parent.Value == f.Self.Value {
		return nil
	}
	if asFolder(tx.Get(*e.Parent)) == nil {
		return vim.NotSupported("%s '%s' is not in a folder; move it with the method of its parent.", e.Self.Type, e.Name)
	}
	if sub, ok := obj.(*mo.Folder); ok && !sameTypes(sub.ChildType, f.ChildType) {
		return vim.NotSupported("The folder '%s' holds %s and cannot move into '%s', which holds %s.",
			e.Name, strings.Join(sub.ChildType, ", "), f.Name, strings.Join(f.ChildType, ", "))
	}
	if isAncestor(tx, e.Self, f.Self) {
		return vim.NewFault(&types.InvalidFolder{Target: e.Self},
			"The folder '%s' cannot be moved into itself or into one of its subfolders.", e.Name)
	}
	if err := sameDatacenter(tx, obj, f); err != nil {
		return err
	}
	if err := checkUnique(tx, f.ChildEntity, e.Name, e.Self); err != nil {
		return err
	}
	from := *e.Parent
	removeChildTxn(tx, from, e.Self)
	addChildTxn(tx, f.Self, e.Self)
	refreshPodTxn(tx, from)
	refreshPodTxn(tx, f.Self)
	return nil
}

// sameDatacenter refuses moving an entity out of its datacenter (only
// datacenters and folders of datacenters move between root folders).
func sameDatacenter(r objReader, obj mo.Entity, target *mo.Folder) error {
	if _, ok := obj.(*mo.Datacenter); ok {
		return nil
	}
	e := obj.Entity()
	from, to := datacenterOf(r, e.Self), datacenterOf(r, target.Self)
	if from == nil || (to != nil && to.Self.Value == from.Self.Value) {
		return nil
	}
	return vim.NotSupported("%s '%s' belongs to datacenter '%s' and cannot be moved to another datacenter.", e.Self.Type, e.Name, from.Name)
}

// sameTypes reports whether two child type lists hold the same types.
func sameTypes(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, t := range a {
		if !slices.Contains(b, t) {
			return false
		}
	}
	return true
}
