//go:build !linux

package guest

import (
	"fmt"
	"os"
)

// AgentMain runs the guest side of Vireo inside the guest image. The guest
// is Linux; elsewhere it only reports that.
func AgentMain(args []string) int {
	fmt.Fprintln(os.Stderr, "vireo-guest: the guest agent runs only inside the Linux guest image")
	return 2
}
