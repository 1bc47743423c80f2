// Package storetest is the contract suite every store.Store implementation
// passes: run it from the implementation's tests with a constructor that
// returns a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/vireo-project/vireo/internal/store"
)

// Opener returns a new empty store and a function that reopens the same
// underlying data as a new Store (to check durability); reopen may be nil
// for memory-only stores.
type Opener func(t *testing.T) (s store.Store, reopen func() store.Store)

// Run runs the contract suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"PutGetDelete", testPutGetDelete},
		{"AtomicBatch", testAtomicBatch},
		{"Meta", testMeta},
		{"Reopen", testReopen},
		{"Concurrent", testConcurrent},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func objectMap(t *testing.T, s store.Store) map[string]store.Object {
	t.Helper()
	objs, err := s.Objects(context.Background())
	if err != nil {
		t.Fatalf("Objects: %v", err)
	}
	m := map[string]store.Object{}
	for _, o := range objs {
		m[o.ID] = o
	}
	return m
}

func testPutGetDelete(t *testing.T, open Opener) {
	s, _ := open(t)
	ctx := context.Background()
	if err := s.Commit(ctx, &store.Batch{Put: []store.Object{
		{Type: "Folder", ID: "group-d1", Data: []byte(`{"a":1}`)},
		{Type: "VirtualMachine", ID: "vm-2", Data: []byte(`{"b":2}`)},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &store.Batch{Put: []store.Object{{Type: "VirtualMachine", ID: "vm-2", Data: []byte(`{"b":3}`)}}}); err != nil {
		t.Fatal(err)
	}
	m := objectMap(t, s)
	if len(m) != 2 || string(m["vm-2"].Data) != `{"b":3}` || m["group-d1"].Type != "Folder" {
		t.Fatalf("objects = %+v", m)
	}
	if err := s.Commit(ctx, &store.Batch{Delete: []string{"vm-2", "missing-1"}}); err != nil {
		t.Fatal(err)
	}
	if m := objectMap(t, s); len(m) != 1 {
		t.Fatalf("after delete: %+v", m)
	}
	if err := s.Commit(ctx, &store.Batch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func testAtomicBatch(t *testing.T, open Opener) {
	s, _ := open(t)
	ctx := context.Background()
	// A canceled context must fail the whole batch and leave nothing behind.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := s.Commit(cctx, &store.Batch{Put: []store.Object{{Type: "T", ID: "x-1", Data: []byte("1")}}, Meta: map[string]string{"k": "v"}})
	if err == nil {
		t.Fatal("commit with canceled context succeeded")
	}
	if m := objectMap(t, s); len(m) != 0 {
		t.Fatalf("failed batch left objects: %+v", m)
	}
	if _, ok, _ := s.Meta(ctx, "k"); ok {
		t.Fatal("failed batch left meta")
	}
}

func testMeta(t *testing.T, open Opener) {
	s, _ := open(t)
	ctx := context.Background()
	if _, ok, err := s.Meta(ctx, "nope"); err != nil || ok {
		t.Fatalf("Meta(missing) = %v, %v", ok, err)
	}
	if err := s.Commit(ctx, &store.Batch{Meta: map[string]string{"user/a": "1", "user/b": "2", "user_c": "3", "other": "4"}}); err != nil {
		t.Fatal(err)
	}
	v, ok, err := s.Meta(ctx, "other")
	if err != nil || !ok || v != "4" {
		t.Fatalf("Meta = %q %v %v", v, ok, err)
	}
	m, err := s.MetaPrefix(ctx, "user/")
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[user/a user/b]" {
		t.Fatalf("MetaPrefix(user/) keys = %v (LIKE wildcards must be escaped)", keys)
	}
}

func testReopen(t *testing.T, open Opener) {
	s, reopen := open(t)
	if reopen == nil {
		t.Skip("store is not durable")
	}
	ctx := context.Background()
	if err := s.Commit(ctx, &store.Batch{Put: []store.Object{{Type: "T", ID: "t-1", Data: []byte("data")}}, Meta: map[string]string{"m": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen()
	defer s2.Close()
	if m := objectMap(t, s2); string(m["t-1"].Data) != "data" {
		t.Fatalf("after reopen: %+v", m)
	}
	if v, ok, _ := s2.Meta(ctx, "m"); !ok || v != "1" {
		t.Fatalf("meta after reopen = %q %v", v, ok)
	}
}

func testConcurrent(t *testing.T, open Opener) {
	s, _ := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				id := fmt.Sprintf("vm-%d-%d", w, i)
				if err := s.Commit(ctx, &store.Batch{Put: []store.Object{{Type: "VirtualMachine", ID: id, Data: []byte(id)}}}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m := objectMap(t, s); len(m) != 200 {
		t.Fatalf("got %d objects, want 200", len(m))
	}
}

func testClosed(t *testing.T, open Opener) {
	s, _ := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(context.Background(), &store.Batch{Meta: map[string]string{"a": "b"}}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Commit after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Objects(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Objects after Close = %v, want ErrClosed", err)
	}
}
