package api_test

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/inventory"
)

func TestCheckersInServiceContent(t *testing.T) {
	f := newVMFx(t)
	sc := f.c.ServiceContent
	for name, got := range map[string]*types.ManagedObjectReference{
		"vmCompatibilityChecker": sc.VmCompatibilityChecker,
		"vmProvisioningChecker":  sc.VmProvisioningChecker,
		"storageResourceManager": sc.StorageResourceManager,
	} {
		want := map[string]types.ManagedObjectReference{
			"vmCompatibilityChecker": api.CompatCheckerRef,
			"vmProvisioningChecker":  api.ProvCheckerRef,
			"storageResourceManager": api.StorageResourceManagerRef,
		}[name]
		if got == nil || *got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// checkMessages returns the messages of a result's errors and warnings.
func checkMessages(res []types.CheckResult) (errs, warns []string) {
	for _, r := range res {
		for _, e := range r.Error {
			errs = append(errs, e.LocalizedMessage)
		}
		for _, w := range r.Warning {
			warns = append(warns, w.LocalizedMessage)
		}
	}
	return errs, warns
}

// hasMessage reports whether one of msgs contains sub.
func hasMessage(msgs []string, sub string) bool {
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func TestCheckVmConfig(t *testing.T) {
	f := newVMFx(t)
	checker := object.NewVmCompatibilityChecker(f.c)
	nic := newNIC[types.VirtualE1000]("VM Network")
	tests := []struct {
		name       string
		spec       types.VirtualMachineConfigSpec
		host       types.ManagedObjectReference
		wantErr    string // in an error of the result
		wantWarn   string // in a warning
		wantClean  bool
		wantFields func(t *testing.T, r types.CheckResult)
	}{
		{name: "fits", spec: guestSpec("new-vm", add(nic)), host: f.h0, wantClean: true},
		{name: "too much memory", spec: func() types.VirtualMachineConfigSpec {
			s := vmSpec("big")
			s.MemoryMB = 25149440 + 100
			return s
		}(), host: f.h0, wantErr: "outside the range"},
		{name: "too many CPUs", spec: func() types.VirtualMachineConfigSpec {
			s := vmSpec("wide")
			s.NumCPUs = 100
			return s
		}(), host: f.h0, wantErr: "vm requires 100 CPUs"},
		{name: "unknown guest", spec: func() types.VirtualMachineConfigSpec {
			s := vmSpec("odd")
			s.GuestId = "ttylinux"
			return s
		}(), host: f.h0, wantWarn: "unsupported"},
		{name: "datastore the host lacks", spec: func() types.VirtualMachineConfigSpec {
			s := vmSpec("elsewhere")
			s.Files.VmPathName = "[LocalDS_1]"
			return s
		}(), host: f.h0, wantErr: "LocalDS_1"},
		{name: "bad hardware version", spec: func() types.VirtualMachineConfigSpec {
			s := vmSpec("future")
			s.Version = "vmx-99"
			return s
		}(), host: f.h0, wantErr: "vmx-99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := checker.CheckVmConfig(f.ctx, tt.spec, nil, &tt.host, &f.pool)
			if err != nil {
				t.Fatalf("CheckVmConfig: %v", err)
			}
			if len(res) != 1 || res[0].Host == nil || *res[0].Host != tt.host {
				t.Fatalf("results %+v, want one for host %v", res, tt.host)
			}
			errs, warns := checkMessages(res)
			if tt.wantClean && (len(errs) > 0 || len(warns) > 0) {
				t.Errorf("errors %q, warnings %q; want none", errs, warns)
			}
			if tt.wantErr != "" && !hasMessage(errs, tt.wantErr) {
				t.Errorf("errors %q, want one with %q", errs, tt.wantErr)
			}
			if tt.wantWarn != "" && !hasMessage(warns, tt.wantWarn) {
				t.Errorf("warnings %q, want one with %q", warns, tt.wantWarn)
			}
		})
	}
	if n := countVMs(f); n != 0 {
		t.Errorf("checks created %d VMs", n)
	}
}

func countVMs(f *vmFx) int {
	n := 0
	f.svc.Registry().Each("VirtualMachine", func(mo.Reference) bool { n++; return true })
	return n
}

func TestCheckVmConfigOfExistingVM(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("vm1"))
	ref := vm.Reference()
	res, err := object.NewVmCompatibilityChecker(f.c).CheckVmConfig(f.ctx, types.VirtualMachineConfigSpec{NumCPUs: 2, MemoryMB: 2048}, &ref, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Vm == nil || *res[0].Vm != ref || res[0].Host == nil || *res[0].Host != f.h0 {
		t.Fatalf("results %+v, want one for vm1 on h0", res)
	}
	if errs, warns := checkMessages(res); len(errs)+len(warns) > 0 {
		t.Errorf("errors %q, warnings %q; want none", errs, warns)
	}
	o := f.vm(vm)
	if o.Config.Hardware.NumCPU != 1 {
		t.Errorf("the check changed the VM: numCPU %d", o.Config.Hardware.NumCPU)
	}
}

func TestCheckArgumentFaults(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("vm1")).Reference()
	checker := object.NewVmCompatibilityChecker(f.c)
	otherPool := *inventory.Get[mo.ClusterComputeResource](f.svc.Registry(), f.otherCR).ResourcePool
	tests := []struct {
		name string
		run  func() error
		want types.BaseMethodFault
	}{
		{"nothing to test against", func() error {
			_, err := checker.CheckVmConfig(f.ctx, vmSpec("x"), nil, nil, nil)
			return err
		}, &types.InvalidArgument{}},
		{"host of another datacenter", func() error {
			_, err := checker.CheckCompatibility(f.ctx, vm, &f.otherHst, &f.pool)
			return err
		}, &types.DatacenterMismatch{}},
		{"pool of another datacenter", func() error {
			_, err := checker.CheckCompatibility(f.ctx, vm, nil, &otherPool)
			return err
		}, &types.DatacenterMismatch{}},
		{"unknown test type", func() error {
			_, err := checker.CheckCompatibility(f.ctx, vm, nil, nil, types.CheckTestType("allTests"))
			return err
		}, &types.InvalidArgument{}},
		{"unknown VM", func() error {
			_, err := checker.CheckCompatibility(f.ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-999"}, nil, nil)
			return err
		}, &types.InvalidArgument{}},
		{"host outside the pool's cluster", func() error {
			_, err := checker.CheckCompatibility(f.ctx, vm, &f.h0, &otherPool)
			return err
		}, &types.DatacenterMismatch{}},
		{"power on without host or pool", func() error {
			_, err := checkPowerOn(t, f, vm, nil)
			return err
		}, &types.InvalidArgument{}},
		{"unknown host", func() error {
			_, err := checker.CheckCompatibility(f.ctx, vm, &types.ManagedObjectReference{Type: "HostSystem", Value: "host-999"}, nil)
			return err
		}, &types.ManagedObjectNotFound{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vmFault(t, tt.run(), tt.want)
		})
	}
}

func TestCheckCompatibility(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("vm1")).Reference() // on h0, LocalDS_0
	checker := object.NewVmCompatibilityChecker(f.c)

	// Without DRS the host must be given.
	_, err := checker.CheckCompatibility(f.ctx, vm, nil, &f.pool)
	vmFault(t, err, &types.InvalidArgument{})

	drsOn := &types.ClusterConfigSpecEx{DrsConfig: &types.ClusterDrsConfigInfo{Enabled: types.NewBool(true)}}
	f.must(f.svc.ReconfigureComputeResource(f.ctx, "test", f.cluster, drsOn, true, 0))
	res, err := checker.CheckCompatibility(f.ctx, vm, nil, &f.pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("got %d results, want one per host of the cluster", len(res))
	}
	for _, r := range res {
		errs, _ := checkMessages([]types.CheckResult{r})
		onH1 := *r.Host == f.h1
		if got := hasMessage(errs, "LocalDS_0"); got != onH1 {
			t.Errorf("host %v: errors %q; want a LocalDS_0 error only on h1", r.Host, errs)
		}
	}

	res, err = checker.CheckCompatibility(f.ctx, vm, &f.h1, nil, types.CheckTestTypeHostTests)
	if err != nil {
		t.Fatal(err)
	}
	if errs, _ := checkMessages(res); len(errs) > 0 {
		t.Errorf("host tests alone: errors %q, want none", errs)
	}
}

// checkPowerOn runs CheckPowerOn_Task.
func checkPowerOn(t *testing.T, f *vmFx, vm types.ManagedObjectReference, host *types.ManagedObjectReference) ([]types.CheckResult, error) {
	t.Helper()
	req := &types.CheckPowerOn_Task{This: *f.c.ServiceContent.VmCompatibilityChecker, Vm: vm, Host: host}
	res, err := methods.CheckPowerOn_Task(f.ctx, f.c, req)
	if err != nil {
		return nil, err
	}
	return runCheck(t, f, res.Returnval, nil)
}

// runCheck runs a checker task and returns its results.
func runCheck(t *testing.T, f *vmFx, task types.ManagedObjectReference, err error) ([]types.CheckResult, error) {
	t.Helper()
	if err != nil {
		return nil, err
	}
	info, err := object.NewTask(f.c, task).WaitForResult(f.ctx)
	if err != nil {
		return nil, err
	}
	return info.Result.(types.ArrayOfCheckResult).CheckResult, nil
}

func TestCheckPowerOnReservation(t *testing.T) {
	f := newVMFx(t)
	spec := vmSpec("hungry")
	spec.MemoryMB = 128 << 10
	spec.MemoryAllocation = &types.ResourceAllocationInfo{Reservation: types.NewInt64(128 << 10)}
	vm := f.create(spec).Reference()
	results, err := checkPowerOn(t, f, vm, &f.h0)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !hasFault[*types.InsufficientHostMemoryCapacityFault](results[0].Error) {
		t.Errorf("results %+v, want an InsufficientHostMemoryCapacityFault error", results)
	}
}

// hasFault reports whether faults has one of type T.
func hasFault[T types.BaseMethodFault](faults []types.LocalizedMethodFault) bool {
	for _, f := range faults {
		if _, ok := f.Fault.(T); ok {
			return true
		}
	}
	return false
}

func TestCheckRelocate(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("vm1")).Reference()
	local1 := datastoreNamed(t, f, "LocalDS_1")
	shared := datastoreNamed(t, f, "shared")
	checker := object.NewVmProvisioningChecker(f.c)
	tests := []struct {
		name    string
		spec    types.VirtualMachineRelocateSpec
		wantErr string
	}{
		{"stay", types.VirtualMachineRelocateSpec{}, ""},
		{"to a datastore the host lacks", types.VirtualMachineRelocateSpec{Datastore: &local1}, "LocalDS_1"},
		{"to the other host and its datastore", types.VirtualMachineRelocateSpec{Datastore: &local1, Host: &f.h1}, ""},
		{"to a shared datastore", types.VirtualMachineRelocateSpec{Datastore: &shared, Host: &f.h1, Pool: &f.pool}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := checker.CheckRelocate(f.ctx, vm, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			errs, _ := checkMessages(res)
			if tt.wantErr == "" && len(errs) > 0 || tt.wantErr != "" && !hasMessage(errs, tt.wantErr) {
				t.Errorf("errors %q, want %q", errs, tt.wantErr)
			}
		})
	}
}

