// Package dsfile serves vCenter's datastore file HTTP endpoint:
//
//	GET|HEAD|PUT|DELETE /folder/<path>?dcPath=<datacenter>&dsName=<datastore>
//
// GET and HEAD read a file (with Range support), PUT creates or replaces one
// (its folder must exist), DELETE removes a file or folder. Requests carry
// the SOAP session's vmware_soap_session cookie; without a valid session
// the answer is 401. The files are reached through the driver.Files of a
// host that mounts the datastore, never directly.
package dsfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// Resolver finds the file access of a datastore by datacenter inventory
// path ("" for any datacenter) and datastore name. Errors are *vim.Fault.
type Resolver interface {
	DatastoreFiles(dcPath, dsName string) (driver.Files, error)
}

// Sessions validates session keys; *session.Manager is one.
type Sessions interface {
	// Touch returns the live session with key, recording a call on it, and
	// false when there is none.
	Touch(key string) (*session.Session, bool)
}

// Handler serves /folder/.
type Handler struct {
	Files    Resolver
	Sessions Sessions
}

// Prefix is the path the handler is mounted on.
const Prefix = "/folder/"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(soap.CookieName)
	if err != nil {
		http.Error(w, "401 Unauthorized: log in through /sdk and send the "+soap.CookieName+" cookie", http.StatusUnauthorized)
		return
	}
	if _, ok := h.Sessions.Touch(c.Value); !ok {
		http.Error(w, "401 Unauthorized: log in through /sdk and send the "+soap.CookieName+" cookie", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	dsName := q.Get("dsName")
	rel := strings.Trim(path.Clean("/"+strings.TrimPrefix(r.URL.Path, Prefix)), "/")
	if dsName == "" || rel == "" {
		http.Error(w, "400 Bad Request: give a file path after /folder/ and the datastore as ?dsName=", http.StatusBadRequest)
		return
	}
	files, err := h.Files.DatastoreFiles(q.Get("dcPath"), dsName)
	if err != nil {
		http.Error(w, "404 Not Found: "+faultMessage(err), http.StatusNotFound)
		return
	}
	p := "[" + dsName + "] " + rel
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		serveFile(w, r, files, p)
	case http.MethodPut:
		putFile(w, r, files, p)
	case http.MethodDelete:
		if err := files.Remove(r.Context(), p); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

func serveFile(w http.ResponseWriter, r *http.Request, files driver.Files, p string) {
	fi, err := files.Stat(r.Context(), p)
	if err != nil {
		writeError(w, err)
		return
	}
	if fi.IsDir {
		http.Error(w, "400 Bad Request: "+p+" is a folder; list folders with HostDatastoreBrowser", http.StatusBadRequest)
		return
	}
	f, err := files.OpenFile(r.Context(), p)
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", fi.ModTime, f)
}

func putFile(w http.ResponseWriter, r *http.Request, files driver.Files, p string) {
	_, statErr := files.Stat(r.Context(), p)
	// As on ESX, an upload creates the directories on its path.
	if dir := parentPath(p); dir != "" {
		if err := files.Mkdir(r.Context(), dir, true); err != nil {
			writeError(w, err)
			return
		}
	}
	f, err := files.CreateFile(r.Context(), p)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := io.Copy(f, r.Body); err != nil {
		f.Close()
		writeError(w, fmt.Errorf("writing %s: %w", p, err))
		return
	}
	if err := f.Close(); err != nil {
		writeError(w, err)
		return
	}
	if statErr == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// writeError answers with the status that fits a driver.Files error.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, driver.ErrDatastoreNotFound):
		code = http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		code = http.StatusForbidden
	case errors.Is(err, driver.ErrIsDirectory), errors.Is(err, driver.ErrNotDirectory):
		code = http.StatusConflict
	}
	http.Error(w, http.StatusText(code)+": "+err.Error(), code)
}

func faultMessage(err error) string {
	var f *vim.Fault
	if errors.As(err, &f) {
		return f.Msg
	}
	return err.Error()
}

// parentPath returns the datastore path of p's directory ("[ds] a/b" for
// "[ds] a/b/c"), or "" when p is at the datastore's root.
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}
