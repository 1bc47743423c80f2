package api

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/vim"
)

// filePath is a parsed datastore path, "[ds] dir/file".
type filePath struct {
	// Datastore is the datastore's name.
	Datastore string
	// Path is the path inside the datastore, without leading or trailing
	// slashes; "" is the datastore's root.
	Path string
}

// parseFilePath parses "[ds] dir/file", returning an InvalidDatastorePath
// fault for anything else. The path is cleaned ("." and ".." resolved, never
// above the datastore's root).
func parseFilePath(name string) (filePath, error) {
	ds, rel, ok := splitDSPath(name)
	if !ok {
		return filePath{}, vim.NewFault(&types.InvalidDatastorePath{DatastorePath: name},
			"Invalid datastore path '%s': write it as '[datastore] folder/file'.", name)
	}
	rel = strings.Trim(path.Clean("/"+rel), "/")
	return filePath{Datastore: ds, Path: rel}, nil
}

// String returns the path in "[ds] dir/file" form.
func (p filePath) String() string {
	if p.Path == "" {
		return "[" + p.Datastore + "]"
	}
	return "[" + p.Datastore + "] " + p.Path
}

// join returns the path of the child called name.
func (p filePath) join(name string) filePath {
	if p.Path == "" {
		return filePath{p.Datastore, name}
	}
	return filePath{p.Datastore, p.Path + "/" + name}
}

// dsFiles is a datastore and the file access of a host that mounts it.
type dsFiles struct {
	ds    *mo.Datastore
	files driver.Files
	host  types.ManagedObjectReference
}

// findDatastore returns the datastore called name in datacenter dc, or in
// any datacenter when dc is nil; InvalidDatastore when there is none.
func (s *Service) findDatastore(dc *types.ManagedObjectReference, name string) (*mo.Datastore, error) {
	notFound := vim.NewFault(&types.InvalidDatastore{Name: name}, "Datastore '%s' not found: check the name in the datastore path.", name)
	if dc != nil {
		d, ok := s.reg.Get(*dc).(*mo.Datacenter)
		if !ok {
			return nil, vim.ManagedObjectNotFound(types.ManagedObjectReference{Type: "Datacenter", Value: dc.Value})
		}
		e := entityNamed(s.reg, d.Datastore, name)
		if e == nil {
			return nil, notFound
		}
		ds, _ := s.reg.Get(e.Self).(*mo.Datastore)
		if ds == nil {
			return nil, notFound
		}
		return ds, nil
	}
	var found *mo.Datastore
	s.reg.Each("Datastore", func(o mo.Reference) bool {
		if ds := o.(*mo.Datastore); ds.Name == name {
			found = ds
			return false
		}
		return true
	})
	if found == nil {
		return nil, notFound
	}
	return found, nil
}

// datastoreFiles returns the file access for the datastore called name (in
// dc, if not nil) through the first host mounting it whose driver answers.
func (s *Service) datastoreFiles(dc *types.ManagedObjectReference, name string) (dsFiles, error) {
	ds, err := s.findDatastore(dc, name)
	if err != nil {
		return dsFiles{}, err
	}
	return s.filesOf(ds)
}

func (s *Service) filesOf(ds *mo.Datastore) (dsFiles, error) {
	if s.hosts != nil {
		for _, m := range ds.Host {
			drv, ok := s.hosts.Driver(m.Key)
			if !ok {
				continue
			}
			if f, ok := drv.(driver.Files); ok {
				return dsFiles{ds: ds, files: f, host: m.Key}, nil
			}
		}
	}
	return dsFiles{}, vim.NewFault(&types.InaccessibleDatastore{InvalidDatastore: types.InvalidDatastore{Datastore: refp(ds.Self), Name: ds.Name}},
		"Datastore '%s' is not accessible: no connected host that mounts it offers file access.", ds.Name)
}

