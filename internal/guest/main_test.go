package guest

import (
	"os"
	"testing"
)

// TestMain lets this test binary be the guest agent in the images the boot
// test builds (BuildOptions.Agent defaults to the running executable).
func TestMain(m *testing.M) {
	RunIfAgent()
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
