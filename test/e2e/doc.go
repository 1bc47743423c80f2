// Package e2e holds Vireo's end-to-end tests. They build the vireo binary
// once, run `vireo serve` as a child process on a free loopback port with a
// temporary data directory, and drive it the way users do: with the govc
// binary (v0.46.3) and with the govmomi client library.
//
// The tests are part of `go test ./...` (no build tag); `go test -short`
// skips them. They need the Go toolchain, and network access once to install
// govc when no govc v0.46.3 is found. Environment knobs:
//
//	VIREO_E2E_GOVC    path of a govc v0.46.3 binary to use
//	VIREO_E2E_RACE=1  build the server with the race detector
package e2e