// DatastoreFiles returns the file access for the datastore called dsName in
// the datacenter at inventory path dcPath ("DC0", "folder/DC0"; "" for any
// datacenter), for the /folder HTTP endpoint. Errors are *vim.Fault.
func (s *Service) DatastoreFiles(dcPath, dsName string) (driver.Files, error) {
	var dc *types.ManagedObjectReference
	if dcPath = strings.Trim(dcPath, "/"); dcPath != "" {
		d := s.datacenterByPath(dcPath)
		if d == nil {
			return nil, vim.NotFound("Datacenter '%s' not found: dcPath is the datacenter's inventory path.", dcPath)
		}
		dc = &d.Self
	}
	f, err := s.datastoreFiles(dc, dsName)
	if err != nil {
		return nil, err
	}
	return f.files, nil
}

// datacenterByPath returns the datacenter at inventory path p (folders and
// the datacenter's name separated by "/"), or nil.
func (s *Service) datacenterByPath(p string) *mo.Datacenter {
	cur := s.content.RootFolder
	for _, name := range strings.Split(p, "/") {
		f, ok := s.reg.Get(cur).(*mo.Folder)
		if !ok {
			return nil
		}
		e := entityNamed(s.reg, f.ChildEntity, name)
		if e == nil {
			return nil
		}
		cur = e.Self
	}
	dc, _ := s.reg.Get(cur).(*mo.Datacenter)
	return dc
}

// fileFault turns a driver.Files error about path into vCenter's fault.
func fileFault(err error, path filePath) error {
	p := path.String()
	switch {
	case err == nil:
		return nil
	case errors.As(err, new(*vim.Fault)):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return vim.NewFault(&types.FileNotFound{FileFault: types.FileFault{File: p}}, "File %s was not found", p)
	case errors.Is(err, fs.ErrExist):
		return vim.NewFault(&types.FileAlreadyExists{FileFault: types.FileFault{File: p}},
			"Cannot complete the operation because the file or folder %s already exists", p)
	case errors.Is(err, driver.ErrNotDirectory):
		return vim.NewFault(&types.NotADirectory{FileFault: types.FileFault{File: p}}, "%s is not a folder", p)
	case errors.Is(err, driver.ErrIsDirectory):
		return vim.NewFault(&types.FileFault{File: p}, "%s is a folder, not a file", p)
	case errors.Is(err, driver.ErrDatastoreNotFound):
		return vim.NewFault(&types.InvalidDatastore{Name: path.Datastore}, "Datastore '%s' is not mounted on the host.", path.Datastore)
	case errors.Is(err, fs.ErrPermission):
		return vim.NewFault(&types.NoPermission{}, "Permission to perform this operation on %s was denied.", p)
	}
	return vim.NewFault(&types.FileFault{File: p}, "Cannot access file %s: %v", p, err)
}

// transferTree copies src (a file or a folder) from one host's files to
// another's, for moves and copies between datastores no single host mounts.
func transferTree(ctx context.Context, from, to driver.Files, src, dst filePath) error {
	fi, err := from.Stat(ctx, src.String())
	if err != nil {
		return fileFault(err, src)
	}
	if fi.IsDir {
		if err := to.Mkdir(ctx, dst.String(), false); err != nil {
			return fileFault(err, dst)
		}
		list, err := from.ReadDir(ctx, src.String())
		if err != nil {
			return fileFault(err, src)
		}
		for _, c := range list {
			if err := transferTree(ctx, from, to, src.join(c.Name), dst.join(c.Name)); err != nil {
				return err
			}
		}
		return nil
	}
	r, err := from.OpenFile(ctx, src.String())
	if err != nil {
		return fileFault(err, src)
	}
	defer r.Close()
	w, err := to.CreateFile(ctx, dst.String())
	if err != nil {
		return fileFault(err, dst)
	}
	if _, err := driver.CopySparse(w, r); err != nil {
		w.Close()
		return fileFault(err, dst)
	}
	return fileFault(w.Close(), dst)
}
