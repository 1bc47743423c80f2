package drivertest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"testing"

	"github.com/vireo-project/vireo/internal/driver"
)

// testFiles checks driver.Files, when the driver implements it.
func testFiles(t *testing.T, h *harness) {
	f, ok := h.d.(driver.Files)
	if !ok {
		t.Skip("the driver does not implement driver.Files")
	}
	c := ctx(t)
	p := func(rel string) string { return fmt.Sprintf("[%s] %s", h.ds, rel) }

	mustOp(t, "Mkdir", f.Mkdir(c, p("a"), false))
	wantErr(t, "Mkdir of an existing directory", f.Mkdir(c, p("a"), false), fs.ErrExist)
	mustOp(t, "Mkdir parents of an existing directory", f.Mkdir(c, p("a"), true))
	wantErr(t, "Mkdir without parents", f.Mkdir(c, p("x/y"), false), fs.ErrNotExist)
	mustOp(t, "Mkdir parents", f.Mkdir(c, p("b/c"), true))

	writeFile(t, f, p("a/hello.txt"), "hello")
	writeFile(t, f, p("a/big.txt"), "hello, world")
	if got := readFile(t, f, p("a/hello.txt")); got != "hello" {
		t.Errorf("read back %q, want %q", got, "hello")
	}
	fi, err := f.Stat(c, p("a/hello.txt"))
	mustOp(t, "Stat", err)
	if fi.Name != "hello.txt" || fi.Size != 5 || fi.IsDir || fi.ModTime.IsZero() {
		t.Errorf("Stat = %+v, want hello.txt of 5 bytes", fi)
	}
	if fi, err := f.Stat(c, fmt.Sprintf("[%s]", h.ds)); err != nil || !fi.IsDir {
		t.Errorf("Stat of the datastore root = %+v, %v; want a directory", fi, err)
	}
	_, err = f.Stat(c, p("a/missing"))
	wantErr(t, "Stat of a missing file", err, fs.ErrNotExist)
	_, err = f.Stat(c, "[no-such-datastore] a")
	wantErr(t, "Stat on an unknown datastore", err, driver.ErrDatastoreNotFound)

	list, err := f.ReadDir(c, p("a"))
	mustOp(t, "ReadDir", err)
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"big.txt", "hello.txt"}) {
		t.Errorf("ReadDir = %v, want [big.txt hello.txt]", names)
	}
	_, err = f.ReadDir(c, p("a/hello.txt"))
	wantErr(t, "ReadDir of a file", err, driver.ErrNotDirectory)
	_, err = f.OpenFile(c, p("a"))
	wantErr(t, "OpenFile of a directory", err, driver.ErrIsDirectory)
	_, err = f.CreateFile(c, p("nodir/x"))
	wantErr(t, "CreateFile in a missing directory", err, fs.ErrNotExist)

	wantErr(t, "Copy onto an existing file", f.Copy(c, p("a/hello.txt"), p("a/big.txt"), false), fs.ErrExist)
	mustOp(t, "Copy with force", f.Copy(c, p("a/hello.txt"), p("a/big.txt"), true))
	if got := readFile(t, f, p("a/big.txt")); got != "hello" {
		t.Errorf("after Copy with force: %q, want %q", got, "hello")
	}
	mustOp(t, "Copy a directory", f.Copy(c, p("a"), p("b/a2"), false))
	if got := readFile(t, f, p("b/a2/hello.txt")); got != "hello" {
		t.Errorf("copied directory holds %q, want %q", got, "hello")
	}
	mustOp(t, "Move", f.Move(c, p("a/big.txt"), p("b/moved.txt"), false))
	_, err = f.Stat(c, p("a/big.txt"))
	wantErr(t, "Stat of a moved file", err, fs.ErrNotExist)
	wantErr(t, "Move a missing file", f.Move(c, p("a/big.txt"), p("b/x"), false), fs.ErrNotExist)
	for ds := range h.env.Datastores {
		if ds == h.ds {
			continue
		}
		other := fmt.Sprintf("[%s] moved-here", ds)
		mustOp(t, "Move to another datastore", f.Move(c, p("b"), other, false))
		if got := readFile(t, f, other+"/moved.txt"); got != "hello" {
			t.Errorf("moved across datastores: %q, want %q", got, "hello")
		}
		break
	}

	disk := p("a/disk.vmdk")
	mustOp(t, "CreateDisk", f.CreateDisk(c, disk, 16<<20))
	if fi, err := f.Stat(c, disk); err != nil || fi.IsDir {
		t.Errorf("Stat of a new disk = %+v, %v", fi, err)
	}
	wantErr(t, "CreateDisk of an existing file", f.CreateDisk(c, disk, 16<<20), fs.ErrExist)
	wantErr(t, "CreateDisk in a missing directory", f.CreateDisk(c, p("nodir/d.vmdk"), 1<<20), fs.ErrNotExist)

	mustOp(t, "Remove", f.Remove(c, p("a")))
	_, err = f.Stat(c, p("a"))
	wantErr(t, "Stat of a removed directory", err, fs.ErrNotExist)
	wantErr(t, "Remove a missing file", f.Remove(c, p("a")), fs.ErrNotExist)
	if err := f.Remove(c, fmt.Sprintf("[%s]", h.ds)); err == nil || !exists(h.env.Datastores[h.ds]) {
		t.Errorf("Remove of a datastore's root: %v; want an error and the directory kept", err)
	}
}

func writeFile(t *testing.T, f driver.Files, path, content string) {
	t.Helper()
	w, err := f.CreateFile(ctx(t), path)
	mustOp(t, "CreateFile "+path, err)
	_, err = io.WriteString(w, content)
	mustOp(t, "write "+path, errors.Join(err, w.Close()))
}

func readFile(t *testing.T, f driver.Files, path string) string {
	t.Helper()
	r, err := f.OpenFile(ctx(t), path)
	mustOp(t, "OpenFile "+path, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	mustOp(t, "read "+path, err)
	return string(b)
}
