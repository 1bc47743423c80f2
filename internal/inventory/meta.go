package inventory

import (
	"context"
	"fmt"
)

// MetaPrefix returns the committed settings (written with Txn.SetMeta) whose
// keys start with prefix. A registry without a store has none. Settings
// written by an Update are visible once that Update has returned.
func (r *Registry) MetaPrefix(ctx context.Context, prefix string) (map[string]string, error) {
	if r.store == nil {
		return map[string]string{}, nil
	}
	m, err := r.store.MetaPrefix(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("inventory: read settings %q: %w", prefix, err)
	}
	return m, nil
}
