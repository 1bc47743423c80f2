package soap

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/methods"
	vsoap "github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"

	"github.com/vireo-project/vireo/internal/vim"
)

func TestNegotiated(t *testing.T) {
	for _, tc := range []struct{ action, want string }{
		{"", vim.CurrentVersion},
		{"urn:vim25/6.7", "6.7"},
		{`"urn:vim25/6.7.3"`, "6.7.3"},
		{"urn:vim25/7.0.3.0", "7.0.3.0"},
		{"urn:vim25/8.0.3.0", "8.0.3.0"},
		{"urn:vim25/", vim.CurrentVersion},
		{"urn:vim25", vim.CurrentVersion},
		{"something-else", vim.CurrentVersion},
	} {
		if got := negotiated(tc.action); got != tc.want {
			t.Errorf("negotiated(%q) = %q, want %q", tc.action, got, tc.want)
		}
	}
}

func TestServeVersions(t *testing.T) {
	w := httptest.NewRecorder()
	ServeVersions(w, httptest.NewRequest(http.MethodGet, "/sdk/vimServiceVersions.xml", nil))
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") {
		t.Fatalf("HTTP %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var doc struct {
		Namespaces []struct {
			Name    string   `xml:"name"`
			Version string   `xml:"version"`
			Prior   []string `xml:"priorVersions>version"`
		} `xml:"namespace"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("decode: %v\n%s", err, w.Body)
	}
	if len(doc.Namespaces) != 1 || doc.Namespaces[0].Name != "urn:vim25" || doc.Namespaces[0].Version != vim.CurrentVersion {
		t.Fatalf("namespaces = %+v, want urn:vim25 at %s", doc.Namespaces, vim.CurrentVersion)
	}
	prior := doc.Namespaces[0].Prior
	for _, v := range []string{"6.5", "6.7", "6.7.3", "7.0.3.0", "8.0.2.0"} {
		if !slices.Contains(prior, v) {
			t.Errorf("priorVersions %v lacks %s", prior, v)
		}
	}
	for _, v := range prior {
		if !vim.Supported(v) || v == vim.CurrentVersion {
			t.Errorf("prior version %s is not an older supported version", v)
		}
	}

	// govmomi's client reads the file to pick the version it speaks.
	srv := httptest.NewServer(http.HandlerFunc(ServeVersions))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/sdk")
	c := vsoap.NewClient(u, true)
	if err := c.UseServiceVersion(); err != nil {
		t.Fatalf("UseServiceVersion: %v", err)
	}
	if c.Namespace != "urn:vim25" || c.Version != vim.CurrentVersion {
		t.Errorf("govmomi negotiated %s/%s, want urn:vim25/%s", c.Namespace, c.Version, vim.CurrentVersion)
	}
}

// serve starts an HTTP server for f and returns a govmomi SOAP client for
// it speaking version.
func (f *fixture) serve(t *testing.T, version string) *vsoap.Client {
	t.Helper()
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/sdk")
	c := vsoap.NewClient(u, true)
	c.Namespace, c.Version = "urn:vim25", version
	return c
}

func login(t *testing.T, c *vsoap.Client) {
	t.Helper()
	_, err := methods.Login(context.Background(), c, &types.Login{This: ref("SessionManager", "SessionManager"), UserName: "u", Password: testPassword})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
}

// vimFault returns the vim25 fault govmomi decoded from err's SOAP fault.
func vimFault(t *testing.T, err error) (*vsoap.Fault, types.BaseMethodFault) {
	t.Helper()
	if !vsoap.IsSoapFault(err) {
		t.Fatalf("error %v (%T) is not a SOAP fault", err, err)
	}
	var fe interface{ Fault() types.BaseMethodFault }
	if !errors.As(err, &fe) || fe.Fault() == nil {
		t.Fatalf("SOAP fault %v has no vim25 fault detail", err)
	}
	return vsoap.ToSoapFault(err), fe.Fault()
}

// TestFaultsThroughGovmomi checks that govmomi's SOAP client decodes every
// kind of fault the handler produces into the right vim25 type and message.
func TestFaultsThroughGovmomi(t *testing.T) {
	f := newFixture(t)
	c := f.serve(t, vim.CurrentVersion)
	ctx := context.Background()
	vm := ref("VirtualMachine", "vm-1")
	root := ref("Folder", "group-d1")

	t.Run("NotAuthenticated", func(t *testing.T) {
		_, err := methods.PowerOnVM_Task(ctx, c, &types.PowerOnVM_Task{This: vm})
		_, mf := vimFault(t, err)
		na, ok := mf.(*types.NotAuthenticated)
		if !ok {
			t.Fatalf("fault %T, want NotAuthenticated", mf)
		}
		if na.Object == nil || *na.Object != vm {
			t.Errorf("NotAuthenticated.object = %v, want %v", na.Object, vm)
		}
	})

	t.Run("InvalidLogin", func(t *testing.T) {
		_, err := methods.Login(ctx, c, &types.Login{This: ref("SessionManager", "SessionManager"), UserName: "u", Password: "bad"})
		sf, mf := vimFault(t, err)
		if _, ok := mf.(*types.InvalidLogin); !ok {
			t.Errorf("fault %T, want InvalidLogin", mf)
		}
		if sf.Code != "ServerFaultCode" || !strings.Contains(sf.String, "incorrect user name or password") {
			t.Errorf("faultcode %q faultstring %q", sf.Code, sf.String)
		}
	})

	login(t, c)

	t.Run("wrapped DuplicateName", func(t *testing.T) {
		_, err := methods.CreateFolder(ctx, c, &types.CreateFolder{This: root, Name: "dup"})
		sf, mf := vimFault(t, err)
		dn, ok := mf.(*types.DuplicateName)
		if !ok {
			t.Fatalf("fault %T, want DuplicateName", mf)
		}
		if dn.Name != "dup" || dn.Object != vm || sf.String != "The name 'dup' already exists." {
			t.Errorf("DuplicateName %+v, faultstring %q", dn, sf.String)
		}
	})

	t.Run("ManagedObjectNotFound", func(t *testing.T) {
		missing := ref("VirtualMachine", "vm-404")
		_, err := methods.PowerOnVM_Task(ctx, c, &types.PowerOnVM_Task{This: missing})
		_, mf := vimFault(t, err)
		if nf, ok := mf.(*types.ManagedObjectNotFound); !ok || nf.Obj != missing {
			t.Errorf("fault %#v, want ManagedObjectNotFound of %v", mf, missing)
		}
		// An existing object named with a type it does not have.
		_, err = methods.PowerOnVM_Task(ctx, c, &types.PowerOnVM_Task{This: ref("VirtualMachine", "group-d1")})
		if _, mf := vimFault(t, err); !isType[*types.ManagedObjectNotFound](mf) {
			t.Errorf("fault %T, want ManagedObjectNotFound", mf)
		}
	})

	t.Run("MethodNotFound", func(t *testing.T) {
		_, err := methods.PowerOnVM_Task(ctx, c, &types.PowerOnVM_Task{This: root})
		_, mf := vimFault(t, err)
		if mnf, ok := mf.(*types.MethodNotFound); !ok || mnf.Method != "PowerOnVM_Task" || mnf.Receiver != root {
			t.Errorf("fault %#v, want MethodNotFound PowerOnVM_Task on %v", mf, root)
		}
	})

	t.Run("supertype dispatch", func(t *testing.T) {
		// Rename_Task is registered on ManagedEntity: it serves a Folder
		// and a VM, and a MoRef may name the VM by its supertype.
		for _, this := range []types.ManagedObjectReference{root, vm, ref("ManagedEntity", "vm-1")} {
			if _, err := methods.Rename_Task(ctx, c, &types.Rename_Task{This: this, NewName: "n"}); err != nil {
				t.Errorf("Rename_Task on %v: %v", this, err)
			}
		}
		if _, err := methods.PowerOnVM_Task(ctx, c, &types.PowerOnVM_Task{This: ref("ManagedEntity", "vm-1")}); err != nil {
			t.Errorf("PowerOnVM_Task on ManagedEntity:vm-1: %v", err)
		}
	})

	t.Run("panic and plain errors become SystemError", func(t *testing.T) {
		for _, name := range []string{"panic", "plain"} {
			_, err := methods.Rename_Task(ctx, c, &types.Rename_Task{This: vm, NewName: name})
			_, mf := vimFault(t, err)
			if se, ok := mf.(*types.SystemError); !ok || se.Reason == "" {
				t.Errorf("%s: fault %#v, want SystemError with a reason", name, mf)
			}
		}
		if _, err := methods.GetCurrentTime(ctx, c); err != nil {
			t.Errorf("CurrentTime after a handler panic: %v", err)
		}
	})
}

// TestFaultShape checks the wire form of a fault: HTTP 500, faultcode,
// faultstring and the <XxxFault xsi:type="Xxx"> detail element vCenter sends.
func TestFaultShape(t *testing.T) {
	f := newFixture(t)
	w := f.post("urn:vim25/8.0.3.0", envelope(`<CreateFolder xmlns="urn:vim25"><_this type="Folder">group-d1</_this><name>a&amp;b</name></CreateFolder>`), true)
	if w.Code != http.StatusInternalServerError {
		t.Errorf("HTTP %d, want 500", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("Content-Type %q", ct)
	}
	body := w.Body.String()
	for _, want := range []string{
		"<faultcode>ServerFaultCode</faultcode>",
		"<faultstring>The name &#39;a&amp;b&#39; already exists.</faultstring>",
		`<DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>a&amp;b</name><object type="VirtualMachine">vm-1</object></DuplicateNameFault>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("fault lacks %s:\n%s", want, body)
		}
	}
	sf := decodeFault(t, w.Body.Bytes())
	if dn, ok := sf.VimFault().(types.DuplicateName); !ok || dn.Name != "a&b" {
		t.Errorf("decoded detail %#v", sf.VimFault())
	}
}

