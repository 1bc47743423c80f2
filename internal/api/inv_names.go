package api

import (
	"strings"
	"unicode/utf8"

	"github.com/vireo-project/vireo/internal/vim"
)

// maxEntityNameLen is the longest entity name vCenter accepts, in characters
// ("an entity name must be a non-empty string of less than 80 characters";
// vCenter takes exactly 80).
const maxEntityNameLen = 80

// entityName checks a new name for an entity of the kind what ("folder",
// "datacenter", ...) and returns it in the form vCenter stores: the slash,
// backslash and percent are escaped with URL syntax (%2f, %5c, %25), except a
// percent that already starts an escape sequence. An empty or too long name
// is an InvalidName fault.
func entityName(name, what string) (string, error) {
	if name == "" {
		return "", vim.InvalidName(name, what)
	}
	if n := utf8.RuneCountInString(name); n > maxEntityNameLen {
		f := vim.InvalidName(name, what)
		f.Msg += " A name must be at most 80 characters long; this one has " + itoa(int64(n)) + "."
		return "", f
	}
	if !utf8.ValidString(name) {
		f := vim.InvalidName(name, what)
		f.Msg += " The name is not valid UTF-8."
		return "", f
	}
	return escapeEntityName(name), nil
}

// escapeEntityName escapes '/', '\' and a '%' that does not start an escape
// sequence, as vCenter does with entity names.
func escapeEntityName(name string) string {
	if !strings.ContainsAny(name, `/\%`) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '/':
			b.WriteString("%2f")
		case '\\':
			b.WriteString("%5c")
		case '%':
			if i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2]) {
				b.WriteByte(c)
			} else {
				b.WriteString("%25")
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
