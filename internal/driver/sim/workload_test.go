package sim

import (
	"context"
	"testing"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

func TestParseWorkload(t *testing.T) {
	tests := []struct {
		in      string
		want    workload
		invalid bool
	}{
		{in: "", want: workload{kind: WorkloadIdle}},
		{in: "idle", want: workload{kind: WorkloadIdle}},
		{in: "steady", want: workload{kind: WorkloadSteady, percent: 50}},
		{in: "steady:30", want: workload{kind: WorkloadSteady, percent: 30}},
		{in: "steady:75%", want: workload{kind: WorkloadSteady, percent: 75}},
		{in: "bursty", want: workload{kind: WorkloadBursty}},
		{in: "diurnal", want: workload{kind: WorkloadDiurnal}},
		{in: "steady:150", invalid: true},
		{in: "steady:x", invalid: true},
		{in: "idle:3", invalid: true},
		{in: "busy", invalid: true},
	}
	for _, tt := range tests {
		got, err := parseWorkload(tt.in)
		if tt.invalid != (err != nil) || (!tt.invalid && got != tt.want) {
			t.Errorf("parseWorkload(%q) = %+v, %v; want %+v (invalid %v)", tt.in, got, err, tt.want, tt.invalid)
		}
	}
}

// dayOfDemand samples a workload every 20 s over a day.
func dayOfDemand(t *testing.T, w workload, seed uint64) (cpus []float64) {
	t.Helper()
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for at := start; at.Before(start.Add(24 * time.Hour)); at = at.Add(samplePeriod) {
		cpu, mem := w.demand(seed, at)
		if cpu < 0 || cpu > 1 || mem < 0 || mem > 1 {
			t.Fatalf("%+v demand at %v: cpu %v, mem %v; want fractions", w, at, cpu, mem)
		}
		cpus = append(cpus, cpu)
	}
	return cpus
}

func TestWorkloadDemand(t *testing.T) {
	mean := func(xs []float64) float64 {
		var s float64
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	share := func(xs []float64, above float64) float64 {
		n := 0
		for _, x := range xs {
			if x > above {
				n++
			}
		}
		return float64(n) / float64(len(xs))
	}
	idle := dayOfDemand(t, workload{kind: WorkloadIdle}, 1)
	if m := mean(idle); m < 0.01 || m > 0.03 {
		t.Errorf("idle mean CPU %.3f, want 1-3%%", m)
	}
	steady := dayOfDemand(t, workload{kind: WorkloadSteady, percent: 40}, 1)
	if m := mean(steady); m < 0.39 || m > 0.41 {
		t.Errorf("steady:40 mean CPU %.3f, want 0.40", m)
	}
	bursty := dayOfDemand(t, workload{kind: WorkloadBursty}, 1)
	if s := share(bursty, 0.69); s < 0.15 || s > 0.25 {
		t.Errorf("bursty spends %.2f of the day in bursts, want about 0.2", s)
	}
	diurnal := dayOfDemand(t, workload{kind: WorkloadDiurnal}, 1)
	night, afternoon := diurnal[4*180], diurnal[16*180] // 180 samples an hour
	if night > 0.15 || afternoon < 0.65 {
		t.Errorf("diurnal CPU %.2f at 04:00 and %.2f at 16:00, want about 0.1 and 0.7", night, afternoon)
	}

	// The same seed gives the same demand; another seed another.
	other := dayOfDemand(t, workload{kind: WorkloadBursty}, 2)
	same := dayOfDemand(t, workload{kind: WorkloadBursty}, 1)
	differs := false
	for i := range bursty {
		if bursty[i] != same[i] {
			t.Fatalf("bursty demand is not deterministic at sample %d", i)
		}
		differs = differs || bursty[i] != other[i]
	}
	if !differs {
		t.Error("two seeds give the same bursty demand")
	}
}

func TestStateUsage(t *testing.T) {
	now := time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)
	d, err := New(Config{Datastores: map[string]string{"ds1": t.TempDir()}, CPUMHz: 2000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := driver.VMSpec{ID: "vm-1", Dir: "[ds1] vm-1", NumCPU: 2, MemoryMB: 1000, Workload: "steady:50"}
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, spec.ID); st.CPUUsageMHz != 0 || st.MemoryUsageMB != 0 {
		t.Errorf("powered-off VM uses %d MHz, %d MB", st.CPUUsageMHz, st.MemoryUsageMB)
	}
	if err := d.PowerOn(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	// steady:50 on 2 x 2000 MHz: 2000 MHz ± 2% of 4000; memory 45%.
	if st, _ := d.State(ctx, spec.ID); st.CPUUsageMHz < 1920 || st.CPUUsageMHz > 2080 || st.MemoryUsageMB != 450 {
		t.Errorf("steady:50 VM uses %d MHz, %d MB; want about 2000 MHz and 450 MB", st.CPUUsageMHz, st.MemoryUsageMB)
	}
	spec.Workload = "sometimes"
	if err := d.Reconfigure(ctx, spec); err == nil {
		t.Error("Reconfigure accepted an unknown workload")
	}
	spec.ID = "vm-2"
	if err := d.Create(ctx, spec); err == nil {
		t.Error("Create accepted an unknown workload")
	}
}