// TestSessionCookie checks that Login sets vCenter's session cookie and that
// the cookie authenticates later calls.
func TestSessionCookie(t *testing.T) {
	f := newFixture(t)
	w := f.post("", envelope(`<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>u</userName><password>`+testPassword+`</password></Login>`), false)
	if w.Code != http.StatusOK {
		t.Fatalf("Login: HTTP %d\n%s", w.Code, w.Body)
	}
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value == "" || !cookie.HttpOnly || cookie.Path != "/" {
		t.Fatalf("Login cookies %v, want an HttpOnly %s for /", w.Result().Cookies(), CookieName)
	}
	if _, ok := f.sessions.Get(cookie.Value); !ok {
		t.Errorf("cookie %q names no session", cookie.Value)
	}
}

// TestVersionedResponses checks that a client is answered in the version
// it negotiated: fields and types newer than that version are left out.
func TestVersionedResponses(t *testing.T) {
	f := newFixture(t)
	rsc := envelope(`<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>`)
	rpe := envelope(`<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>VirtualMachine</type></propSet><objectSet><obj type="VirtualMachine">vm-1</obj></objectSet></specSet><options/></RetrievePropertiesEx>`)
	for _, tc := range []struct {
		version        string
		patch, vcsSlot bool // whether patchLevel (7.0.2.0) and VcsSlots (7.0.1.1) may appear
	}{
		{"6.5", false, false},
		{"6.7", false, false},
		{"6.7.3", false, false},
		{"7.0.1.0", false, false},
		{"7.0.1.1", false, true},
		{"7.0.2.0", true, true},
		{"8.0.3.0", true, true},
	} {
		t.Run(tc.version, func(t *testing.T) {
			action := "urn:vim25/" + tc.version
			for _, req := range [][]byte{rsc, rpe} {
				w := f.post(action, req, true)
				if w.Code != http.StatusOK {
					t.Fatalf("HTTP %d\n%s", w.Code, w.Body)
				}
				body := w.Body.String()
				if got := strings.Contains(body, "patchLevel"); got != tc.patch {
					t.Errorf("patchLevel present = %v, want %v:\n%s", got, tc.patch, body)
				}
				if bytes.Contains(req, []byte("RetrievePropertiesEx")) {
					if got := strings.Contains(body, "ClusterComputeResourceVcsSlots"); got != tc.vcsSlot {
						t.Errorf("ClusterComputeResourceVcsSlots present = %v, want %v:\n%s", got, tc.vcsSlot, body)
					}
				}
			}
		})
	}

	// A govmomi client speaking 6.7 decodes the reply.
	c := f.serve(t, "6.7")
	res, err := methods.RetrieveServiceContent(context.Background(), c, &types.RetrieveServiceContent{This: ref("ServiceInstance", "ServiceInstance")})
	if err != nil {
		t.Fatalf("RetrieveServiceContent as 6.7: %v", err)
	}
	if res.Returnval.About.PatchLevel != "" || res.Returnval.About.ApiVersion != vim.CurrentVersion {
		t.Errorf("about for a 6.7 client = %+v", res.Returnval.About)
	}
}

