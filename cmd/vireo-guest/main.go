// Command vireo-guest is a small, dedicated guest agent for the image
// `vireo guest build` makes. The vireo binary is the agent by default; this
// one only does that job, so it is a tenth of the size and the guest boots
// a few seconds sooner under software emulation (TCG), where the first run
// of a large binary's package initialization is slow:
//
//	CGO_ENABLED=0 go build -o vireo-guest ./cmd/vireo-guest
//	vireo guest build -agent ./vireo-guest
//
// It runs only inside the guest image (see package internal/guest).
package main

import (
	"fmt"
	"os"

	"github.com/vireo-project/vireo/internal/guest"
)

func main() {
	guest.RunIfAgent()
	fmt.Fprintln(os.Stderr, "vireo-guest: this is the guest agent; it runs only inside the image 'vireo guest build -agent' makes")
	os.Exit(2)
}
