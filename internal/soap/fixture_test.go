package soap

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/vim"
)

// fixture is a Handler over a handful of objects with test handlers, and a
// live session whose cookie test requests can carry.
type fixture struct {
	h        *Handler
	sessions *session.Manager
	session  *session.Session
}

// Passwords the test Login handler accepts.
const testPassword = "good"

// patchLevel is set in the test ServiceContent; AboutInfo.patchLevel exists
// since API 7.0.2.0, so clients speaking older versions must not see it.
const patchLevel = "vireo-test-patch"

// objects is a Resolver over a fixed set of objects.
type objects map[string]mo.Reference

func (o objects) Lookup(id string) mo.Reference { return o[id] }

func ref(typ, value string) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: typ, Value: value}
}

// testSupertypes is the slice of the vim25 hierarchy the fixture needs.
var testSupertypes = map[string]string{
	"Folder":         "ManagedEntity",
	"VirtualMachine": "ManagedEntity",
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	now := func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	f := &fixture{sessions: session.NewManager(now, time.Hour)}
	f.session = f.sessions.Create("admin", "admin", "127.0.0.1", "test", "en")

	si := &mo.ServiceInstance{Self: ref("ServiceInstance", "ServiceInstance")}
	sm := &mo.SessionManager{Self: ref("SessionManager", "SessionManager")}
	pc := &mo.PropertyCollector{Self: ref("PropertyCollector", "propertyCollector")}
	vmgr := &mo.ViewManager{Self: ref("ViewManager", "ViewManager")}
	root := &mo.Folder{}
	root.Self = ref("Folder", "group-d1")
	vm := &mo.VirtualMachine{}
	vm.Self = ref("VirtualMachine", "vm-1")
	objs := objects{}
	for _, o := range []mo.Reference{si, sm, pc, vmgr, root, vm} {
		objs[o.Reference().Value] = o
	}

	t := NewTable()
	Register(t, "ServiceInstance", "RetrieveServiceContent", func(ctx *Context, _ *types.RetrieveServiceContent) (any, error) {
		return &types.RetrieveServiceContentResponse{Returnval: types.ServiceContent{
			RootFolder:        root.Self,
			PropertyCollector: pc.Self,
			About:             types.AboutInfo{Name: "test", ApiType: "VirtualCenter", ApiVersion: vim.CurrentVersion, PatchLevel: patchLevel},
		}}, nil
	})
	t.Anonymous("RetrieveServiceContent")
	Register(t, "ServiceInstance", "CurrentTime", func(ctx *Context, _ *types.CurrentTime) (any, error) {
		return &types.CurrentTimeResponse{Returnval: now()}, nil
	})
	t.Anonymous("CurrentTime")
	Register(t, "SessionManager", "Login", func(ctx *Context, req *types.Login) (any, error) {
		if req.Password != testPassword {
			return nil, vim.NewFault(&types.InvalidLogin{}, "Cannot complete login due to an incorrect user name or password.")
		}
		s := f.sessions.Create(req.UserName, req.UserName, ctx.RemoteAddr, ctx.UserAgent, req.Locale)
		ctx.SetSession(s)
		return &types.LoginResponse{Returnval: s.Info()}, nil
	})
	t.Anonymous("Login")
	Register(t, "SessionManager", "Logout", func(ctx *Context, _ *types.Logout) (any, error) {
		if ctx.Session != f.session { // the fixture's own session outlives fuzz inputs
			f.sessions.End(ctx.Session.Key)
		}
		return &types.LogoutResponse{}, nil
	})
	Register(t, "Folder", "CreateFolder", func(ctx *Context, req *types.CreateFolder) (any, error) {
		return nil, fmt.Errorf("create folder: %w", vim.DuplicateName(req.Name, vm.Self))
	})
	Register(t, "ManagedEntity", "Rename_Task", func(ctx *Context, req *types.Rename_Task) (any, error) {
		if req.NewName == "panic" {
			panic("test handler panic")
		}
		if req.NewName == "plain" {
			return nil, fmt.Errorf("a plain error")
		}
		return &types.Rename_TaskResponse{Returnval: ref("Task", "task-1")}, nil
	})
	Register(t, "VirtualMachine", "PowerOnVM_Task", func(ctx *Context, _ *types.PowerOnVM_Task) (any, error) {
		return &types.PowerOnVM_TaskResponse{Returnval: ref("Task", "task-2")}, nil
	})
	Register(t, "PropertyCollector", "RetrievePropertiesEx", func(ctx *Context, req *types.RetrievePropertiesEx) (any, error) {
		// A value of a type that API 7.0.1.1 introduced, next to the
		// request echoed back (which exercises the encoder on whatever
		// the decoder produced).
		return &types.RetrievePropertiesExResponse{Returnval: &types.RetrieveResult{Objects: []types.ObjectContent{{
			Obj: vm.Self,
			PropSet: []types.DynamicProperty{
				{Name: "slots", Val: types.ArrayOfClusterComputeResourceVcsSlots{
					ClusterComputeResourceVcsSlots: []types.ClusterComputeResourceVcsSlots{{TotalSlots: 3}}}},
				{Name: "about", Val: types.AboutInfo{Name: "x", PatchLevel: patchLevel}},
				{Name: "echo", Val: types.ArrayOfPropertyFilterSpec{PropertyFilterSpec: req.SpecSet}},
			},
		}}}}, nil
	})
	// Handlers that echo the decoded request back, so that fuzzing reaches
	// both the decoder and the encoder with every seed's request type.
	registerEcho[types.RetrieveProperties](t, "PropertyCollector", "RetrieveProperties")
	registerEcho[types.CreatePropertyCollector](t, "PropertyCollector", "CreatePropertyCollector")
	registerEcho[types.CreateFilter](t, "PropertyCollector", "CreateFilter")
	registerEcho[types.WaitForUpdatesEx](t, "PropertyCollector", "WaitForUpdatesEx")
	registerEcho[types.DestroyPropertyCollector](t, "PropertyCollector", "DestroyPropertyCollector")
	registerEcho[types.CreateContainerView](t, "ViewManager", "CreateContainerView")
	registerEcho[types.PowerOffVM_Task](t, "VirtualMachine", "PowerOffVM_Task")
	registerEcho[types.ReconfigVM_Task](t, "VirtualMachine", "ReconfigVM_Task")
	registerEcho[types.CreateVM_Task](t, "Folder", "CreateVM_Task")
	registerEcho[types.MoveIntoFolder_Task](t, "Folder", "MoveIntoFolder_Task")

	f.h = &Handler{
		Table:     t,
		Objects:   objs,
		Sessions:  f.sessions,
		Supertype: func(typ string) string { return testSupertypes[typ] },
	}
	return f
}

// registerEcho registers a handler for method that returns the decoded
// request inside a RetrieveResult.
func registerEcho[Req any](t *Table, objType, method string) {
	Register(t, objType, method, func(ctx *Context, req *Req) (any, error) {
		return &types.RetrievePropertiesExResponse{Returnval: &types.RetrieveResult{Objects: []types.ObjectContent{{
			Obj: ctx.This, PropSet: []types.DynamicProperty{{Name: method, Val: req}},
		}}}}, nil
	})
}

// post sends body to the handler with SOAPAction action, carrying the
// fixture's session cookie when withSession is set.
func (f *fixture) post(action string, body []byte, withSession bool) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/sdk", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "text/xml")
	if action != "" {
		r.Header.Set("SOAPAction", action)
	}
	if withSession {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: f.session.Key})
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// envelope wraps a request element in a SOAP envelope.
func envelope(req string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<soapenv:Body>` + req + `</soapenv:Body></soapenv:Envelope>`)
}
