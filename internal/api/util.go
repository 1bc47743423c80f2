package api

import (
	"crypto/sha256"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/session"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// refp returns a pointer to a copy of r.
func refp(r types.ManagedObjectReference) *types.ManagedObjectReference { return &r }

// containsRef reports whether refs holds r (by value).
func containsRef(refs []types.ManagedObjectReference, r types.ManagedObjectReference) bool {
	for _, x := range refs {
		if x.Value == r.Value {
			return true
		}
	}
	return false
}

// removeRef returns refs without r.
func removeRef(refs []types.ManagedObjectReference, r types.ManagedObjectReference) []types.ManagedObjectReference {
	out := refs[:0:0]
	for _, x := range refs {
		if x.Value != r.Value {
			out = append(out, x)
		}
	}
	return out
}

// scopeKey stores a session's scope (see sessionScope) in the session.
type scopeKey struct{}

// sessionScope returns the identifier in the MoRefs of sess's session-scoped
// objects (filters, views, created collectors), as vCenter writes them:
// "session[<scope>]<uuid>". It is derived from the session key but does not
// reveal it. A nil session has the scope "".
func sessionScope(sess *session.Session) string {
	if sess == nil {
		return ""
	}
	if v, ok := sess.Value(scopeKey{}).(string); ok {
		return v
	}
	sum := sha256.Sum256([]byte("vireo-session-scope:" + sess.Key))
	id, _ := uuid.FromBytes(sum[:16])
	scope := id.String()
	sess.StoreValue(scopeKey{}, scope)
	return scope
}

// newSessionRef returns a fresh MoRef of type typ scoped to sess.
func newSessionRef(typ string, sess *session.Session) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: typ, Value: "session[" + sessionScope(sess) + "]" + uuid.NewString()}
}

// refScope returns the session scope of a session-scoped MoRef value.
func refScope(id string) (scope string, ok bool) {
	rest, ok := strings.CutPrefix(id, "session[")
	if !ok {
		return "", false
	}
	scope, _, ok = strings.Cut(rest, "]")
	return scope, ok
}

// visible reports whether sess may see the object with MoRef value id: every
// object but another session's session-scoped ones.
func visible(id string, sess *session.Session) bool {
	scope, ok := refScope(id)
	return !ok || scope == sessionScope(sess)
}

// sortRefs orders refs by MoRef value, numerically within a prefix
// ("vm-9" before "vm-10").
func sortRefs(refs []types.ManagedObjectReference) {
	sort.Slice(refs, func(i, j int) bool { return lessRefValue(refs[i].Value, refs[j].Value) })
}

func lessRefValue(a, b string) bool {
	pa, na := splitRefValue(a)
	pb, nb := splitRefValue(b)
	if pa != pb {
		return pa < pb
	}
	if len(na) != len(nb) {
		return len(na) < len(nb)
	}
	return na < nb
}

// splitRefValue splits "vm-12" into "vm-" and "12".
func splitRefValue(v string) (prefix, num string) {
	i := len(v)
	for i > 0 && v[i-1] >= '0' && v[i-1] <= '9' {
		i--
	}
	return v[:i], v[i:]
}

// isTrue reports whether an optional vim boolean is set and true.
func isTrue(b *bool) bool { return b != nil && *b }
