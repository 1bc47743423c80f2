package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// dsFx is a vmFx with DC0's LocalDS_0 as an object.Datastore.
type dsFx struct {
	*vmFx
	ds *object.Datastore
	dc *object.Datacenter
	fm *object.FileManager
}

func newDSFx(t *testing.T) *dsFx {
	t.Helper()
	f := newVMFx(t)
	finder := find.NewFinder(f.c)
	dc, err := finder.Datacenter(f.ctx, "DC0")
	mustOK(t, err)
	finder.SetDatacenter(dc)
	ds, err := finder.Datastore(f.ctx, "LocalDS_0")
	mustOK(t, err)
	return &dsFx{vmFx: f, ds: ds, dc: dc, fm: object.NewFileManager(f.c)}
}

func (f *dsFx) upload(t *testing.T, name, content string) {
	t.Helper()
	mustOK(t, f.ds.Upload(f.ctx, strings.NewReader(content), name, &soap.DefaultUpload))
}

func (f *dsFx) download(t *testing.T, name string) (string, error) {
	t.Helper()
	r, _, err := f.ds.Download(f.ctx, name, &soap.DefaultDownload)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// search runs SearchDatastore (or SearchDatastoreSubFolders) and returns
// "folderPath: file file/ ..." lines, folders marked with a slash.
func (f *dsFx) search(t *testing.T, dir string, spec types.HostDatastoreBrowserSearchSpec, recurse bool) ([]string, error) {
	t.Helper()
	b, err := f.ds.Browser(f.ctx)
	mustOK(t, err)
	run := b.SearchDatastore
	if recurse {
		run = b.SearchDatastoreSubFolders
	}
	task, err := run(f.ctx, f.ds.Path(dir), &spec)
	if err != nil {
		return nil, err
	}
	info, err := task.WaitForResult(f.ctx, nil)
	if err != nil {
		return nil, err
	}
	var rs []types.HostDatastoreBrowserSearchResults
	switch r := info.Result.(type) {
	case types.HostDatastoreBrowserSearchResults:
		rs = append(rs, r)
	case types.ArrayOfHostDatastoreBrowserSearchResults:
		rs = r.HostDatastoreBrowserSearchResults
	}
	var out []string
	for _, r := range rs {
		var names []string
		for _, fi := range r.File {
			n := fi.GetFileInfo().Path
			if _, dir := fi.(*types.FolderFileInfo); dir {
				n += "/"
			}
			names = append(names, n)
		}
		out = append(out, r.FolderPath+": "+strings.Join(names, " "))
	}
	return out, nil
}

func TestFileManagerAndBrowser(t *testing.T) {
	f := newDSFx(t)
	wait := func(task *object.Task, err error) error {
		if err != nil {
			return err
		}
		return task.Wait(f.ctx)
	}
	p := f.ds.Path

	mustOK(t, f.fm.MakeDirectory(f.ctx, p("d1"), f.dc, false))
	wantFault(t, f.fm.MakeDirectory(f.ctx, p("d1"), f.dc, false), &types.FileAlreadyExists{})
	wantFault(t, f.fm.MakeDirectory(f.ctx, p("d1"), f.dc, true), &types.FileAlreadyExists{})
	wantFault(t, f.fm.MakeDirectory(f.ctx, p("a/b"), f.dc, false), &types.FileNotFound{})
	mustOK(t, f.fm.MakeDirectory(f.ctx, p("a/b"), f.dc, true))
	wantFault(t, f.fm.MakeDirectory(f.ctx, "no brackets", f.dc, false), &types.InvalidDatastorePath{})
	wantFault(t, f.fm.MakeDirectory(f.ctx, "[nosuchds] x", f.dc, false), &types.InvalidDatastore{})
	wantFault(t, f.fm.MakeDirectory(f.ctx, "[LocalDS_2] x", f.dc, false), &types.InvalidDatastore{}) // in DC1

	f.upload(t, "d1/hello.txt", "hello")
	f.upload(t, "d1/disk.vmdk", "disk")
	f.upload(t, "d1/disk-flat.vmdk", "extent")
	got, err := f.download(t, "d1/hello.txt")
	mustOK(t, err)
	if got != "hello" {
		t.Fatalf("download = %q, want hello", got)
	}

	mustOK(t, wait(f.fm.CopyDatastoreFile(f.ctx, p("d1/hello.txt"), f.dc, p("d1/copy.txt"), f.dc, false)))
	wantFault(t, wait(f.fm.CopyDatastoreFile(f.ctx, p("d1/hello.txt"), f.dc, p("d1/copy.txt"), f.dc, false)), &types.FileAlreadyExists{})
	mustOK(t, wait(f.fm.CopyDatastoreFile(f.ctx, p("d1/hello.txt"), f.dc, p("d1/copy.txt"), f.dc, true)))
	mustOK(t, wait(f.fm.MoveDatastoreFile(f.ctx, p("d1/copy.txt"), f.dc, p("a/b/moved.txt"), f.dc, false)))
	wantFault(t, wait(f.fm.MoveDatastoreFile(f.ctx, p("d1/copy.txt"), f.dc, p("a/moved.txt"), f.dc, false)), &types.FileNotFound{})
	if got, err := f.download(t, "a/b/moved.txt"); err != nil || got != "hello" {
		t.Fatalf("moved file = %q, %v; want hello", got, err)
	}

	details := &types.FileQueryFlags{FileType: true, FileSize: true, Modification: true}
	tests := []struct {
		name    string
		dir     string
		spec    types.HostDatastoreBrowserSearchSpec
		recurse bool
		want    []string
		fault   types.BaseMethodFault
	}{
		{name: "all", dir: "d1", spec: types.HostDatastoreBrowserSearchSpec{Details: details},
			want: []string{"[LocalDS_0] d1: disk-flat.vmdk disk.vmdk hello.txt"}},
		{name: "pattern", dir: "d1", spec: types.HostDatastoreBrowserSearchSpec{MatchPattern: []string{"*.txt"}, Details: details},
			want: []string{"[LocalDS_0] d1: hello.txt"}},
		{name: "disks only", dir: "d1", spec: types.HostDatastoreBrowserSearchSpec{Query: []types.BaseFileQuery{&types.VmDiskFileQuery{}}},
			want: []string{"[LocalDS_0] d1: disk.vmdk"}},
		{name: "folders", dir: "", spec: types.HostDatastoreBrowserSearchSpec{Query: []types.BaseFileQuery{&types.FolderFileQuery{}}, Details: details},
			want: []string{"[LocalDS_0]: a/ d1/"}},
		{name: "recursive", dir: "a", spec: types.HostDatastoreBrowserSearchSpec{Details: details}, recurse: true,
			want: []string{"[LocalDS_0] a: b/", "[LocalDS_0] a/b: moved.txt"}},
		{name: "missing folder", dir: "nope", fault: &types.FileNotFound{}},
		{name: "file as folder", dir: "d1/hello.txt", fault: &types.FileNotFound{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.search(t, tt.dir, tt.spec, tt.recurse)
			if tt.fault != nil {
				wantFault(t, err, tt.fault)
				return
			}
			mustOK(t, err)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("search = %q, want %q", got, tt.want)
			}
		})
	}

	st, err := f.ds.Stat(f.ctx, "d1/hello.txt")
	mustOK(t, err)
	if st.GetFileInfo().FileSize != 5 {
		t.Fatalf("stat size = %d, want 5", st.GetFileInfo().FileSize)
	}

	mustOK(t, wait(f.fm.DeleteDatastoreFile(f.ctx, p("d1"), f.dc)))
	wantFault(t, wait(f.fm.DeleteDatastoreFile(f.ctx, p("d1"), f.dc)), &types.FileNotFound{})
	wantFault(t, wait(f.fm.DeleteDatastoreFile(f.ctx, "[LocalDS_0]", f.dc)), &types.CannotDeleteFile{})
	if _, err := f.download(t, "d1/hello.txt"); err == nil {
		t.Fatal("download of a deleted file succeeded")
	}
}

