// Package api implements the vim25 managed objects: one file per managed
// object type, each registering its methods in a soap.Table. Handlers
// validate their input, mutate the inventory through inventory.Registry.Update
// (one store transaction per mutation) and return vim faults for bad input.
package api
