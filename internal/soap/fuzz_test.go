package soap

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	vsoap "github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// FuzzServeHTTP sends arbitrary SOAPAction headers and bodies through the
// handler: envelope scanning, version negotiation, request decoding, session
// lookup, dispatch, and encoding of replies and faults. Whatever the input,
// the handler must answer promptly, without panicking, with HTTP 200 and a
// well-formed envelope or HTTP 500 and a SOAP fault carrying a vim25 fault.
// The seed corpus in testdata/fuzz/FuzzServeHTTP holds requests govc sends
// and malformed ones.
func FuzzServeHTTP(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		done := make(chan struct {
			code int
			body []byte
		}, 1)
		go func() {
			w := fx.post(action, body, true)
			done <- struct {
				code int
				body []byte
			}{w.Code, w.Body.Bytes()}
		}()
		var code int
		var reply []byte
		select {
		case r := <-done:
			code, reply = r.code, r.body
		case <-time.After(10 * time.Second):
			t.Fatal("no reply within 10 seconds")
		}
		var res struct {
			Fault *vsoap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
		}
		dec := xml.NewDecoder(bytes.NewReader(reply))
		dec.TypeFunc = types.TypeFunc()
		if err := dec.Decode(&vsoap.Envelope{Body: &res}); err != nil {
			t.Fatalf("HTTP %d reply is not a SOAP envelope: %v\n%.2000s", code, err, reply)
		}
		switch code {
		case http.StatusOK:
			if res.Fault != nil {
				t.Fatalf("HTTP 200 with a fault: %s", res.Fault.String)
			}
		case http.StatusInternalServerError:
			if res.Fault == nil || res.Fault.Detail.Fault == nil {
				t.Fatalf("HTTP 500 without a vim25 fault:\n%.2000s", reply)
			}
		default:
			t.Fatalf("HTTP %d", code)
		}
	})
}
