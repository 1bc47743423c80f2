package api

import (
	"context"
	"errors"
	"path"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// browserRef returns the HostDatastoreBrowser of datastore ds, as vCenter
// names it ("datastoreBrowser-datastore-12").
func browserRef(ds types.ManagedObjectReference) types.ManagedObjectReference {
	return ref("HostDatastoreBrowser", "datastoreBrowser-"+ds.Value)
}

// addBrowserTxn sets ds.browser and creates that browser in memory. It is
// called for new datastores (before they are created in tx) and, through
// restoreBrowsersTxn, for those loaded from the store.
func addBrowserTxn(tx *inventory.Txn, ds *mo.Datastore) {
	b := &mo.HostDatastoreBrowser{Self: browserRef(ds.Self), Datastore: []types.ManagedObjectReference{ds.Self}, SupportedType: supportedFileQueries()}
	ds.Browser = b.Self
	if tx.Get(b.Self) == nil {
		tx.Create(b, false)
	}
}

// restoreBrowsersTxn gives every datastore in refs its browser.
func restoreBrowsersTxn(tx *inventory.Txn, refs []types.ManagedObjectReference) {
	for _, r := range refs {
		if cur, ok := tx.Get(r).(*mo.Datastore); ok && (cur.Browser != browserRef(r) || tx.Get(browserRef(r)) == nil) {
			if cur.Browser == browserRef(r) {
				addBrowserTxn(tx, vim.DeepCopy(cur)) // only the in-memory browser is missing
				continue
			}
			addBrowserTxn(tx, inventory.Edit[mo.Datastore](tx, r))
		}
	}
}

// allDatastores returns the refs of every datastore in the inventory.
func (s *Service) allDatastores() []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	s.reg.Each("Datastore", func(o mo.Reference) bool {
		out = append(out, o.Reference())
		return true
	})
	return out
}

// fileKind is a kind of file a FileQuery selects.
type fileKind struct {
	query func() types.BaseFileQuery
	match func(name string, dir bool) bool
	info  func(types.FileInfo) types.BaseFileInfo
}

func hasExt(exts ...string) func(string, bool) bool {
	return func(name string, dir bool) bool {
		for _, e := range exts {
			if !dir && strings.EqualFold(path.Ext(name), e) {
				return true
			}
		}
		return false
	}
}

// isDiskDescriptor matches the primary file of a virtual disk, not its
// extents ("-flat.vmdk") or change-tracking and delta files.
func isDiskDescriptor(name string, dir bool) bool {
	if dir || !strings.EqualFold(path.Ext(name), ".vmdk") {
		return false
	}
	for _, s := range []string{"-flat.vmdk", "-delta.vmdk", "-sesparse.vmdk", "-ctk.vmdk", "-rdm.vmdk", "-rdmp.vmdk"} {
		if strings.HasSuffix(strings.ToLower(name), s) {
			return false
		}
	}
	return true
}

// fileKinds lists the typed queries, most specific first; the plain
// FileQuery (any file) comes last.
var fileKinds = []fileKind{
	{func() types.BaseFileQuery { return &types.FolderFileQuery{} }, func(_ string, dir bool) bool { return dir },
		func(fi types.FileInfo) types.BaseFileInfo { return &types.FolderFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.VmDiskFileQuery{} }, isDiskDescriptor,
		func(fi types.FileInfo) types.BaseFileInfo { return &types.VmDiskFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.IsoImageFileQuery{} }, hasExt(".iso"),
		func(fi types.FileInfo) types.BaseFileInfo { return &types.IsoImageFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.FloppyImageFileQuery{} }, hasExt(".flp"),
		func(fi types.FileInfo) types.BaseFileInfo { return &types.FloppyImageFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.VmConfigFileQuery{} }, hasExt(".vmx"),
		func(fi types.FileInfo) types.BaseFileInfo { return &types.VmConfigFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.TemplateConfigFileQuery{} }, hasExt(".vmtx"),
		func(fi types.FileInfo) types.BaseFileInfo {
			return &types.TemplateConfigFileInfo{VmConfigFileInfo: types.VmConfigFileInfo{FileInfo: fi}}
		}},
	{func() types.BaseFileQuery { return &types.VmLogFileQuery{} }, hasExt(".log"),
		func(fi types.FileInfo) types.BaseFileInfo { return &types.VmLogFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.VmNvramFileQuery{} }, hasExt(".nvram"),
		func(fi types.FileInfo) types.BaseFileInfo { return &types.VmNvramFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.VmSnapshotFileQuery{} }, hasExt(".vmsn"),
		func(fi types.FileInfo) types.BaseFileInfo { return &types.VmSnapshotFileInfo{FileInfo: fi} }},
	{func() types.BaseFileQuery { return &types.FileQuery{} }, func(string, bool) bool { return true },
		func(fi types.FileInfo) types.BaseFileInfo { return &fi }},
}

