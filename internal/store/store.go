// Package store defines Vireo's durable state: the Store interface that every
// backend implements, the records it holds and its sentinel errors. The
// in-memory inventory is a write-through cache rebuilt from a Store at start.
//
// Values read from a Store belong to the caller; values passed to a Store are
// not retained after the call returns.
package store

import (
	"context"
	"errors"
)

// Errors returned by Store implementations.
var (
	// ErrClosed is returned by calls on a closed Store.
	ErrClosed = errors.New("store: closed")
)

// Object is one stored managed object. Type and ID form its managed object
// reference (Type "VirtualMachine", ID "vm-42"); Data is the inventory's own
// encoding of the object and is opaque to the store.
type Object struct {
	Type string
	ID   string
	Data []byte
}

// Batch is a set of changes applied atomically by Commit.
type Batch struct {
	// Put inserts or replaces objects, keyed by ID.
	Put []Object
	// Delete removes objects by ID; deleting a missing ID is not an error.
	Delete []string
	// Meta sets key/value settings (counters, users, configuration).
	Meta map[string]string
}

// Empty reports whether b changes nothing.
func (b *Batch) Empty() bool {
	return len(b.Put) == 0 && len(b.Delete) == 0 && len(b.Meta) == 0
}

// Store is durable storage for the inventory and the server's settings.
//
// Commit is the only write path: it applies a whole Batch in one transaction
// and returns only after the changes are durable against a crash of the
// process. Implementations are safe for concurrent use.
type Store interface {
	// Objects returns every stored object, in no particular order.
	Objects(ctx context.Context) ([]Object, error)
	// Meta returns the value stored under key, and whether there is one.
	Meta(ctx context.Context, key string) (string, bool, error)
	// MetaPrefix returns every key/value pair whose key starts with prefix.
	MetaPrefix(ctx context.Context, prefix string) (map[string]string, error)
	// Commit applies b atomically and durably.
	Commit(ctx context.Context, b *Batch) error
	// Close releases the store; later calls return ErrClosed.
	Close() error
}
