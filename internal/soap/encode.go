package soap

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/vmware/govmomi/vim25/xml"

	"github.com/vireo-project/vireo/internal/vim"
)

const (
	envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		"\n<soapenv:Body>\n"
	envelopeEnd = "\n</soapenv:Body>\n</soapenv:Envelope>"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var vimNS = xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: "urn:vim25"}

func (h *Handler) writeResponse(w http.ResponseWriter, method, version string, res any) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	buf.WriteString(envelopeStart)
	start := xml.StartElement{Name: xml.Name{Local: method + "Response"}, Attr: []xml.Attr{vimNS}}
	enc := xml.NewEncoder(buf)
	var err error
	if res == nil {
		err = enc.EncodeToken(start)
		if err == nil {
			err = enc.EncodeToken(start.End())
		}
	} else {
		err = enc.EncodeElement(vim.ForVersion(res, version), start)
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		if h.Logger != nil {
			h.Logger.Error("encode response", "method", method, "err", err)
		}
		h.writeFault(w, method, version, vim.SystemError("cannot encode the response of "+method))
		return
	}
	buf.WriteString(envelopeEnd)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// writeFault writes f as a SOAP fault with HTTP status 500, as vCenter does.
func (h *Handler) writeFault(w http.ResponseWriter, method, version string, f *vim.Fault) {
	var buf bytes.Buffer
	buf.WriteString(envelopeStart)
	buf.WriteString("<soapenv:Fault>\n<faultcode>ServerFaultCode</faultcode>\n<faultstring>")
	_ = xml.EscapeText(&buf, []byte(f.Msg))
	buf.WriteString("</faultstring>\n<detail>")
	name := typeName(f.Fault)
	fault := vim.ForVersion(f.Fault, version)
	start := xml.StartElement{
		Name: xml.Name{Local: name + "Fault"},
		Attr: []xml.Attr{vimNS, {Name: xml.Name{Local: "xsi:type"}, Value: name}},
	}
	enc := xml.NewEncoder(&buf)
	if err := enc.EncodeElement(fault, start); err != nil || enc.Flush() != nil {
		buf.Reset()
		buf.WriteString(envelopeStart)
		buf.WriteString("<soapenv:Fault>\n<faultcode>ServerFaultCode</faultcode>\n<faultstring>")
		_ = xml.EscapeText(&buf, []byte(f.Msg))
		buf.WriteString("</faultstring>\n<detail><SystemErrorFault xmlns=\"urn:vim25\" xsi:type=\"SystemError\"><reason></reason></SystemErrorFault>")
	}
	buf.WriteString("</detail>\n</soapenv:Fault>")
	buf.WriteString(envelopeEnd)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(buf.Bytes())
}