// supportedFileQueries returns a browser's supportedType: one of each query.
func supportedFileQueries() []types.BaseFileQuery {
	out := make([]types.BaseFileQuery, len(fileKinds))
	for i, k := range fileKinds {
		out[i] = k.query()
	}
	return out
}

// kindOf returns the kind whose query has q's type, or nil.
func kindOf(q types.BaseFileQuery) *fileKind {
	for i := range fileKinds {
		if sameType(fileKinds[i].query(), q) {
			return &fileKinds[i]
		}
	}
	return nil
}

func sameType(a, b any) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b)
}

// queryName returns the vim type name of q ("VmDiskFileQuery").
func queryName(q types.BaseFileQuery) string {
	t := reflect.TypeOf(q)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// classify returns the kind of a file by its name: the first kind that
// matches among queries, or among all kinds when queries is empty; nil
// when no query selects the file.
func classify(queries []types.BaseFileQuery, name string, dir bool) *fileKind {
	if len(queries) == 0 {
		for i := range fileKinds {
			if fileKinds[i].match(name, dir) {
				return &fileKinds[i]
			}
		}
		return nil
	}
	var plain *fileKind
	for _, q := range queries {
		k := kindOf(q)
		if k == nil || !k.match(name, dir) {
			continue
		}
		if _, generic := q.(*types.FileQuery); generic {
			plain = k
			continue
		}
		return k
	}
	return plain
}

// searcher runs one HostDatastoreBrowserSearchSpec over a datastore.
type searcher struct {
	files driver.Files
	ds    types.ManagedObjectReference
	spec  types.HostDatastoreBrowserSearchSpec
}

// matches reports whether name matches one of the spec's patterns (all
// names when there are none).
func (q *searcher) matches(name string) bool {
	if len(q.spec.MatchPattern) == 0 {
		return true
	}
	fold := isTrue(q.spec.SearchCaseInsensitive)
	for _, p := range q.spec.MatchPattern {
		if fold {
			p, name = strings.ToLower(p), strings.ToLower(name)
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// fileInfo returns the FileInfo of f with the details the spec asks for.
func (q *searcher) fileInfo(f driver.FileInfo, k *fileKind) types.BaseFileInfo {
	fi := types.FileInfo{Path: f.Name}
	if d := q.spec.Details; d != nil {
		if d.FileSize {
			fi.FileSize = f.Size
		}
		if d.Modification {
			fi.Modification = types.NewTime(f.ModTime)
		}
		if isTrue(d.FileOwner) {
			fi.Owner = f.Owner
		}
		if d.FileType {
			return k.info(fi)
		}
	}
	return &fi
}

// folder searches one folder; with recurse, its subfolders too, each
// folder giving one result after the folder that holds it.
func (q *searcher) folder(ctx context.Context, p filePath, recurse bool, out *[]types.HostDatastoreBrowserSearchResults) error {
	list, err := q.files.ReadDir(ctx, p.String())
	if errors.Is(err, driver.ErrNotDirectory) {
		err = vim.NewFault(&types.FileNotFound{FileFault: types.FileFault{File: p.String()}}, "Folder %s was not found: it is a file.", p)
	}
	if err != nil {
		return fileFault(err, p)
	}
	res := types.HostDatastoreBrowserSearchResults{Datastore: refp(q.ds), FolderPath: p.String()}
	var dirs, files []types.BaseFileInfo
	for _, f := range list {
		if !q.matches(f.Name) {
			continue
		}
		if k := classify(q.spec.Query, f.Name, f.IsDir); k != nil {
			if f.IsDir {
				dirs = append(dirs, q.fileInfo(f, k))
			} else {
				files = append(files, q.fileInfo(f, k))
			}
		}
	}
	if isTrue(q.spec.SortFoldersFirst) {
		res.File = append(dirs, files...)
	} else {
		res.File = mergeByPath(dirs, files)
	}
	*out = append(*out, res)
	if !recurse {
		return nil
	}
	for _, f := range list {
		if f.IsDir {
			if err := q.folder(ctx, p.join(f.Name), true, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeByPath merges two lists sorted by path.
func mergeByPath(a, b []types.BaseFileInfo) []types.BaseFileInfo {
	out := make([]types.BaseFileInfo, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].GetFileInfo().Path < b[0].GetFileInfo().Path {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// browserFiles resolves a search path against the browser's datastores.
func (s *Service) browserFiles(ctx *soap.Context, name string) (filePath, dsFiles, error) {
	p, err := parseFilePath(name)
	if err != nil {
		return p, dsFiles{}, err
	}
	b, ok := ctx.Object.(*mo.HostDatastoreBrowser)
	if !ok {
		return p, dsFiles{}, vim.ManagedObjectNotFound(ctx.This)
	}
	if e := entityNamed(s.reg, b.Datastore, p.Datastore); e != nil {
		if ds, ok := s.reg.Get(e.Self).(*mo.Datastore); ok {
			f, err := s.filesOf(ds)
			return p, f, err
		}
	}
	return p, dsFiles{}, vim.NewFault(&types.InvalidDatastore{Name: p.Datastore},
		"Datastore '%s' is not served by browser %s: use the browser of that datastore (Datastore.browser).", p.Datastore, ctx.This.Value)
}

func (s *Service) startSearch(ctx *soap.Context, name string, spec *types.HostDatastoreBrowserSearchSpec, recurse bool) (types.ManagedObjectReference, error) {
	p, f, err := s.browserFiles(ctx, name)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	q := &searcher{files: f.files, ds: f.ds.Self}
	if spec != nil {
		q.spec = *spec
	}
	for _, qu := range q.spec.Query {
		if kindOf(qu) == nil {
			return types.ManagedObjectReference{}, vim.InvalidArgument("searchSpec.query",
				"Query type %s is not supported: see the browser's supportedType.", queryName(qu))
		}
	}
	id := "HostDatastoreBrowser.search"
	if recurse {
		id = "HostDatastoreBrowser.searchSubFolders"
	}
	return s.tasks.Start(ctx, task.Spec{Entity: f.ds.Self, DescriptionID: id, User: ctx.UserName()},
		func(ctx context.Context, _ *task.Task) (types.AnyType, error) {
			var out []types.HostDatastoreBrowserSearchResults
			if err := q.folder(ctx, p, recurse, &out); err != nil {
				return nil, err
			}
			if recurse {
				return types.ArrayOfHostDatastoreBrowserSearchResults{HostDatastoreBrowserSearchResults: out}, nil
			}
			return out[0], nil
		})
}

func (s *Service) searchDatastore(ctx *soap.Context, req *types.SearchDatastore_Task) (any, error) {
	ref, err := s.startSearch(ctx, req.DatastorePath, req.SearchSpec, false)
	if err != nil {
		return nil, err
	}
	return &types.SearchDatastore_TaskResponse{Returnval: ref}, nil
}

func (s *Service) searchDatastoreSubFolders(ctx *soap.Context, req *types.SearchDatastoreSubFolders_Task) (any, error) {
	ref, err := s.startSearch(ctx, req.DatastorePath, req.SearchSpec, true)
	if err != nil {
		return nil, err
	}
	return &types.SearchDatastoreSubFolders_TaskResponse{Returnval: ref}, nil
}

// browserDeleteFile implements the deprecated HostDatastoreBrowser.DeleteFile.
func (s *Service) browserDeleteFile(ctx *soap.Context, req *types.DeleteFile) (any, error) {
	p, f, err := s.browserFiles(ctx, req.DatastorePath)
	if err != nil {
		return nil, err
	}
	if err := deleteFile(ctx, f, p); err != nil {
		return nil, err
	}
	return &types.DeleteFileResponse{}, nil
}
