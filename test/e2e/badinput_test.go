package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// TestBadInput sends the server requests a real vCenter rejects and checks
// that each gets vCenter's fault, and that the server keeps serving.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{demo: true})
	ctx := testContext(t)
	c := s.client(t)

	// alive checks that the server still answers a valid call.
	alive := func(t *testing.T) {
		t.Helper()
		if !s.running() {
			t.Fatalf("the server exited:\n%s", s.logTail(40))
		}
		if _, err := methods.GetCurrentTime(ctx, c.Client); err != nil {
			t.Fatalf("a valid call after the bad one failed: %v", err)
		}
	}

	t.Run("malformed XML", func(t *testing.T) {
		for name, body := range map[string]string{
			"not XML":    "this is not XML",
			"empty":      "",
			"truncated":  `<?xml version="1.0"?><Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">Servi`,
			"no Body":    `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Header/></Envelope>`,
			"mismatched": `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></Body></CurrentTime></Envelope>`,
			"bad number": envelope(`<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet></specSet><options><maxObjects>many</maxObjects></options></RetrievePropertiesEx>`),
		} {
			t.Run(name, func(t *testing.T) {
				status, fault := s.post(t, "urn:vim25/8.0.3.0", body)
				if status != http.StatusInternalServerError {
					t.Errorf("HTTP status %d, want 500", status)
				}
				if _, ok := vimFault(fault).(*types.InvalidRequest); !ok {
					t.Errorf("fault %T (%q), want InvalidRequest", vimFault(fault), fault.String)
				}
				alive(t)
			})
		}
	})

	t.Run("deeply nested", func(t *testing.T) {
		// 700,000 nested selection specs fit in the body limit; decoded
		// naively they overflow the goroutine stack, which kills a Go
		// process outright.
		var b strings.Builder
		b.WriteString(`<RetrievePropertiesEx xmlns="urn:vim25" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><_this type="PropertyCollector">propertyCollector</_this><specSet><objectSet><obj type="Folder">group-d1</obj>`)
		const depth = 700_000
		for range depth {
			b.WriteString(`<selectSet xsi:type="TraversalSpec"><path>childEntity</path>`)
		}
		for range depth {
			b.WriteString(`</selectSet>`)
		}
		b.WriteString(`</objectSet></specSet><options/></RetrievePropertiesEx>`)
		status, fault := s.postWithCookie(t, "urn:vim25/8.0.3.0", sessionCookie(t, c), envelope(b.String()))
		if _, ok := vimFault(fault).(*types.InvalidRequest); !ok || status != http.StatusInternalServerError {
			t.Errorf("HTTP %d, fault %T (%q), want 500 InvalidRequest", status, vimFault(fault), fault.String)
		}
		alive(t)
	})

	t.Run("unknown method", func(t *testing.T) {
		err := c.Client.RoundTrip(ctx, &noSuchMethodBody{Req: &noSuchMethod{This: c.ServiceContent.RootFolder}}, &noSuchMethodBody{})
		wantFault[*types.MethodNotFound](t, "NoSuchMethod", err)
		if f, ok := faultOf(err).(*types.MethodNotFound); ok && f.Method != "NoSuchMethod" {
			t.Errorf("MethodNotFound.method = %q", f.Method)
		}
		// A real method on an object type that does not have it.
		_, err = methods.PowerOnVM_Task(ctx, c.Client, &types.PowerOnVM_Task{This: c.ServiceContent.RootFolder})
		wantFault[*types.MethodNotFound](t, "PowerOnVM_Task on a Folder", err)
		alive(t)
	})

	t.Run("unknown MoRef", func(t *testing.T) {
		ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-999999"}
		_, err := methods.PowerOnVM_Task(ctx, c.Client, &types.PowerOnVM_Task{This: ref})
		wantFault[*types.ManagedObjectNotFound](t, "PowerOnVM_Task on vm-999999", err)
		if f, ok := faultOf(err).(*types.ManagedObjectNotFound); ok && f.Obj != ref {
			t.Errorf("ManagedObjectNotFound.obj = %v, want %v", f.Obj, ref)
		}
		// A MoRef naming an existing object under a type it is not.
		_, err = methods.PowerOnVM_Task(ctx, c.Client, &types.PowerOnVM_Task{
			This: types.ManagedObjectReference{Type: "VirtualMachine", Value: c.ServiceContent.RootFolder.Value}})
		wantFault[*types.ManagedObjectNotFound](t, "PowerOnVM_Task on VirtualMachine:group-d1", err)
		alive(t)
	})

	t.Run("wrong child type", func(t *testing.T) {
		// vCenter refuses a cluster in a VM folder with NotSupported.
		dc, err := object.NewRootFolder(c.Client).CreateDatacenter(ctx, "bad-child-dc")
		if err != nil {
			t.Fatalf("CreateDatacenter: %v", err)
		}
		folders, err := dc.Folders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = folders.VmFolder.CreateCluster(ctx, "bad", types.ClusterConfigSpecEx{})
		wantFault[*types.NotSupported](t, "CreateClusterEx in a VM folder", err)
		_, err = folders.HostFolder.CreateFolder(ctx, "ok")
		if err != nil {
			t.Errorf("CreateFolder in a host folder: %v", err)
		}
		alive(t)
	})

	t.Run("duplicate name", func(t *testing.T) {
		root := object.NewRootFolder(c.Client)
		first, err := root.CreateFolder(ctx, "bad-dup")
		if err != nil {
			t.Fatalf("CreateFolder: %v", err)
		}
		_, err = root.CreateFolder(ctx, "bad-dup")
		wantFault[*types.DuplicateName](t, "second CreateFolder bad-dup", err)
		if f, ok := faultOf(err).(*types.DuplicateName); ok && (f.Name != "bad-dup" || f.Object != first.Reference()) {
			t.Errorf("DuplicateName = %+v, want name bad-dup and object %v", f, first.Reference())
		}
		alive(t)
	})

	t.Run("invalid power transition", func(t *testing.T) {
		p := demoPlacement(ctx, t, c)
		vm, _ := p.createVM(ctx, t, c, "bad-power-vm")
		for name, op := range map[string]func(context.Context) (*object.Task, error){
			"PowerOffVM_Task": vm.PowerOff,
			"SuspendVM_Task":  vm.Suspend,
			"ResetVM_Task":    vm.Reset,
		} {
			tk, err := op(ctx)
			if err == nil {
				err = tk.Wait(ctx)
			}
			wantFault[*types.InvalidPowerState](t, name+" on a powered-off VM", err)
			if f, ok := faultOf(err).(*types.InvalidPowerState); ok && f.ExistingState != types.VirtualMachinePowerStatePoweredOff {
				t.Errorf("%s: InvalidPowerState.existingState = %q, want poweredOff", name, f.ExistingState)
			}
		}
		alive(t)
	})

	t.Run("no session", func(t *testing.T) {
		anon := s.anonymousClient(ctx, t)
		_, err := methods.CreateFolder(ctx, anon, &types.CreateFolder{This: anon.ServiceContent.RootFolder, Name: "anon"})
		wantFault[*types.NotAuthenticated](t, "CreateFolder without a session", err)
		_, err = methods.RetrievePropertiesEx(ctx, anon, &types.RetrievePropertiesEx{
			This: anon.ServiceContent.PropertyCollector,
			SpecSet: []types.PropertyFilterSpec{{
				ObjectSet: []types.ObjectSpec{{Obj: anon.ServiceContent.RootFolder}},
				PropSet:   []types.PropertySpec{{Type: "Folder", PathSet: []string{"name"}}},
			}},
		})
		wantFault[*types.NotAuthenticated](t, "RetrievePropertiesEx without a session", err)
		// RetrieveProperties answers without a session, as vCenter does, but
		// with every property in missingSet for NotAuthenticated.
		res, err := methods.RetrieveProperties(ctx, anon, &types.RetrieveProperties{
			This: anon.ServiceContent.PropertyCollector,
			SpecSet: []types.PropertyFilterSpec{{
				ObjectSet: []types.ObjectSpec{{Obj: anon.ServiceContent.RootFolder}},
				PropSet:   []types.PropertySpec{{Type: "Folder", PathSet: []string{"name", "childEntity"}}},
			}},
		})
		if err != nil {
			wantFault[*types.NotAuthenticated](t, "RetrieveProperties without a session", err)
		} else {
			for _, oc := range res.Returnval {
				if len(oc.PropSet) > 0 {
					t.Errorf("RetrieveProperties without a session returned %s of %v", oc.PropSet[0].Name, oc.Obj)
				}
				for _, m := range oc.MissingSet {
					if _, ok := m.Fault.Fault.(*types.NotAuthenticated); !ok {
						t.Errorf("missingSet %s: %T, want NotAuthenticated", m.Path, m.Fault.Fault)
					}
				}
			}
		}
		status, fault := s.postWithCookie(t, "urn:vim25/8.0.3.0", "not-a-session",
			envelope(`<CreateFolder xmlns="urn:vim25"><_this type="Folder">group-d1</_this><name>x</name></CreateFolder>`))
		if _, ok := vimFault(fault).(*types.NotAuthenticated); !ok || status != http.StatusInternalServerError {
			t.Errorf("CreateFolder with a bogus cookie: HTTP %d, fault %T, want 500 NotAuthenticated", status, vimFault(fault))
		}
		alive(t)
	})

	t.Run("bad password", func(t *testing.T) {
		for _, cred := range [][2]string{{adminUser, "wrong-password"}, {"nobody@vsphere.local", adminPassword}, {"", ""}} {
			_, err := s.login(cred[0], cred[1])
			wantFault[*types.InvalidLogin](t, "login as "+cred[0], err)
		}
		alive(t)
	})

	t.Run("API versions", func(t *testing.T) {
		rsc := envelope(`<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>`)
		for _, v := range []string{"6.5", "6.7", "6.7.3", "7.0.3.0", "8.0.3.0"} {
			if status, fault := s.post(t, "urn:vim25/"+v, rsc); status != http.StatusOK {
				t.Errorf("RetrieveServiceContent speaking %s: HTTP %d, fault %v", v, status, vimFault(fault))
			}
		}
		status, fault := s.post(t, "urn:vim25/5.5", rsc)
		if status != http.StatusInternalServerError || vimFault(fault) == nil {
			t.Errorf("RetrieveServiceContent speaking 5.5: HTTP %d, fault %v; want a fault", status, vimFault(fault))
		}
		alive(t)
	})
}

