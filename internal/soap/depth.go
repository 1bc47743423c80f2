package soap

import "bytes"

// maxElementDepth is the deepest element nesting a request may have. Real
// vim25 requests nest a few dozen levels at most. The decoder recurses once
// per level, and a goroutine that outgrows its stack kills the whole process
// (Go cannot recover from it), so a request nested hundreds of thousands of
// levels deep, which fits in the body limit, must be refused before decoding.
const maxElementDepth = 512

// nestingExceeds reports whether the XML in body nests elements deeper than
// limit. It scans bytes without parsing: a start tag opens a level, an end
// tag closes one, a self-closing tag counts for one level of its own, and
// comments, CDATA sections, declarations and processing instructions do not
// count. It never
// underestimates the depth of well-formed XML; malformed input is left for
// the decoder to reject.
func nestingExceeds(body []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(body); i++ {
		if body[i] != '<' {
			continue
		}
		rest := body[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			depth--
			continue
		case bytes.HasPrefix(rest, []byte("<!--")):
			i += skipPast(rest, "-->")
			continue
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			i += skipPast(rest, "]]>")
			continue
		case bytes.HasPrefix(rest, []byte("<!")), bytes.HasPrefix(rest, []byte("<?")):
			i += skipPast(rest, ">")
			continue
		}
		end := tagEnd(rest)
		if end < 0 {
			return false
		}
		if depth+1 > limit {
			return true
		}
		if rest[end-1] != '/' {
			depth++
		}
		i += end
	}
	return false
}

// skipPast returns the offset in b of the last byte of the first marker, or
// len(b) when there is none.
func skipPast(b []byte, marker string) int {
	if j := bytes.Index(b, []byte(marker)); j >= 0 {
		return j + len(marker) - 1
	}
	return len(b)
}

// tagEnd returns the offset of the '>' that ends the start tag at the
// beginning of b, skipping quoted attribute values, or -1.
func tagEnd(b []byte) int {
	var quote byte
	for j := 1; j < len(b); j++ {
		switch c := b[j]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j
		}
	}
	return -1
}
