package api

import (
	"sort"

	"github.com/vmware/govmomi/vim25/types"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortFilters(fs []*filter) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].ref.Value < fs[j].ref.Value })
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
