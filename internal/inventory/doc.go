// Package inventory holds the in-memory object graph: every managed object as
// its vim25 view (a govmomi mo value), MoRef allocation with vCenter's
// prefixes, the managed-object type hierarchy, and the single mutation path
// (Registry.Update) that persists a change, publishes it and notifies
// subscribers in commit order.
//
// Published objects are immutable: a reader may hold and read one without a
// lock. A mutation edits a private copy (Txn.Edit) that replaces the published
// value only after the store has committed it.
package inventory
