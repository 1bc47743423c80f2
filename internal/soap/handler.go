package soap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"

	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/vim"
)

// CookieName is the session cookie vCenter uses for the SOAP API.
const CookieName = "vmware_soap_session"

// maxRequestBytes bounds a request body.
const maxRequestBytes = 64 << 20

// Resolver finds managed objects by MoRef value.
type Resolver interface {
	Lookup(id string) mo.Reference
}

// Observer is told about every call (metrics, logs). It may be nil.
type Observer func(method string, d time.Duration, fault string)

// Handler serves vim25 SOAP over HTTP.
type Handler struct {
	Table     *Table
	Objects   Resolver
	Sessions  *session.Manager
	Supertype func(string) string
	Logger    *slog.Logger
	Observe   Observer
}

// ServeHTTP implements http.Handler for POST /sdk.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "vim25 SOAP requests must use POST", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		h.writeFault(w, "", "", vim.NewFault(&types.InvalidRequest{}, "cannot read request: %v", err))
		return
	}
	if len(body) > maxRequestBytes {
		h.writeFault(w, "", "", vim.NewFault(&types.InvalidRequest{}, "request body exceeds %d bytes", maxRequestBytes))
		return
	}
	version := negotiated(r.Header.Get("SOAPAction"))
	method, res, err := h.call(r, w, body, version)
	fault := ""
	if err != nil {
		f := toFault(err)
		fault = typeName(f.Fault)
		if h.Logger != nil && fault == "SystemError" {
			h.Logger.Error("call failed", "method", method, "err", err)
		}
		h.writeFault(w, method, version, f)
	} else {
		h.writeResponse(w, method, version, res)
	}
	if h.Observe != nil {
		h.Observe(method, time.Since(start), fault)
	}
}

// negotiated extracts the version from a SOAPAction of "urn:vim25/8.0.3.0".
func negotiated(action string) string {
	action = strings.Trim(action, `"`)
	if v, ok := strings.CutPrefix(action, "urn:vim25/"); ok && v != "" {
		return v
	}
	return vim.CurrentVersion
}

var thisType = reflect.TypeFor[struct {
	This types.ManagedObjectReference `xml:"_this"`
}]()

func (h *Handler) call(r *http.Request, w http.ResponseWriter, body []byte, version string) (method string, res any, err error) {
	if !vim.Supported(version) {
		return "", nil, vim.NewFault(&types.InvalidRequest{},
			"unsupported vSphere API version %q; this server accepts %s through %s", version, vim.OldestVersion, vim.CurrentVersion)
	}
	if nestingExceeds(body, maxElementDepth) {
		return "", nil, vim.NewFault(&types.InvalidRequest{},
			"malformed SOAP request: elements nest deeper than %d levels", maxElementDepth)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.TypeFunc = types.TypeFunc()
	start, err := findMethod(dec)
	if err != nil {
		return "", nil, vim.NewFault(&types.InvalidRequest{}, "malformed SOAP request: %v", err)
	}
	method = start.Name.Local
	rt, known := h.Table.reqTypes[method]
	if !known {
		rt = thisType
	}
	req := reflect.New(rt)
	if err := dec.DecodeElement(req.Interface(), &start); err != nil {
		return method, nil, vim.NewFault(&types.InvalidRequest{}, "malformed %s request: %v", method, err)
	}
	this := req.Elem().FieldByName("This").Interface().(types.ManagedObjectReference)
	if !known {
		return method, nil, vim.NewFault(&types.MethodNotFound{Receiver: this, Method: method},
			"Method %s not found on object %s:%s", method, this.Type, this.Value)
	}

	ctx := &Context{
		Context:    r.Context(),
		Method:     method,
		Version:    version,
		RemoteAddr: remoteIP(r),
		UserAgent:  r.UserAgent(),
	}
	ctx.SetSession = func(s *session.Session) {
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.Key, Path: "/", HttpOnly: true, Secure: r.TLS != nil})
		ctx.Session = s
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if s, ok := h.Sessions.Touch(c.Value); ok {
			ctx.Session = s
		}
	}
	if ctx.Session == nil && !h.Table.anonymous[method] {
		return method, nil, vim.NewFault(&types.NotAuthenticated{NoPermission: types.NoPermission{Object: &this, PrivilegeId: "System.View"}},
			"The session is not authenticated.")
	}
	obj := h.Objects.Lookup(this.Value)
	if obj == nil || !isA(obj.Reference().Type, this.Type, h.Supertype) {
		return method, nil, vim.ManagedObjectNotFound(this)
	}
	ctx.This = obj.Reference()
	ctx.Object = obj
	fn := h.Table.lookup(ctx.This.Type, method, h.Supertype)
	if fn == nil {
		return method, nil, vim.NewFault(&types.MethodNotFound{Receiver: this, Method: method},
			"Method %s is not supported by %s objects", method, ctx.This.Type)
	}
	defer func() {
		if p := recover(); p != nil {
			if h.Logger != nil {
				h.Logger.Error("handler panic", "method", method, "this", this.Value, "panic", p, "stack", string(debug.Stack()))
			}
			res, err = nil, vim.SystemError(fmt.Sprintf("internal error in %s", method))
		}
	}()
	res, err = fn(ctx, req.Interface())
	return method, res, err
}

func isA(actual, named string, super func(string) string) bool {
	if named == "" {
		return true
	}
	for t := actual; t != ""; t = super(t) {
		if t == named {
			return true
		}
	}
	return false
}

func remoteIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// findMethod advances dec to the first element inside the SOAP Body.
func findMethod(dec *xml.Decoder) (xml.StartElement, error) {
	inBody := false
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return xml.StartElement{}, errors.New("no SOAP Body element")
			}
			return xml.StartElement{}, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if inBody {
			return se, nil
		}
		if se.Name.Local == "Body" {
			inBody = true
		}
	}
}

// toFault maps any error to the fault a client receives.
func toFault(err error) *vim.Fault {
	var f *vim.Fault
	if errors.As(err, &f) {
		return f
	}
	if errors.Is(err, context.Canceled) {
		return vim.NewFault(&types.RequestCanceled{}, "The request was canceled.")
	}
	return vim.SystemError(err.Error())
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	return t.Name()
}