func datastoreNamed(t *testing.T, f *vmFx, name string) types.ManagedObjectReference {
	t.Helper()
	for _, r := range f.dc.Datastore {
		if ds := inventory.Get[mo.Datastore](f.svc.Registry(), r); ds != nil && ds.Name == name {
			return r
		}
	}
	t.Fatalf("no datastore %s", name)
	return types.ManagedObjectReference{}
}

func TestCheckCloneAndInstantClone(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("vm1")).Reference()
	prov := *f.c.ServiceContent.VmProvisioningChecker
	clone := func(name string) []string {
		res, err := methods.CheckClone_Task(f.ctx, f.c, &types.CheckClone_Task{This: prov, Vm: vm, Folder: f.dc.VmFolder, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		results, err := runCheck(t, f, res.Returnval, nil)
		if err != nil {
			t.Fatal(err)
		}
		errs, _ := checkMessages(results)
		return errs
	}
	if errs := clone("vm2"); len(errs) > 0 {
		t.Errorf("clone as vm2: errors %q, want none", errs)
	}
	if errs := clone("vm1"); !hasMessage(errs, "vm1") {
		t.Errorf("clone as vm1: errors %q, want the duplicate name", errs)
	}
	res, err := methods.CheckInstantClone_Task(f.ctx, f.c, &types.CheckInstantClone_Task{This: prov, Vm: vm,
		Spec: types.VirtualMachineInstantCloneSpec{Name: "fast"}})
	if err != nil {
		t.Fatal(err)
	}
	results, err := runCheck(t, f, res.Returnval, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !hasFault[*types.InvalidPowerState](results[0].Error) {
		t.Errorf("instant clone of a powered-off VM: %+v, want an InvalidPowerState error", results)
	}
}

func TestCheckMigrate(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(vmSpec("vm1")).Reference() // on h0, LocalDS_0
	migrate := func(host types.ManagedObjectReference) []string {
		t.Helper()
		res, err := methods.CheckMigrate_Task(f.ctx, f.c, &types.CheckMigrate_Task{This: *f.c.ServiceContent.VmProvisioningChecker, Vm: vm, Host: &host})
		if err != nil {
			t.Fatal(err)
		}
		results, err := runCheck(t, f, res.Returnval, nil)
		if err != nil {
			t.Fatal(err)
		}
		errs, _ := checkMessages(results)
		return errs
	}
	if errs := migrate(f.h0); len(errs) > 0 {
		t.Errorf("migrate to h0: errors %q, want none", errs)
	}
	if errs := migrate(f.h1); !hasMessage(errs, "LocalDS_0") {
		t.Errorf("migrate to h1: errors %q, want LocalDS_0 unreachable", errs)
	}
}