func TestVirtualDiskManagerFiles(t *testing.T) {
	f := newDSFx(t)
	m := object.NewVirtualDiskManager(f.c)
	wait := func(task *object.Task, err error) error {
		if err != nil {
			return err
		}
		return task.Wait(f.ctx)
	}
	mustOK(t, f.fm.MakeDirectory(f.ctx, f.ds.Path("vm"), f.dc, false))
	spec := &types.FileBackedVirtualDiskSpec{CapacityKb: 1 << 20, VirtualDiskSpec: types.VirtualDiskSpec{DiskType: "thin", AdapterType: "lsiLogic"}}
	mustOK(t, wait(m.CreateVirtualDisk(f.ctx, f.ds.Path("vm/d.vmdk"), f.dc, spec)))
	wantFault(t, wait(m.CreateVirtualDisk(f.ctx, f.ds.Path("vm/d.vmdk"), f.dc, spec)), &types.FileAlreadyExists{})
	wantFault(t, wait(m.CreateVirtualDisk(f.ctx, f.ds.Path("vm/d.txt"), f.dc, spec)), &types.InvalidDatastorePath{})
	// a copy to another host's datastore streams the disk and keeps its size
	mustOK(t, wait(m.CopyVirtualDisk(f.ctx, f.ds.Path("vm/d.vmdk"), f.dc, "[LocalDS_1] d2.vmdk", f.dc, nil, false)))
	ds1, err := find.NewFinder(f.c).Datastore(f.ctx, "/DC0/datastore/LocalDS_1")
	mustOK(t, err)
	for _, c := range []struct {
		ds   *object.Datastore
		name string
	}{{f.ds, "vm/d.vmdk"}, {ds1, "d2.vmdk"}} {
		st, err := c.ds.Stat(f.ctx, c.name)
		mustOK(t, err)
		if st.GetFileInfo().FileSize != 1<<30 {
			t.Fatalf("%s size = %d, want 1 GiB", c.name, st.GetFileInfo().FileSize)
		}
	}
	mustOK(t, wait(m.MoveVirtualDisk(f.ctx, f.ds.Path("vm/d.vmdk"), f.dc, f.ds.Path("vm/e.vmdk"), f.dc, false)))
	mustOK(t, wait(m.DeleteVirtualDisk(f.ctx, f.ds.Path("vm/e.vmdk"), f.dc)))
	wantFault(t, wait(m.DeleteVirtualDisk(f.ctx, f.ds.Path("vm/e.vmdk"), f.dc)), &types.FileNotFound{})
}

