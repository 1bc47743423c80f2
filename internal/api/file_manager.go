package api

import (
	"context"
	"errors"
	"io/fs"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// DatastoreNamespaceManagerRef is the DatastoreNamespaceManager singleton,
// which manages top-level folders on vSAN and VVol datastores.
var DatastoreNamespaceManagerRef = ref("DatastoreNamespaceManager", "DatastoreNamespaceManager")

func (s *Service) registerFileManager(t *soap.Table) {
	soap.Register(t, "FileManager", "MakeDirectory", s.makeDirectory)
	soap.Register(t, "FileManager", "DeleteDatastoreFile_Task", s.deleteDatastoreFile)
	soap.Register(t, "FileManager", "MoveDatastoreFile_Task", s.moveDatastoreFile)
	soap.Register(t, "FileManager", "CopyDatastoreFile_Task", s.copyDatastoreFile)
	soap.Register(t, "DatastoreNamespaceManager", "CreateDirectory", s.createNamespaceDirectory)
	soap.Register(t, "DatastoreNamespaceManager", "DeleteDirectory", s.deleteNamespaceDirectory)
	soap.Register(t, "HostDatastoreBrowser", "SearchDatastore_Task", s.searchDatastore)
	soap.Register(t, "HostDatastoreBrowser", "SearchDatastoreSubFolders_Task", s.searchDatastoreSubFolders)
	soap.Register(t, "HostDatastoreBrowser", "DeleteFile", s.browserDeleteFile)
	s.registerVirtualDiskManager(t)
}

// fileSingletons returns the FileManager, DatastoreNamespaceManager and
// VirtualDiskManager.
func fileSingletons() []mo.Reference {
	fm := &mo.FileManager{}
	fm.Self = FileManagerRef
	nm := &mo.DatastoreNamespaceManager{}
	nm.Self = DatastoreNamespaceManagerRef
	return []mo.Reference{fm, nm, newVirtualDiskManager()}
}

// resolveFile parses a datastore path and finds the files of its datastore.
func (s *Service) resolveFile(name string, dc *types.ManagedObjectReference) (filePath, dsFiles, error) {
	p, err := parseFilePath(name)
	if err != nil {
		return p, dsFiles{}, err
	}
	f, err := s.datastoreFiles(dc, p.Datastore)
	return p, f, err
}

func (s *Service) makeDirectory(ctx *soap.Context, req *types.MakeDirectory) (any, error) {
	p, f, err := s.resolveFile(req.Name, req.Datacenter)
	if err != nil {
		return nil, err
	}
	if p.Path == "" {
		return nil, vim.NewFault(&types.FileAlreadyExists{FileFault: types.FileFault{File: p.String()}},
			"Cannot complete the operation because the file or folder %s already exists", p)
	}
	parents := req.CreateParentDirectories != nil && *req.CreateParentDirectories
	if parents {
		// vCenter reports an existing folder even when creating parents.
		if _, err := f.files.Stat(ctx, p.String()); err == nil {
			return nil, fileFault(fs.ErrExist, p)
		}
	}
	if err := f.files.Mkdir(ctx, p.String(), parents); err != nil {
		return nil, fileFault(err, p)
	}
	return &types.MakeDirectoryResponse{}, nil
}

// fileTask starts a FileManager task on the datastore named by path.
func (s *Service) fileTask(ctx *soap.Context, entity types.ManagedObjectReference, id string, fn func(context.Context) error) (types.ManagedObjectReference, error) {
	return s.tasks.Start(ctx, task.Spec{Entity: entity, DescriptionID: id, User: ctx.UserName()},
		func(ctx context.Context, _ *task.Task) (types.AnyType, error) {
			return nil, fn(ctx)
		})
}

func (s *Service) deleteDatastoreFile(ctx *soap.Context, req *types.DeleteDatastoreFile_Task) (any, error) {
	p, f, err := s.resolveFile(req.Name, req.Datacenter)
	if err != nil {
		return nil, err
	}
	ref, err := s.fileTask(ctx, f.ds.Self, "FileManager.deleteFile", func(ctx context.Context) error {
		return deleteFile(ctx, f, p)
	})
	if err != nil {
		return nil, err
	}
	return &types.DeleteDatastoreFile_TaskResponse{Returnval: ref}, nil
}

// deleteFile removes the file or folder p (with its contents).
func deleteFile(ctx context.Context, f dsFiles, p filePath) error {
	if p.Path == "" {
		return vim.NewFault(&types.CannotDeleteFile{FileFault: types.FileFault{File: p.String()}},
			"Cannot delete file %s: it is the root folder of datastore '%s'.", p, p.Datastore)
	}
	err := f.files.Remove(ctx, p.String())
	if errors.Is(err, fs.ErrPermission) {
		return vim.NewFault(&types.CannotDeleteFile{FileFault: types.FileFault{File: p.String()}}, "Cannot delete file %s: %v", p, err)
	}
	return fileFault(err, p)
}

func (s *Service) moveDatastoreFile(ctx *soap.Context, req *types.MoveDatastoreFile_Task) (any, error) {
	ref, err := s.transferFile(ctx, "FileManager.moveFile", req.SourceName, req.SourceDatacenter,
		req.DestinationName, req.DestinationDatacenter, isTrue(req.Force), true)
	if err != nil {
		return nil, err
	}
	return &types.MoveDatastoreFile_TaskResponse{Returnval: ref}, nil
}

func (s *Service) copyDatastoreFile(ctx *soap.Context, req *types.CopyDatastoreFile_Task) (any, error) {
	ref, err := s.transferFile(ctx, "FileManager.copyFile", req.SourceName, req.SourceDatacenter,
		req.DestinationName, req.DestinationDatacenter, isTrue(req.Force), false)
	if err != nil {
		return nil, err
	}
	return &types.CopyDatastoreFile_TaskResponse{Returnval: ref}, nil
}

// transferFile starts a task that moves (or copies) src to dst: through one
// host when a host mounts both datastores, else by streaming the files from
// the source's host to the destination's.
func (s *Service) transferFile(ctx *soap.Context, id, srcName string, srcDC *types.ManagedObjectReference,
	dstName string, dstDC *types.ManagedObjectReference, force, move bool) (types.ManagedObjectReference, error) {
	if dstDC == nil {
		dstDC = srcDC
	}
	src, from, err := s.resolveFile(srcName, srcDC)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	dst, to, err := s.resolveFile(dstName, dstDC)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	if src.Path == "" || dst.Path == "" {
		root := src
		if dst.Path == "" {
			root = dst
		}
		return types.ManagedObjectReference{}, vim.InvalidArgument("name",
			"%s is the root folder of datastore '%s'; name a file or folder inside it.", root, root.Datastore)
	}
	if shared, ok := s.sharedFiles(from, to); ok {
		return s.fileTask(ctx, from.ds.Self, id, func(ctx context.Context) error {
			op := shared.Copy
			if move {
				op = shared.Move
			}
			return transferFault(op(ctx, src.String(), dst.String(), force), src, dst)
		})
	}
	return s.fileTask(ctx, from.ds.Self, id, func(ctx context.Context) error {
		if _, err := to.files.Stat(ctx, dst.String()); err == nil {
			if !force {
				return fileFault(fs.ErrExist, dst)
			}
			if err := to.files.Remove(ctx, dst.String()); err != nil {
				return fileFault(err, dst)
			}
		}
		if err := transferTree(ctx, from.files, to.files, src, dst); err != nil {
			return err
		}
		if move {
			return fileFault(from.files.Remove(ctx, src.String()), src)
		}
		return nil
	})
}

// sharedFiles returns the files of a host that mounts both datastores.
func (s *Service) sharedFiles(a, b dsFiles) (interface {
	Move(ctx context.Context, src, dst string, force bool) error
	Copy(ctx context.Context, src, dst string, force bool) error
}, bool) {
	if a.ds.Self.Value == b.ds.Self.Value || containsMount(b.ds.Host, a.host) {
		return a.files, true
	}
	return nil, false
}

// transferFault names the right path in a move or copy error: an existing
// destination, else the source.
func transferFault(err error, src, dst filePath) error {
	if errors.Is(err, fs.ErrExist) {
		return fileFault(err, dst)
	}
	return fileFault(err, src)
}

func (s *Service) createNamespaceDirectory(ctx *soap.Context, req *types.CreateDirectory) (any, error) {
	return nil, s.notNamespaceDatastore(req.Datastore)
}

func (s *Service) deleteNamespaceDirectory(ctx *soap.Context, req *types.DeleteDirectory) (any, error) {
	p, err := parseFilePath(req.DatastorePath)
	if err != nil {
		return nil, err
	}
	ds, err := s.findDatastore(req.Datacenter, p.Datastore)
	if err != nil {
		return nil, err
	}
	return nil, s.notNamespaceDatastore(ds.Self)
}

// notNamespaceDatastore is the fault for namespace operations: Vireo's
// datastores (VMFS, NFS) have plain folders, not vSAN or VVol namespaces.
func (s *Service) notNamespaceDatastore(ds types.ManagedObjectReference) error {
	d, ok := s.reg.Get(ds).(*mo.Datastore)
	if !ok {
		return vim.ManagedObjectNotFound(ds)
	}
	return vim.NewFault(&types.InvalidDatastore{Datastore: refp(ds), Name: d.Name},
		"Datastore '%s' is of type %s, which has no namespaces: use FileManager.MakeDirectory and DeleteDatastoreFile_Task for its folders.", d.Name, d.Summary.Type)
}
