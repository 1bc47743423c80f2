package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestCrashDuringWrites kills the server with SIGKILL while two clients are
// creating folders and datacenters, restarts it on the same data directory,
// and checks that every change the server acknowledged survived, and that
// each datacenter came back whole (a datacenter and its four folders are
// one change).
func TestCrashDuringWrites(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	ctx := testContext(t)

	const ackedBeforeKill = 40
	var (
		mu    sync.Mutex
		acked = map[string]string{} // name -> kind
		wg    sync.WaitGroup
	)
	progress := make(chan struct{}, 1000)
	writer := func(kind string, create func(ctx context.Context, root *object.Folder, name string) error) {
		defer wg.Done()
		c, err := s.login(adminUser, adminPassword)
		if err != nil {
			t.Errorf("login: %v", err)
			return
		}
		root := object.NewRootFolder(c.Client)
		for i := 0; ; i++ {
			name := fmt.Sprintf("crash-%s-%04d", kind, i)
			if err := create(ctx, root, name); err != nil {
				return // the server is gone
			}
			mu.Lock()
			acked[name] = kind
			mu.Unlock()
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}
	wg.Add(2)
	go writer("folder", func(ctx context.Context, root *object.Folder, name string) error {
		_, err := root.CreateFolder(ctx, name)
		return err
	})
	go writer("dc", func(ctx context.Context, root *object.Folder, name string) error {
		_, err := root.CreateDatacenter(ctx, name)
		return err
	})
	for range ackedBeforeKill {
		<-progress
	}
	s.kill(t)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d changes acknowledged before SIGKILL", len(acked))

	s2 := startServer(t, serverConfig{dataDir: s.DataDir})
	c := s2.client(t)
	children := rootChildren(ctx, t, c)
	for name, kind := range acked {
		if _, ok := children[name]; !ok {
			t.Errorf("acknowledged %s %s is missing after the restart", kind, name)
		}
	}
	pc := property.DefaultCollector(c.Client)
	for name, ref := range children {
		if ref.Type != "Datacenter" {
			continue
		}
		var dc mo.Datacenter
		if err := pc.RetrieveOne(ctx, ref, []string{"vmFolder", "hostFolder", "datastoreFolder", "networkFolder"}, &dc); err != nil {
			t.Errorf("datacenter %s: %v", name, err)
			continue
		}
		folders := []types.ManagedObjectReference{dc.VmFolder, dc.HostFolder, dc.DatastoreFolder, dc.NetworkFolder}
		var got []mo.Folder
		if err := pc.Retrieve(ctx, folders, []string{"name", "parent"}, &got); err != nil || len(got) != len(folders) {
			t.Errorf("datacenter %s came back without its folders (%d of 4): %v", name, len(got), err)
			continue
		}
		for _, f := range got {
			if f.Parent == nil || *f.Parent != ref {
				t.Errorf("datacenter %s: folder %s has parent %v", name, f.Name, f.Parent)
			}
		}
	}
}

// rootChildren returns the root folder's children by name, failing t if a
// name appears twice.
func rootChildren(ctx context.Context, t *testing.T, c *govmomi.Client) map[string]types.ManagedObjectReference {
	t.Helper()
	pc := property.DefaultCollector(c.Client)
	var root mo.Folder
	if err := pc.RetrieveOne(ctx, c.ServiceContent.RootFolder, []string{"childEntity"}, &root); err != nil {
		t.Fatalf("root folder: %v", err)
	}
	var entities []mo.ManagedEntity
	if len(root.ChildEntity) > 0 {
		if err := pc.Retrieve(ctx, root.ChildEntity, []string{"name"}, &entities); err != nil {
			t.Fatalf("root folder children: %v", err)
		}
	}
	out := map[string]types.ManagedObjectReference{}
	for _, e := range entities {
		if _, dup := out[e.Name]; dup {
			t.Errorf("two children of the root folder are named %s", e.Name)
		}
		out[e.Name] = e.Self
	}
	return out
}
