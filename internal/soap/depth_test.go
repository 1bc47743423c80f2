package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"testing"
)

func TestNestingExceeds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		limit int
		want  bool
	}{
		{"flat", `<a><b/><c></c></a>`, 2, false},
		{"at the limit", `<a><b><c/></b></a>`, 3, false},
		{"self-closing over the limit", `<a><b><c/></b></a>`, 2, true},
		{"over the limit", `<a><b><c></c></b></a>`, 2, true},
		{"slash in attribute", `<a><b x="/"><c/></b></a>`, 3, false},
		{"slash in attribute over the limit", `<a><b x="/"><c></c></b></a>`, 2, true},
		{"quoted >", `<a x=">"><b y='>'><c>x</c></b></a>`, 2, true},
		{"comment", `<a><!-- <b><c><d> --><b/></a>`, 2, false},
		{"CDATA", `<a><![CDATA[<b><c><d>]]></a>`, 1, false},
		{"declaration and PI", `<?xml version="1.0"?><!DOCTYPE a><a><?pi x?></a>`, 1, false},
		{"unterminated tag", `<a><b`, 0, true},
		{"unterminated tag at limit", `<a><b`, 1, false},
		{"empty", ``, 0, false},
		{"text only", `hello > world`, 0, false},
	} {
		if got := nestingExceeds([]byte(tc.body), tc.limit); got != tc.want {
			t.Errorf("%s: nestingExceeds(%q, %d) = %v, want %v", tc.name, tc.body, tc.limit, got, tc.want)
		}
	}
}

// FuzzNestingExceeds checks that the byte scanner never underestimates the
// depth of XML that a real parser accepts.
func FuzzNestingExceeds(f *testing.F) {
	for _, s := range []string{
		`<a><b><c/></b></a>`,
		`<a x="<>/"><!-- <b> --><![CDATA[<c>]]><d/></a>`,
		string(envelope(`<CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></CurrentTime>`)),
	} {
		f.Add([]byte(s), 2)
	}
	f.Fuzz(func(t *testing.T, body []byte, limit int) {
		if limit < 0 || limit > 64 {
			return
		}
		depth, ok := xmlDepth(body)
		if !ok {
			return
		}
		if depth > limit && !nestingExceeds(body, limit) {
			t.Fatalf("depth %d > %d but nestingExceeds is false for %q", depth, limit, body)
		}
	})
}

// xmlDepth returns the maximum element depth of body if encoding/xml reads
// all of it without error.
func xmlDepth(body []byte) (int, bool) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	depth, maxDepth := 0, 0
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			return maxDepth, depth == 0
		}
		if err != nil {
			return 0, false
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			maxDepth = max(maxDepth, depth)
		case xml.EndElement:
			depth--
		}
	}
}