// sessionCookie returns the session cookie of a logged-in client.
func sessionCookie(t *testing.T, c *govmomi.Client) string {
	t.Helper()
	for _, ck := range c.Client.Client.Jar.Cookies(c.Client.URL()) {
		if ck.Name == "vmware_soap_session" {
			return ck.Value
		}
	}
	t.Fatal("the client has no vmware_soap_session cookie")
	return ""
}

// noSuchMethod is a request for a method vim25 does not have.
type noSuchMethod struct {
	This types.ManagedObjectReference `xml:"_this"`
}

type noSuchMethodBody struct {
	Req    *noSuchMethod `xml:"urn:vim25 NoSuchMethod,omitempty"`
	Res    *struct{}     `xml:"urn:vim25 NoSuchMethodResponse,omitempty"`
	Fault_ *soap.Fault   `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *noSuchMethodBody) Fault() *soap.Fault { return b.Fault_ }

// envelope wraps a request element in a SOAP envelope.
func envelope(req string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		req + `</soapenv:Body></soapenv:Envelope>`
}

// post sends a raw SOAP request without a session.
func (s *server) post(t *testing.T, action, body string) (int, *soap.Fault) {
	return s.postWithCookie(t, action, "", body)
}

// postWithCookie sends a raw SOAP request and returns the HTTP status and
// the SOAP fault of the reply (an empty Fault when there is none).
func (s *server) postWithCookie(t *testing.T, action, cookie, body string) (int, *soap.Fault) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", action)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "vmware_soap_session", Value: cookie})
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the test server's certificate is self-signed
	}}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", s.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	var resBody struct {
		Fault *soap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
	}
	env := soap.Envelope{Body: &resBody}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("the reply (HTTP %d) is not a SOAP envelope: %v\n%s", res.StatusCode, err, b)
	}
	if resBody.Fault == nil {
		return res.StatusCode, &soap.Fault{}
	}
	return res.StatusCode, resBody.Fault
}

// anonymousClient returns a vim25 client that has not logged in.
func (s *server) anonymousClient(ctx context.Context, t *testing.T) *vim25.Client {
	t.Helper()
	u, err := soap.ParseURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := vim25.NewClient(ctx, soap.NewClient(u, true))
	if err != nil {
		t.Fatalf("connect without login: %v", err)
	}
	return c
}
