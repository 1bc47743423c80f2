package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// govcVersion is the govc release the tests drive the server with.
const govcVersion = "v0.46.3"

// Paths of the binaries under test, set by needBinaries.
var (
	vireoBin string
	govcBin  string
	// workDir holds the binaries and the shared server's files for this run.
	workDir string
	// setup builds vireo and finds govc once, when a test first needs them.
	setup struct {
		once     sync.Once
		err      error
		reported atomic.Bool // the error has been shown once
	}
)

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if workDir, err = os.MkdirTemp("", "vireo-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := m.Run()
	if r := stopShared(); r != "" {
		fmt.Fprintf(os.Stderr, "e2e: the shared demo server reported a data race:\n%s\n", r)
		code = 1
	}
	os.RemoveAll(workDir)
	os.Exit(code)
}

// needBinaries skips t in -short mode; otherwise it makes sure vireo is
// built and govc found (the first caller pays for it).
func needBinaries(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test; skipped in -short mode")
	}
	setup.once.Do(func() {
		if vireoBin, setup.err = buildVireo(workDir); setup.err == nil {
			govcBin, setup.err = findGovc()
		}
	})
	if setup.err != nil {
		if setup.reported.Swap(true) {
			t.Fatal("setup failed; see the first failing test")
		}
		t.Fatal(setup.err)
	}
}

// buildVireo builds cmd/vireo into dir.
func buildVireo(dir string) (string, error) {
	bin := filepath.Join(dir, "vireo")
	args := []string{"build", "-o", bin}
	if os.Getenv("VIREO_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/vireo-project/vireo/cmd/vireo")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build vireo: %w\n%s", err, out)
	}
	return bin, nil
}

// findGovc returns a govc built from govmomi v0.46.3: $VIREO_E2E_GOVC, one
// on PATH or in GOPATH/bin, or one installed with `go install` into the user
// cache directory (once per machine).
func findGovc() (string, error) {
	if p := os.Getenv("VIREO_E2E_GOVC"); p != "" {
		if !isGovc(p) {
			return "", fmt.Errorf("VIREO_E2E_GOVC=%s is not govc %s", p, govcVersion)
		}
		return p, nil
	}
	var candidates []string
	if p, err := exec.LookPath("govc"); err == nil {
		candidates = append(candidates, p)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				candidates = append(candidates, filepath.Join(lines[0], "govc"))
			}
			for _, gp := range filepath.SplitList(lines[1]) {
				candidates = append(candidates, filepath.Join(gp, "bin", "govc"))
			}
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	gobin := filepath.Join(cache, "vireo", "govc-"+govcVersion)
	candidates = append(candidates, filepath.Join(gobin, "govc"))
	for _, p := range candidates {
		if isGovc(p) {
			return p, nil
		}
	}
	cmd := exec.Command("go", "install", "github.com/vmware/govmomi/govc@"+govcVersion)
	cmd.Dir = os.TempDir() // outside the module, so its go.mod plays no part
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("install govc %s: %w\n%s", govcVersion, err, out)
	}
	p := filepath.Join(gobin, "govc")
	if !isGovc(p) {
		return "", fmt.Errorf("installed %s is not govc %s", p, govcVersion)
	}
	return p, nil
}

// isGovc reports whether the binary at p is govc built from govmomi at
// govcVersion, by its embedded build information.
func isGovc(p string) bool {
	if _, err := os.Stat(p); err != nil {
		return false
	}
	out, err := exec.Command("go", "version", "-m", p).Output()
	if err != nil {
		return false
	}
	return bytes.Contains(out, []byte("\tpath\tgithub.com/vmware/govmomi/govc\n")) &&
		bytes.Contains(out, []byte("\tgithub.com/vmware/govmomi\t"+govcVersion))
}
