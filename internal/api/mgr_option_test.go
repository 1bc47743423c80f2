package api_test

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/testserver"
)

func mgrOptions(s *testserver.Server) *object.OptionManager {
	return object.NewOptionManager(s.Client.Client, *s.Client.ServiceContent.Setting)
}

// mgrQueryOne returns the value of the setting name.
func mgrQueryOne(t *testing.T, m *object.OptionManager, name string) any {
	t.Helper()
	opts, err := m.Query(mgrContext(t), name)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	if len(opts) != 1 {
		t.Fatalf("query %s returned %d settings", name, len(opts))
	}
	return opts[0].GetOptionValue().Value
}

func TestOptionQuery(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	m := mgrOptions(s)
	if v := mgrQueryOne(t, m, "event.maxAge"); v != int32(30) {
		t.Fatalf("event.maxAge = %#v, want int32 30", v)
	}
	if v := mgrQueryOne(t, m, "event.maxAgeEnabled"); v != true {
		t.Fatalf("event.maxAgeEnabled = %#v", v)
	}
	if v, ok := mgrQueryOne(t, m, "VirtualCenter.InstanceName").(string); !ok || v == "" {
		t.Fatalf("VirtualCenter.InstanceName = %#v", v)
	}
	group, err := m.Query(ctx, "task.")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range group {
		if k := o.GetOptionValue().Key; k[:5] != "task." {
			t.Fatalf("task. returned %s", k)
		}
	}
	if len(group) < 3 {
		t.Fatalf("task. returned %d settings", len(group))
	}
	// A name is exact unless it ends in a dot.
	for _, name := range []string{"event.max", "no.such.setting", "nosuch."} {
		_, err := m.Query(ctx, name)
		mgrFault(t, err, &types.InvalidName{})
	}
}

func TestOptionUpdate(t *testing.T) {
	dir := t.TempDir()
	s := testserver.New(t, testserver.WithDataDir(dir))
	ctx := mgrContext(t)
	m := mgrOptions(s)
	set := func(key string, v any) error {
		return m.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: key, Value: v}})
	}
	if err := set("event.maxAge", int32(7)); err != nil {
		t.Fatal(err)
	}
	if err := set("log.level", "verbose"); err != nil {
		t.Fatal(err)
	}
	if err := set("config.vireo.custom", "hello"); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		key   string
		value any
		fault types.BaseMethodFault
	}{
		{"wrong type", "event.maxAge", "7", &types.InvalidArgument{}},
		{"out of range", "event.maxAge", int32(-1), &types.InvalidArgument{}},
		{"bad choice", "log.level", "loud", &types.InvalidArgument{}},
		{"read-only", "VirtualCenter.FQDN", "x.example.com", &types.InvalidArgument{}},
		{"unknown outside config.", "vireo.unknown", "x", &types.InvalidName{}},
		{"user setting keeps its type", "config.vireo.custom", int32(1), &types.InvalidArgument{}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := set(tc.key, tc.value)
			switch tc.fault.(type) {
			case *types.InvalidName:
				mgrFault(t, err, &types.InvalidName{})
			default:
				mgrFault(t, err, &types.InvalidArgument{})
			}
		})
	}
	// A failed update changes nothing, even its valid parts.
	err := m.Update(ctx, []types.BaseOptionValue{
		&types.OptionValue{Key: "event.maxAge", Value: int32(9)},
		&types.OptionValue{Key: "event.maxAge", Value: "nine"},
	})
	mgrFault(t, err, &types.InvalidArgument{})
	if v := mgrQueryOne(t, m, "event.maxAge"); v != int32(7) {
		t.Fatalf("event.maxAge after a failed update = %#v", v)
	}

	// The values survive a restart.
	s.Close()
	s2 := testserver.New(t, testserver.WithDataDir(dir))
	m2 := mgrOptions(s2)
	for key, want := range map[string]any{"event.maxAge": int32(7), "log.level": "verbose", "config.vireo.custom": "hello", "task.maxAge": int32(30)} {
		if v := mgrQueryOne(t, m2, key); v != want {
			t.Errorf("%s after restart = %#v, want %#v", key, v, want)
		}
	}
}

func TestDefineSetting(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	if err := s.Service().DefineSetting(ctx, "vcsim.server.url", "Server URL", s.URL()); err != nil {
		t.Fatal(err)
	}
	m := mgrOptions(s)
	if v := mgrQueryOne(t, m, "vcsim.server.url"); v != s.URL() {
		t.Fatalf("vcsim.server.url = %#v", v)
	}
	err := m.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: "vcsim.server.url", Value: "x"}})
	mgrFault(t, err, &types.InvalidArgument{})
}
