package soap

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vireo-project/vireo/internal/vim"
)

// ServeVersions serves /sdk/vimServiceVersions.xml, which clients read to
// choose the API version they speak.
func ServeVersions(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" ?>` + "\n<namespaces version=\"1.0\">\n <namespace>\n  <name>urn:vim25</name>\n")
	fmt.Fprintf(&b, "  <version>%s</version>\n  <priorVersions>\n", vim.CurrentVersion)
	for _, v := range vim.PriorVersions {
		fmt.Fprintf(&b, "   <version>%s</version>\n", v)
	}
	b.WriteString("  </priorVersions>\n </namespace>\n</namespaces>\n")
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(b.String()))
}
