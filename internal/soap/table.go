package soap

import (
	"context"
	"fmt"
	"reflect"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/session"
)

// Context is the per-call context handed to handlers.
type Context struct {
	context.Context
	// Method is the vim25 method name ("PowerOnVM_Task").
	Method string
	// This is the target object's reference as the registry knows it.
	This types.ManagedObjectReference
	// Object is the target object's published value.
	Object mo.Reference
	// Version is the API version the client negotiated.
	Version string
	// Session is the caller's session; nil only for methods that need none.
	Session *session.Session
	// RemoteAddr and UserAgent describe the caller.
	RemoteAddr string
	UserAgent  string
	// SetSession, set by the SOAP handler, makes the reply carry s's cookie;
	// used by Login.
	SetSession func(s *session.Session)
}

// UserName returns the caller's user name, or "" without a session.
func (c *Context) UserName() string {
	if c.Session == nil {
		return ""
	}
	return c.Session.UserName
}

// HandlerFunc handles one decoded request. It returns the method's response
// value (a *types.XxxResponse, or nil for methods without a result) or an
// error, typically a *vim.Fault.
type HandlerFunc func(ctx *Context, req any) (any, error)

type key struct{ objType, method string }

// Table maps (managed object type, method) to handlers. Build it before
// serving; it is read-only afterwards.
type Table struct {
	handlers  map[key]HandlerFunc
	reqTypes  map[string]reflect.Type
	anonymous map[string]bool
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{handlers: map[key]HandlerFunc{}, reqTypes: map[string]reflect.Type{}, anonymous: map[string]bool{}}
}

// Register adds fn as the handler of method on objects of type objType (and
// its subtypes, unless they register their own). Req is the govmomi request
// type (types.PowerOnVM_Task), whose XML element name is the method name.
func Register[Req any](t *Table, objType, method string, fn func(ctx *Context, req *Req) (any, error)) {
	rt := reflect.TypeFor[Req]()
	if prev, ok := t.reqTypes[method]; ok && prev != rt {
		panic(fmt.Sprintf("soap: method %s registered with request types %v and %v", method, prev, rt))
	}
	t.reqTypes[method] = rt
	k := key{objType, method}
	if _, dup := t.handlers[k]; dup {
		panic(fmt.Sprintf("soap: %s.%s registered twice", objType, method))
	}
	t.handlers[k] = func(ctx *Context, req any) (any, error) { return fn(ctx, req.(*Req)) }
}

// Anonymous marks method as callable without a session.
func (t *Table) Anonymous(method string) { t.anonymous[method] = true }

// lookup finds the handler for method on objType, walking up the type
// hierarchy with super.
func (t *Table) lookup(objType, method string, super func(string) string) HandlerFunc {
	for ty := objType; ty != ""; ty = super(ty) {
		if h, ok := t.handlers[key{ty, method}]; ok {
			return h
		}
	}
	return nil
}

// Methods returns the number of registered methods (for diagnostics).
func (t *Table) Methods() int { return len(t.handlers) }