func TestFolderEndpoint(t *testing.T) {
	f := newDSFx(t)
	u := f.ds.NewURL("x.txt")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: f.c.DefaultTransport().TLSClientConfig}}
	tests := []struct {
		method string
		cookie bool
		body   string
		want   int
	}{
		{http.MethodPut, false, "x", http.StatusUnauthorized},
		{http.MethodGet, true, "", http.StatusNotFound},
		{http.MethodPut, true, "data", http.StatusCreated},
		{http.MethodPut, true, "data2", http.StatusOK},
		{http.MethodGet, true, "", http.StatusOK},
		{http.MethodHead, true, "", http.StatusOK},
		{http.MethodDelete, true, "", http.StatusNoContent},
		{http.MethodDelete, true, "", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, u.String(), bytes.NewReader([]byte(tt.body)))
		mustOK(t, err)
		if tt.cookie {
			for _, c := range f.c.Jar.Cookies(u) {
				req.AddCookie(c)
			}
		}
		res, err := client.Do(req)
		mustOK(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Fatalf("%s cookie=%v: status %d (%s), want %d", tt.method, tt.cookie, res.StatusCode, body, tt.want)
		}
		if tt.method == http.MethodGet && tt.want == http.StatusOK && string(body) != "data2" {
			t.Fatalf("GET body = %q, want data2", body)
		}
	}
}
