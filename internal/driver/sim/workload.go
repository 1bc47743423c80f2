package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

// Workload profiles a simulated VM's CPU and memory demand follows, named
// by driver.VMSpec.Workload. Demand is a pure function of the profile, a
// seed (Config.Seed and the VM's id) and the clock, so tests of DRS, HA
// and statistics see the same numbers on every run.
const (
	// WorkloadIdle uses 1-3% of the VM's CPU and 10% of its memory. It is
	// the default.
	WorkloadIdle = "idle"
	// WorkloadSteady ("steady:N") uses N% (±2) of the VM's CPU, 50% when N
	// is left out, and 20% + N/2 % of its memory.
	WorkloadSteady = "steady"
	// WorkloadBursty is quiet (3-10% CPU) except in one 20-second sample
	// period out of five on average, when it uses 70-100%; memory moves
	// between 30% and 60%.
	WorkloadBursty = "bursty"
	// WorkloadDiurnal follows the day: CPU from 10% at 04:00 UTC to 70% at
	// 16:00 UTC (±3), memory from 30% to 70%.
	WorkloadDiurnal = "diurnal"
)

// samplePeriod is the period random demand changes with: vSphere's
// real-time statistics interval.
const samplePeriod = 20 * time.Second

// workload is a parsed profile.
type workload struct {
	kind    string
	percent float64 // steady only
}

// parseWorkload parses a profile name; "" is idle.
func parseWorkload(s string) (workload, error) {
	name, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch name {
	case "", WorkloadIdle, WorkloadBursty, WorkloadDiurnal:
		if hasArg {
			break
		}
		if name == "" {
			name = WorkloadIdle
		}
		return workload{kind: name}, nil
	case WorkloadSteady:
		w := workload{kind: name, percent: 50}
		if !hasArg {
			return w, nil
		}
		n, err := strconv.ParseFloat(strings.TrimSuffix(arg, "%"), 64)
		if err != nil || n < 0 || n > 100 {
			break
		}
		w.percent = n
		return w, nil
	}
	return workload{}, fmt.Errorf("workload profile %q: want %s, %s:N (N percent), %s or %s: %w",
		s, WorkloadIdle, WorkloadSteady, WorkloadBursty, WorkloadDiurnal, driver.ErrInvalidSpec)
}

// demand returns the fractions of the VM's CPU capacity and memory the
// workload uses at t.
func (w workload) demand(seed uint64, t time.Time) (cpu, mem float64) {
	period := uint64(t.Unix() / int64(samplePeriod/time.Second))
	r := func(i uint64) float64 { return unitRandom(seed, period, i) }
	switch w.kind {
	case WorkloadSteady:
		cpu = w.percent/100 + (r(0)-0.5)*0.04
		mem = 0.2 + w.percent/200
	case WorkloadBursty:
		cpu = 0.03 + r(1)*0.07
		if r(0) < 0.2 {
			cpu = 0.7 + r(1)*0.3
		}
		mem = 0.3 + r(2)*0.3
	case WorkloadDiurnal:
		hours := float64(t.UTC().Hour()) + float64(t.UTC().Minute())/60
		day := (1 - math.Cos(2*math.Pi*(hours-4)/24)) / 2 // 0 at 04:00, 1 at 16:00
		cpu = 0.1 + 0.6*day + (r(0)-0.5)*0.06
		mem = 0.3 + 0.4*day
	default:
		cpu = 0.01 + r(0)*0.02
		mem = 0.1
	}
	return clamp01(cpu), clamp01(mem)
}

// vmSeed is the seed of a VM's workload: the host's seed and the VM's id.
func vmSeed(hostSeed uint64, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() ^ hostSeed
}

// unitRandom is a deterministic number in [0, 1) for the seed, sample
// period and draw i (splitmix64 finalizer).
func unitRandom(seed, period, i uint64) float64 {
	z := seed + period*0x9e3779b97f4a7c15 + i*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

func clamp01(f float64) float64 { return min(max(f, 0), 1) }