// TestBadRequests checks that requests the handler cannot decode or serve
// get an InvalidRequest fault.
func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, action string
		body         []byte
	}{
		{"empty", "", nil},
		{"not XML", "", []byte("hello")},
		{"no Body", "", []byte(`<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"/>`)},
		{"empty Body", "", envelope("")},
		{"truncated", "", envelope(`<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet>`)[:150]},
		{"bad boolean", "", envelope(`<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><objectSet><obj type="Folder">group-d1</obj><skip>perhaps</skip></objectSet></specSet><options/></RetrievePropertiesEx>`)},
		{"version too old", "urn:vim25/5.5", envelope(`<CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></CurrentTime>`)},
		{"version too new", "urn:vim25/9.9", envelope(`<CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></CurrentTime>`)},
		// Without a limit, 700,000 levels (which fit in the body limit)
		// overflow the decoder's stack and kill the process.
		{"deep nesting", "", deepRequest(maxElementDepth)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.post(tc.action, tc.body, true)
			if w.Code != http.StatusInternalServerError {
				t.Fatalf("HTTP %d, want 500\n%.2000s", w.Code, w.Body)
			}
			sf := decodeFault(t, w.Body.Bytes())
			if _, ok := sf.VimFault().(types.InvalidRequest); !ok {
				t.Errorf("fault %T (%s), want InvalidRequest", sf.VimFault(), sf.String)
			}
		})
	}

	// Nesting that real requests use is fine.
	if w := f.post("", deepRequest(50), true); w.Code != http.StatusOK {
		t.Errorf("selection specs nested 50 deep: HTTP %d\n%.2000s", w.Code, w.Body)
	}

	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/sdk", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /sdk: HTTP %d, want 405", w.Code)
	}
}

// deepRequest returns a RetrievePropertiesEx whose selection specs nest
// depth levels deep.
func deepRequest(depth int) []byte {
	var b bytes.Buffer
	b.WriteString(`<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><objectSet><obj type="Folder">group-d1</obj>`)
	for range depth {
		b.WriteString(`<selectSet xsi:type="TraversalSpec"><type>Folder</type><path>childEntity</path>`)
	}
	for range depth {
		b.WriteString(`</selectSet>`)
	}
	b.WriteString(`</objectSet></specSet><options/></RetrievePropertiesEx>`)
	return envelope(b.String())
}

// decodeFault decodes a reply with govmomi's envelope types and returns its
// SOAP fault.
func decodeFault(t testing.TB, body []byte) *vsoap.Fault {
	t.Helper()
	var res struct {
		Fault *vsoap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&vsoap.Envelope{Body: &res}); err != nil {
		t.Fatalf("reply is not a SOAP envelope: %v\n%.2000s", err, body)
	}
	if res.Fault == nil {
		t.Fatalf("reply has no fault:\n%.2000s", body)
	}
	return res.Fault
}

func isType[T any](v any) bool {
	_, ok := v.(T)
	return ok
}
