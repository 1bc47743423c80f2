package api_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
)

func TestCreateLocalDatastore(t *testing.T) {
	f := newVMFx(t)
	host := object.NewHostSystem(f.c, f.h0)
	dss, err := host.ConfigManager().DatastoreSystem(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "local")
	if _, err := dss.CreateLocalDatastore(f.ctx, "scratch", "relative/dir"); err == nil {
		t.Fatal("a relative path was accepted")
	}
	ds, err := dss.CreateLocalDatastore(f.ctx, "scratch", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dss.CreateLocalDatastore(f.ctx, "scratch", dir); err == nil {
		t.Fatal("a second datastore named scratch was created")
	} else {
		wantFault(t, err, &types.DuplicateName{})
	}
	d := inventory.Get[mo.Datastore](f.svc.Registry(), ds.Reference())
	h := inventory.Get[mo.HostSystem](f.svc.Registry(), f.h0)
	if d.Summary.Type != "OTHER" || d.Summary.Capacity == 0 || len(d.Host) != 1 {
		t.Fatalf("datastore summary %+v, mounts %d", d.Summary, len(d.Host))
	}
	found := false
	for _, r := range h.Datastore {
		found = found || r == ds.Reference()
	}
	if !found {
		t.Fatal("the host does not list its new datastore")
	}
	// A VM placed on it keeps its files in the directory given.
	spec := vmSpec("local-vm", add(lsiLogic(-1)), addFile(newDisk(-1, 1024, "")))
	spec.Files.VmPathName = "[scratch]"
	f.create(spec)
	if _, err := os.Stat(filepath.Join(dir, "local-vm", "local-vm.vmdk")); err != nil {
		t.Fatalf("the VM's disk is not in the datastore's directory: %v", err)
	}
}
