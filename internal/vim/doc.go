// Package vim holds Vireo's helpers around govmomi's vim25 wire types: deep
// copies of object values, property-path access, API version handling and
// fault construction. It holds no state and performs no I/O.
package vim
