package sim_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/driver/drivertest"
	"github.com/vireo-project/vireo/internal/driver/sim"
)

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) (driver.Driver, drivertest.Env) {
		dir := t.TempDir()
		cfg := sim.Config{
			Name:     "sim-host",
			StateDir: filepath.Join(dir, "state"),
			Datastores: map[string]string{
				"ds1": mkdir(t, filepath.Join(dir, "ds1")),
				"ds2": mkdir(t, filepath.Join(dir, "ds2")),
			},
			Networks: []string{"VM Network"},
		}
		open := func(t *testing.T) driver.Driver {
			d, err := sim.New(cfg)
			if err != nil {
				t.Fatalf("sim.New: %v", err)
			}
			return d
		}
		return open(t), drivertest.Env{Datastores: cfg.Datastores, Networks: cfg.Networks, Restart: open}
	})
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
