// Package app wires Vireo's server together and owns its lifecycle: it opens
// the store, rebuilds the inventory, starts the API listener and the
// background loops, and stops them in order.
package app
