package api_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/testserver"
)

// mgrMessages returns the messages of events.
func mgrMessages(events []types.BaseEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.GetEvent().FullFormattedMessage)
	}
	return out
}

func TestQueryEventsFilters(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	m := event.NewManager(s.Client.Client)
	for _, x := range []struct {
		ref types.ManagedObjectReference
		msg string
	}{{inv.vm1, "on vm1"}, {inv.vm2, "on vm2"}, {inv.host, "on h0"}, {inv.dc, "on DC0"}} {
		if err := m.LogUserEvent(ctx, x.ref, x.msg); err != nil {
			t.Fatal(err)
		}
	}
	user := []string{"User logged event: on DC0", "User logged event: on h0", "User logged event: on vm2", "User logged event: on vm1"}
	byEntity := func(r types.ManagedObjectReference, rec types.EventFilterSpecRecursionOption) *types.EventFilterSpecByEntity {
		return &types.EventFilterSpecByEntity{Entity: r, Recursion: rec}
	}
	tests := []struct {
		name   string
		filter types.EventFilterSpec
		want   []string
	}{
		{"vm self", types.EventFilterSpec{Entity: byEntity(inv.vm1, "self")}, user[3:]},
		// The VM events carry the host and datacenter as arguments.
		{"host self", types.EventFilterSpec{Entity: byEntity(inv.host, "self"), EventTypeId: []string{"GeneralUserEvent"}},
			[]string{user[1], user[2], user[3]}},
		{"vm folder children", types.EventFilterSpec{Entity: byEntity(inv.vmFolder, "children")}, user[2:]},
		{"cluster children", types.EventFilterSpec{Entity: byEntity(inv.cluster, "children"), EventTypeId: []string{"GeneralUserEvent"}},
			[]string{user[1], user[2], user[3]}},
		{"dc all", types.EventFilterSpec{Entity: byEntity(inv.dc, "all"), Type: []string{"GeneralUserEvent"}}, user},
		{"dc children", types.EventFilterSpec{Entity: byEntity(inv.dc, "children"), EventTypeId: []string{"GeneralUserEvent"}}, nil},
		{"base type", types.EventFilterSpec{Entity: byEntity(inv.vm2, "self"), EventTypeId: []string{"GeneralEvent"}}, user[2:3]},
		{"category", types.EventFilterSpec{Category: []string{"user"}}, user},
		{"max count", types.EventFilterSpec{Category: []string{"user"}, MaxCount: 2}, user[:2]},
		{"user list", types.EventFilterSpec{Category: []string{"user"},
			UserName: &types.EventFilterSpecByUsername{UserList: []string{testserver.AdminUser}}}, user},
		{"other user", types.EventFilterSpec{Category: []string{"user"},
			UserName: &types.EventFilterSpecByUsername{UserList: []string{"nobody"}}}, nil},
		{"future", types.EventFilterSpec{Category: []string{"user"},
			Time: &types.EventFilterSpecByTime{BeginTime: types.NewTime(time.Now().Add(time.Hour))}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.QueryEvents(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if msgs := mgrMessages(got); !reflect.DeepEqual(msgs, tc.want) {
				t.Fatalf("events = %q, want %q", msgs, tc.want)
			}
		})
	}

	// The login of the test client is in the log, with its user.
	logins, err := m.QueryEvents(ctx, types.EventFilterSpec{EventTypeId: []string{"UserLoginSessionEvent"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(logins) == 0 || logins[0].GetEvent().UserName != testserver.AdminUser {
		t.Fatalf("login events = %v", logins)
	}
	// A chain id selects the events of one chain.
	chain := logins[0].GetEvent().ChainId
	got, err := m.QueryEvents(ctx, types.EventFilterSpec{EventChainId: chain})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetEvent().Key != logins[0].GetEvent().Key {
		t.Fatalf("chain %d = %v", chain, got)
	}
}

func TestQueryEventsBadFilter(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	m := event.NewManager(s.Client.Client)
	_, err := m.QueryEvents(ctx, types.EventFilterSpec{Entity: &types.EventFilterSpecByEntity{
		Entity: types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-404"}, Recursion: "all"}})
	mgrFault(t, err, &types.ManagedObjectNotFound{})
	_, err = m.QueryEvents(ctx, types.EventFilterSpec{Entity: &types.EventFilterSpecByEntity{Entity: api.RootFolderRef, Recursion: "sideways"}})
	mgrFault(t, err, &types.InvalidArgument{})
	err = m.LogUserEvent(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-404"}, "x")
	mgrFault(t, err, &types.ManagedObjectNotFound{})
}

func TestEventHistoryCollector(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	m := event.NewManager(s.Client.Client)
	for i := 0; i < 5; i++ {
		if err := m.LogUserEvent(ctx, inv.vm1, "m"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	c, err := m.CreateCollectorForEvents(ctx, types.EventFilterSpec{
		Entity: &types.EventFilterSpecByEntity{Entity: inv.vm1, Recursion: "self"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := func(evs []types.BaseEvent) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.(*types.GeneralUserEvent).Message)
		}
		return out
	}
	check := func(what string, evs []types.BaseEvent, err error, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := msgs(evs); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %q, want %q", what, got, want)
		}
	}
	if err := c.SetPageSize(ctx, 2); err != nil {
		t.Fatal(err)
	}
	page, err := c.LatestPage(ctx)
	check("latestPage", page, err, "m4", "m3")

	evs, err := c.ReadNextEvents(ctx, 2)
	check("first ReadNext", evs, err, "m0", "m1")
	evs, err = c.ReadNextEvents(ctx, 2)
	check("second ReadNext", evs, err, "m2", "m3")
	evs, err = c.ReadPreviousEvents(ctx, 3)
	check("ReadPrevious", evs, err, "m3", "m2", "m1")
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err = c.ReadPreviousEvents(ctx, 10)
	check("ReadPrevious after reset", evs, err, "m2", "m1", "m0")
	if err := c.Rewind(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err = c.ReadNextEvents(ctx, 10)
	check("ReadNext after rewind", evs, err, "m0", "m1", "m2", "m3", "m4")
	evs, err = c.ReadNextEvents(ctx, 10)
	check("ReadNext at the end", evs, err)

	// New matching events join the collector; others do not.
	if err := m.LogUserEvent(ctx, inv.vm2, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if err := m.LogUserEvent(ctx, inv.vm1, "m5"); err != nil {
		t.Fatal(err)
	}
	evs, err = c.ReadNextEvents(ctx, 10)
	check("ReadNext of a new event", evs, err, "m5")
	page, err = c.LatestPage(ctx)
	check("latestPage after new event", page, err, "m5", "m4")

	_, err = c.ReadNextEvents(ctx, 0)
	mgrFault(t, err, &types.InvalidArgument{})
	mgrFault(t, c.SetPageSize(ctx, 1001), &types.InvalidArgument{})

	// Another session cannot use the collector.
	other := s.Login(t, testserver.AdminUser, testserver.AdminPassword)
	_, err = methods.ReadNextEvents(ctx, other.Client, &types.ReadNextEvents{This: c.Reference(), MaxCount: 1})
	mgrFault(t, err, &types.ManagedObjectNotFound{})

	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadNextEvents(ctx, 1)
	mgrFault(t, err, &types.ManagedObjectNotFound{})
}

func TestEventCollectorFollow(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	m := event.NewManager(s.Client.Client)
	c, err := m.CreateCollectorForEvents(ctx, types.EventFilterSpec{
		Entity: &types.EventFilterSpecByEntity{Entity: inv.dc, Recursion: "all"}, EventTypeId: []string{"GeneralUserEvent"}})
	if err != nil {
		t.Fatal(err)
	}
	posted := false
	var seen []string
	err = property.Wait(ctx, property.DefaultCollector(s.Client.Client), c.Reference(), []string{"latestPage"},
		func(pc []types.PropertyChange) bool {
			for _, ch := range pc {
				if ch.Val == nil {
					continue
				}
				for _, e := range ch.Val.(types.ArrayOfEvent).Event {
					seen = append(seen, e.(*types.GeneralUserEvent).Message)
				}
			}
			if !posted {
				posted = true
				if err := m.LogUserEvent(ctx, inv.vm2, "followed"); err != nil {
					t.Error(err)
					return true
				}
				return false
			}
			return len(seen) > 0 && seen[0] == "followed"
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("seen = %q, want [followed]", seen)
	}
	api.WaitPagesPublished(s.Service())
	var obj mo.EventHistoryCollector
	if err := property.DefaultCollector(s.Client.Client).RetrieveOne(ctx, c.Reference(), []string{"latestPage"}, &obj); err != nil {
		t.Fatal(err)
	}
	if len(obj.LatestPage) != 1 {
		t.Fatalf("latestPage = %v", obj.LatestPage)
	}
}

func TestEventManagerLatestEventAndCatalog(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	m := event.NewManager(s.Client.Client)
	if err := m.LogUserEvent(ctx, inv.vm1, "newest"); err != nil {
		t.Fatal(err)
	}
	var em mo.EventManager
	err := property.DefaultCollector(s.Client.Client).RetrieveOne(ctx, m.Reference(),
		[]string{"latestEvent", "description", "maxCollector"}, &em)
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := em.LatestEvent.(*types.GeneralUserEvent); !ok || ev.Message != "newest" {
		t.Fatalf("latestEvent = %#v", em.LatestEvent)
	}
	if em.MaxCollector != 32 || len(em.Description.Category) != 4 {
		t.Fatalf("maxCollector %d, categories %d", em.MaxCollector, len(em.Description.Category))
	}
	cats := map[string]string{}
	for _, d := range em.Description.EventInfo {
		cats[d.Key] = d.Category
	}
	for k, want := range map[string]string{"GeneralUserEvent": "user", "VmPoweredOnEvent": "info", "TaskEvent": "info", "BadUsernameSessionEvent": "error"} {
		if cats[k] != want {
			t.Errorf("category of %s = %q, want %q", k, cats[k], want)
		}
	}
	cat, err := m.EventCategory(ctx, em.LatestEvent)
	if err != nil || cat != "user" {
		t.Fatalf("EventCategory = %q, %v", cat, err)
	}
}

func TestPostEvent(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	m := event.NewManager(s.Client.Client)
	ex := &types.EventEx{EventTypeId: "com.example.test", Message: "testing123", ObjectId: inv.vm1.Value, ObjectType: "VirtualMachine", Severity: "warning"}
	if err := m.PostEvent(ctx, ex); err != nil {
		t.Fatal(err)
	}
	got, err := m.QueryEvents(ctx, types.EventFilterSpec{
		Entity:      &types.EventFilterSpecByEntity{Entity: inv.dc, Recursion: "all"},
		EventTypeId: []string{"com.example.test"}, Category: []string{"warning"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("events = %v", got)
	}
	e := got[0].(*types.EventEx)
	if e.UserName != testserver.AdminUser || e.Vm == nil || e.Vm.Vm != inv.vm1 || e.Datacenter == nil || e.FullFormattedMessage != "testing123" {
		t.Fatalf("posted event = %+v", e)
	}
}

func TestCollectorLimitAndSessionEnd(t *testing.T) {
	s := testserver.New(t)
	ctx := mgrContext(t)
	c2 := s.Login(t, testserver.AdminUser, testserver.AdminPassword)
	m := event.NewManager(c2.Client)
	var refs []types.ManagedObjectReference
	for i := 0; i < 32; i++ {
		c, err := m.CreateCollectorForEvents(ctx, types.EventFilterSpec{})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, c.Reference())
	}
	_, err := m.CreateCollectorForEvents(ctx, types.EventFilterSpec{})
	mgrFault(t, err, &types.InvalidState{})

	// Another session has its own allowance.
	c, err := event.NewManager(s.Client.Client).CreateCollectorForEvents(ctx, types.EventFilterSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	// Ending the session destroys its collectors.
	if err := c2.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if s.Service().Registry().Get(r) != nil {
			t.Fatalf("collector %s survived its session", r.Value)
		}
	}
}
