package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// The tests in this file drive the shared demo server with the govc binary,
// covering the commands govc users reach for first. Each top-level test
// works on objects of its own, so they run in parallel.

// TestGovcAbout checks `govc about`, plain and -json.
func TestGovcAbout(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	out := s.govc(t, "about")
	for _, re := range []string{
		`(?m)^API type:\s+VirtualCenter$`,
		`(?m)^API version:\s+8\.0\.3\.0$`,
		`(?m)^Version:\s+\d+\.\d+\.\d+$`,
		`(?m)^Build:\s+\d+$`,
		`(?m)^UUID:\s+[0-9a-f-]{36}$`,
	} {
		mustMatch(t, "govc about", out, re)
	}
	var about struct {
		About struct {
			APIType    string `json:"apiType"`
			APIVersion string `json:"apiVersion"`
			Version    string `json:"version"`
		} `json:"about"`
	}
	decodeJSON(t, s.govc(t, "about", "-json"), &about)
	if about.About.APIType != "VirtualCenter" || about.About.APIVersion != "8.0.3.0" {
		t.Errorf("about -json = %+v, want a VirtualCenter speaking 8.0.3.0", about.About)
	}
}

// TestGovcBrowse checks the read-only inventory commands on the demo
// inventory: ls, find, tree, object.collect, host.info, datastore.info and
// the network folder.
func TestGovcBrowse(t *testing.T) {
	t.Parallel()
	s := demoServer(t)

	t.Run("ls", func(t *testing.T) {
		t.Parallel()
		out := s.govc(t, "ls", "-l", "/**")
		for _, want := range []string{"/Datacenter/vm", "/Datacenter/host", "/Datacenter/datastore", "/Datacenter/network"} {
			mustContainLine(t, "ls -l /**", out, want+"/")
		}
		out = s.govc(t, "ls", "-l", "/Datacenter/**")
		for _, want := range []string{
			"/Datacenter/host/Cluster (ClusterComputeResource)",
			"/Datacenter/datastore/shared-ds (Datastore)",
			"/Datacenter/datastore/esx-01-local (Datastore)",
			"/Datacenter/network/VM Network (Network)",
		} {
			mustContainLine(t, "ls -l /Datacenter/**", out, want)
		}
		mustMatch(t, "ls -l /Datacenter/**", out, `(?m)^/Datacenter/vm/\S.* \(VirtualMachine\)$`)
		out = s.govc(t, "ls", "-l", demoCluster)
		mustContainLine(t, "ls -l "+demoCluster, out, demoCluster+"/"+demoHost+" (HostSystem)")
		mustContainLine(t, "ls -l "+demoCluster, out, demoPool+" (ResourcePool)")
		out = s.govc(t, "ls", "-i", "/Datacenter/host/Cluster")
		mustMatch(t, "ls -i", out, `(?m)^HostSystem:host-\d+$`)
		mustMatch(t, "ls -i", out, `(?m)^ResourcePool:resgroup-\d+$`)
	})

	t.Run("find", func(t *testing.T) {
		t.Parallel()
		hosts := lines(s.govc(t, "find", "/Datacenter", "-type", "h"))
		if len(hosts) != demoHostCount {
			t.Errorf("find -type h = %q, want %d hosts", hosts, demoHostCount)
		}
		for _, h := range hosts {
			mustMatch(t, "find -type h", h, `^/Datacenter/host/Cluster/esx-0\d\.vireo\.local$`)
		}
		if vms := lines(s.govc(t, "find", "/Datacenter", "-type", "m")); len(vms) == 0 {
			t.Error("find -type m found no VMs in the demo inventory")
		}
		out := s.govc(t, "find", "/Datacenter", "-type", "s")
		mustContainLine(t, "find -type s", out, "/Datacenter/datastore/shared-ds")
		out = s.govc(t, "find", "/Datacenter", "-type", "c")
		mustContainLine(t, "find -type c", out, demoCluster)
		out = s.govc(t, "find", "/Datacenter", "-name", "esx-01*")
		mustContainLine(t, "find -name", out, demoCluster+"/"+demoHost)
		mustContainLine(t, "find -name", out, "/Datacenter/datastore/esx-01-local")
		out = s.govc(t, "find", "-l", "/Datacenter/network")
		mustMatch(t, "find -l", out, `(?m)^Network\s+/Datacenter/network/VM Network$`)
	})

	t.Run("tree", func(t *testing.T) {
		t.Parallel()
		out := s.govc(t, "tree", "/Datacenter")
		for _, want := range []string{"Cluster", demoHost, "Resources", demoSharedDS, demoLocalDS, demoNetwork} {
			mustMatch(t, "tree", out, `(?m)── `+regexp.QuoteMeta(want)+`$`)
		}
	})

	t.Run("object.collect", func(t *testing.T) {
		t.Parallel()
		if got := strings.TrimSpace(s.govc(t, "object.collect", "-s", demoCluster, "name")); got != "Cluster" {
			t.Errorf("object.collect -s name = %q, want Cluster", got)
		}
		if got := strings.TrimSpace(s.govc(t, "object.collect", "-s", "-", "content.about.apiVersion")); got != "8.0.3.0" {
			t.Errorf("object.collect -s - content.about.apiVersion = %q", got)
		}
		out := s.govc(t, "object.collect", demoCluster, "name", "host")
		mustMatch(t, "object.collect", out, `(?m)^name\s+string\s+Cluster$`)
		mustMatch(t, "object.collect", out, `(?m)^host\s+\[\]types\.ManagedObjectReference\s+`)
		var props []struct {
			Name string          `json:"name"`
			Op   string          `json:"op"`
			Val  json.RawMessage `json:"val"`
		}
		decodeJSON(t, s.govc(t, "object.collect", "-json", demoCluster, "name", "host", "summary.numHosts"), &props)
		got := map[string]json.RawMessage{}
		for _, p := range props {
			got[p.Name] = p.Val
		}
		var hosts refArray
		if err := json.Unmarshal(got["host"], &hosts); err != nil || len(hosts.Value) != demoHostCount {
			t.Errorf("object.collect -json host = %s (%v), want %d HostSystem refs", got["host"], err, demoHostCount)
		}
		for _, h := range hosts.Value {
			if h.Type != "HostSystem" || !strings.HasPrefix(h.Value, "host-") {
				t.Errorf("cluster host ref %+v, want HostSystem:host-N", h)
			}
		}
		if string(got["summary.numHosts"]) != "3" {
			t.Errorf("object.collect -json summary.numHosts = %s, want 3", got["summary.numHosts"])
		}
		if string(got["name"]) != `"Cluster"` {
			t.Errorf("object.collect -json name = %s", got["name"])
		}
		vm := firstDemoVM(t, s)
		state := strings.TrimSpace(s.govc(t, "object.collect", "-s", vm, "summary.runtime.powerState"))
		if state != "poweredOn" && state != "poweredOff" && state != "suspended" {
			t.Errorf("summary.runtime.powerState of %s = %q", vm, state)
		}
	})

	t.Run("host.info", func(t *testing.T) {
		t.Parallel()
		path := demoCluster + "/" + demoHost
		out := s.govc(t, "host.info", "-host", path)
		mustMatch(t, "host.info", out, `(?m)^Name:\s+`+regexp.QuoteMeta(demoHost)+`$`)
		mustMatch(t, "host.info", out, `(?m)^\s+Path:\s+`+regexp.QuoteMeta(path)+`$`)
		mustMatch(t, "host.info", out, `(?m)^\s+Logical CPUs:\s+[1-9]\d* CPUs @ [1-9]\d*MHz$`)
		mustMatch(t, "host.info", out, `(?m)^\s+Memory:\s+[1-9]\d*MB$`)
		mustMatch(t, "host.info", out, `(?m)^\s+State:\s+connected$`)
		var info struct {
			HostSystems []struct {
				Name    string `json:"name"`
				Summary struct {
					Hardware struct {
						NumCPUCores int   `json:"numCpuCores"`
						MemorySize  int64 `json:"memorySize"`
					} `json:"hardware"`
					Runtime struct {
						ConnectionState string `json:"connectionState"`
						PowerState      string `json:"powerState"`
					} `json:"runtime"`
				} `json:"summary"`
				Datastore []struct{ Type, Value string } `json:"datastore"`
			} `json:"hostSystems"`
		}
		decodeJSON(t, s.govc(t, "host.info", "-json", "-host", path), &info)
		if len(info.HostSystems) != 1 {
			t.Fatalf("host.info -json: %d hosts", len(info.HostSystems))
		}
		h := info.HostSystems[0]
		if h.Summary.Hardware.NumCPUCores <= 0 || h.Summary.Hardware.MemorySize <= 0 ||
			h.Summary.Runtime.ConnectionState != "connected" || h.Summary.Runtime.PowerState != "poweredOn" {
			t.Errorf("host.info -json summary = %+v", h.Summary)
		}
		if len(h.Datastore) != 2 {
			t.Errorf("host %s mounts %d datastores, want 2 (its local one and shared-ds)", h.Name, len(h.Datastore))
		}
	})

	t.Run("datastore.info", func(t *testing.T) {
		t.Parallel()
		out := s.govc(t, "datastore.info", demoSharedDS)
		mustMatch(t, "datastore.info", out, `(?m)^Name:\s+shared-ds$`)
		mustMatch(t, "datastore.info", out, `(?m)^\s+Path:\s+/Datacenter/datastore/shared-ds$`)
		mustMatch(t, "datastore.info", out, `(?m)^\s+Capacity:\s+[0-9.]+ [KMGT]B$`)
		var info struct {
			Datastores []struct {
				Summary struct {
					Capacity   int64 `json:"capacity"`
					FreeSpace  int64 `json:"freeSpace"`
					Accessible bool  `json:"accessible"`
					Type       string
				} `json:"summary"`
				Host []struct {
					Key struct{ Type, Value string } `json:"key"`
				} `json:"host"`
			} `json:"datastores"`
		}
		decodeJSON(t, s.govc(t, "datastore.info", "-json", demoSharedDS), &info)
		if len(info.Datastores) != 1 {
			t.Fatalf("datastore.info -json: %d datastores", len(info.Datastores))
		}
		ds := info.Datastores[0]
		if ds.Summary.Capacity <= 0 || ds.Summary.FreeSpace <= 0 || ds.Summary.FreeSpace > ds.Summary.Capacity || !ds.Summary.Accessible {
			t.Errorf("shared-ds summary = %+v, want an accessible datastore with 0 < freeSpace <= capacity", ds.Summary)
		}
		if len(ds.Host) != demoHostCount {
			t.Errorf("shared-ds is mounted on %d hosts, want %d", len(ds.Host), demoHostCount)
		}
	})

	t.Run("network", func(t *testing.T) {
		t.Parallel()
		mustContainLine(t, "ls network", s.govc(t, "ls", "/Datacenter/network"), "/Datacenter/network/VM Network")
		mustContainLine(t, "ls -l network", s.govc(t, "ls", "-l", "/Datacenter/network"), "/Datacenter/network/VM Network (Network)")
		var props []struct {
			Name string          `json:"name"`
			Val  json.RawMessage `json:"val"`
		}
		decodeJSON(t, s.govc(t, "object.collect", "-json", "/Datacenter/network/VM Network", "host"), &props)
		var hosts refArray
		if len(props) != 1 || json.Unmarshal(props[0].Val, &hosts) != nil || len(hosts.Value) != demoHostCount {
			t.Errorf("VM Network host = %s, want the %d demo hosts", s.govc(t, "object.collect", "-json", "/Datacenter/network/VM Network", "host"), demoHostCount)
		}
	})
}

// TestGovcInventory creates, changes, moves and destroys a datacenter,
// folders and clusters.
func TestGovcInventory(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	const dc = "e2e-dc"
	s.govc(t, "datacenter.create", dc)
	mustContainLine(t, "ls /", s.govc(t, "ls", "/"), "/"+dc)
	if errOut := s.govcFail(t, "datacenter.create", dc); !strings.Contains(errOut, "already exists") {
		t.Errorf("second datacenter.create %s: %q, want a DuplicateName fault", dc, errOut)
	}
	for _, f := range []string{"vm", "host", "datastore", "network"} {
		mustContainLine(t, "ls /"+dc, s.govc(t, "ls", "/"+dc), "/"+dc+"/"+f)
	}

	s.govc(t, "folder.create", "/"+dc+"/vm/f1", "/"+dc+"/vm/f2", "/"+dc+"/host/hf")
	mustContainLine(t, "ls -l vm", s.govc(t, "ls", "-l", "/"+dc+"/vm"), "/"+dc+"/vm/f1/")

	s.govc(t, "cluster.create", "-dc", dc, "c1")
	s.govc(t, "cluster.create", "-dc", dc, "-folder", "/"+dc+"/host/hf", "c2")
	mustContainLine(t, "ls -l hf", s.govc(t, "ls", "-l", "/"+dc+"/host/hf"), "/"+dc+"/host/hf/c2 (ClusterComputeResource)")
	s.govcFail(t, "cluster.create", "-dc", dc, "-folder", "/"+dc+"/vm", "bad") // the fault type is checked in TestBadInput

	cluster := "/" + dc + "/host/c1"
	s.govc(t, "cluster.change", "-dc", dc, "-drs-enabled", "-drs-mode", "fullyAutomated", "-ha-enabled", cluster)
	var props []struct {
		Name string `json:"name"`
		Val  struct {
			DrsConfig struct {
				Enabled           bool   `json:"enabled"`
				DefaultVMBehavior string `json:"defaultVmBehavior"`
			} `json:"drsConfig"`
			DasConfig struct {
				Enabled bool `json:"enabled"`
			} `json:"dasConfig"`
		} `json:"val"`
	}
	decodeJSON(t, s.govc(t, "object.collect", "-json", cluster, "configurationEx"), &props)
	if len(props) != 1 || !props[0].Val.DrsConfig.Enabled || props[0].Val.DrsConfig.DefaultVMBehavior != "fullyAutomated" || !props[0].Val.DasConfig.Enabled {
		t.Errorf("configurationEx after cluster.change = %+v, want DRS fullyAutomated and HA enabled", props)
	}
	s.govc(t, "cluster.change", "-dc", dc, "-drs-enabled=false", cluster)
	if got := strings.TrimSpace(s.govc(t, "object.collect", "-s", cluster, "configurationEx.drsConfig.enabled")); got != "false" {
		t.Errorf("drsConfig.enabled after -drs-enabled=false = %q", got)
	}

	s.govc(t, "object.rename", "/"+dc+"/vm/f1", "f1-renamed")
	s.govc(t, "object.mv", "/"+dc+"/vm/f1-renamed", "/"+dc+"/vm/f2")
	out := s.govc(t, "ls", "/"+dc+"/vm/f2")
	mustContainLine(t, "ls f2", out, "/"+dc+"/vm/f2/f1-renamed")
	s.govc(t, "object.mv", cluster, "/"+dc+"/host/hf")
	mustContainLine(t, "ls hf", s.govc(t, "ls", "/"+dc+"/host/hf"), "/"+dc+"/host/hf/c1")

	s.govc(t, "object.destroy", "/"+dc+"/vm/f2")
	if out := s.govc(t, "ls", "/"+dc+"/vm"); strings.TrimSpace(out) != "" {
		t.Errorf("ls vm after destroying f2 = %q, want empty", out)
	}
	s.govc(t, "object.destroy", "/"+dc)
	for _, l := range lines(s.govc(t, "ls", "/")) {
		if l == "/"+dc {
			t.Errorf("%s still listed after object.destroy", dc)
		}
	}
}

// TestGovcPool covers pool.create, pool.info, pool.change and pool.destroy.
func TestGovcPool(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	pool := demoPool + "/e2e-pool"
	s.govc(t, "pool.create", pool)
	out := s.govc(t, "pool.info", pool)
	mustMatch(t, "pool.info", out, `(?m)^Name:\s+e2e-pool$`)
	mustMatch(t, "pool.info", out, `(?m)^\s+Path:\s+`+regexp.QuoteMeta(pool)+`$`)
	mustMatch(t, "pool.info", out, `(?m)^\s+CPU Shares:\s+normal$`)
	mustMatch(t, "pool.info", out, `(?m)^\s+CPU Limit:\s+-1MHz$`)
	if errOut := s.govcFail(t, "pool.create", pool); !strings.Contains(errOut, "already exists") {
		t.Errorf("second pool.create: %q, want DuplicateName", errOut)
	}

	s.govc(t, "pool.change", "-cpu.limit", "1000", "-cpu.shares", "high", "-mem.reservation", "100", "-mem.expandable=false", pool)
	out = s.govc(t, "pool.info", pool)
	mustMatch(t, "pool.info", out, `(?m)^\s+CPU Limit:\s+1000MHz$`)
	mustMatch(t, "pool.info", out, `(?m)^\s+CPU Shares:\s+high$`)
	mustMatch(t, "pool.info", out, `(?m)^\s+Mem Reservation:\s+100MB \(expandable=false\)$`)

	child := pool + "/child"
	s.govc(t, "pool.create", child)
	mustContainLine(t, "find pools", s.govc(t, "find", demoPool, "-type", "p"), child)
	s.govc(t, "pool.destroy", pool)
	for _, l := range lines(s.govc(t, "find", demoPool, "-type", "p")) {
		if strings.HasPrefix(l, pool) {
			t.Errorf("pool %s still listed after pool.destroy", l)
		}
	}
}

// TestGovcVM takes a VM through its life with govc: create with a disk and a
// NIC, info, power operations, reconfiguration, devices, rename, move and
// destroy.
func TestGovcVM(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	const name = "e2e-vm"
	host := demoCluster + "/" + demoHost
	s.govc(t, "vm.create", "-on=false", "-host", host, "-ds", demoSharedDS, "-disk", "1G", "-net", demoNetwork,
		"-c", "1", "-m", "512", "-g", "otherGuest64", name)
	vmPath := "/Datacenter/vm/" + name

	t.Log("vm.info -json")
	vm := vmInfo(t, s, name)
	if vm.Name != name || vm.Config.Hardware.NumCPU != 1 || vm.Config.Hardware.MemoryMB != 512 {
		t.Errorf("vm.info: name %q, %d CPU, %d MB; want %s, 1 CPU, 512 MB", vm.Name, vm.Config.Hardware.NumCPU, vm.Config.Hardware.MemoryMB, name)
	}
	if vm.Runtime.PowerState != "poweredOff" {
		t.Errorf("new VM powerState = %q, want poweredOff", vm.Runtime.PowerState)
	}
	if vm.Config.SwapPlacement != "inherit" {
		t.Errorf("config.swapPlacement = %q, want vCenter's default inherit", vm.Config.SwapPlacement)
	}
	if vm.Config.GuestID != "otherGuest64" {
		t.Errorf("config.guestId = %q", vm.Config.GuestID)
	}
	if !vm.hasDisk(1 << 20) {
		t.Errorf("VM has no 1 GiB disk: %s", vm.Config.Hardware.Device)
	}
	if len(vm.Network) != 1 {
		t.Errorf("VM network = %v, want VM Network", vm.Network)
	}
	if vm.Runtime.Host.Value == "" || !strings.HasPrefix(vm.Self.Value, "vm-") {
		t.Errorf("runtime.host = %+v, self = %+v", vm.Runtime.Host, vm.Self)
	}

	t.Log("device.ls")
	devs := deviceList(t, s, name)
	if devs.byType("VirtualDisk") == "" || devs.byType("VirtualE1000") == "" {
		t.Errorf("device.ls lacks the disk or the e1000 NIC:\n%s", devs)
	}

	t.Log("vm.power")
	for _, step := range []struct{ flag, want string }{
		{"-on", "poweredOn"},
		{"-reset", "poweredOn"},
		{"-suspend", "suspended"},
		{"-on", "poweredOn"},
		{"-off", "poweredOff"},
	} {
		s.govc(t, "vm.power", step.flag, name)
		if got := strings.TrimSpace(s.govc(t, "object.collect", "-s", vmPath, "runtime.powerState")); got != step.want {
			t.Errorf("after vm.power %s: powerState %q, want %q", step.flag, got, step.want)
		}
	}
	// The fault's type is checked in TestBadInput; govc prints its message.
	if errOut := s.govcFail(t, "vm.power", "-off", name); !strings.Contains(errOut, "current state") {
		t.Errorf("vm.power -off of a powered-off VM: %q, want vCenter's InvalidPowerState message", errOut)
	}

	t.Log("vm.change")
	s.govc(t, "vm.change", "-vm", name, "-c", "2", "-m", "1024")
	vm = vmInfo(t, s, name)
	if vm.Config.Hardware.NumCPU != 2 || vm.Config.Hardware.MemoryMB != 1024 {
		t.Errorf("after vm.change -c 2 -m 1024: %d CPU, %d MB", vm.Config.Hardware.NumCPU, vm.Config.Hardware.MemoryMB)
	}

	t.Log("vm.network.add and device.remove")
	s.govc(t, "vm.network.add", "-vm", name, "-net", demoNetwork, "-net.adapter", "vmxnet3")
	devs = deviceList(t, s, name)
	nic := devs.byType("VirtualVmxnet3")
	if nic == "" {
		t.Fatalf("device.ls after vm.network.add lacks a VirtualVmxnet3:\n%s", devs)
	}
	s.govc(t, "device.remove", "-vm", name, nic)
	devs = deviceList(t, s, name)
	if devs.byType("VirtualVmxnet3") != "" || devs.byType("VirtualE1000") == "" {
		t.Errorf("after device.remove %s:\n%s", nic, devs)
	}

	t.Log("object.rename, object.mv")
	s.govc(t, "object.rename", vmPath, name+"-renamed")
	mustContainLine(t, "ls vm", s.govc(t, "ls", "/Datacenter/vm"), vmPath+"-renamed")
	s.govc(t, "folder.create", "/Datacenter/vm/e2e-vm-folder")
	s.govc(t, "object.mv", vmPath+"-renamed", "/Datacenter/vm/e2e-vm-folder")
	moved := "/Datacenter/vm/e2e-vm-folder/" + name + "-renamed"
	mustContainLine(t, "ls folder", s.govc(t, "ls", "/Datacenter/vm/e2e-vm-folder"), moved)

	t.Log("vm.destroy, object.destroy")
	s.govc(t, "vm.power", "-on", moved)
	s.govc(t, "vm.destroy", moved)
	if out := s.govc(t, "ls", "/Datacenter/vm/e2e-vm-folder"); strings.TrimSpace(out) != "" {
		t.Errorf("folder after vm.destroy lists %q", out)
	}
	s.govc(t, "object.destroy", "/Datacenter/vm/e2e-vm-folder")
	for _, l := range lines(s.govc(t, "ls", "/Datacenter/vm")) {
		if strings.HasPrefix(l, "/Datacenter/vm/e2e-vm") {
			t.Errorf("%s still listed after destroy", l)
		}
	}
}

// TestGovcWatch checks that `govc object.collect -n 1`, which waits with
// WaitForUpdatesEx, sees a power change made by another client.
func TestGovcWatch(t *testing.T) {
	t.Parallel()
	s := demoServer(t)
	const name = "e2e-watch-vm"
	s.govc(t, "vm.create", "-on=false", "-host", demoCluster+"/"+demoHost, "-ds", demoSharedDS, name)
	t.Cleanup(func() { _, _, _ = s.govcRun("vm.destroy", name) })

	ctx, cancel := context.WithTimeout(context.Background(), govcTimeout)
	defer cancel()
	watch := s.govcCmd(ctx, "object.collect", "-n", "1", "/Datacenter/vm/"+name, "runtime.powerState")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	watch.Stderr = &stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var got []string
	// The first line is the initial value; once it is printed the watcher
	// holds a filter version, so the change below cannot be missed.
	if !sc.Scan() {
		_ = watch.Wait()
		t.Fatalf("watcher printed nothing: %s", stderr.String())
	}
	got = append(got, sc.Text())
	s.govc(t, "vm.power", "-on", name)
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if err := watch.Wait(); err != nil {
		t.Fatalf("watcher: %v: %s (printed %q)", err, stderr.String(), got)
	}
	if len(got) != 2 || !strings.HasSuffix(got[0], "poweredOff") || !strings.HasSuffix(got[1], "poweredOn") {
		t.Errorf("watcher printed %q, want the poweredOff initial value then poweredOn", got)
	}
	s.govc(t, "vm.power", "-off", name)
}

// refArray is how `govc object.collect -json` prints an array of
// references: {"_value": [{"type": ..., "value": ...}, ...]}.
type refArray struct {
	Value []struct{ Type, Value string } `json:"_value"`
}

// vmJSON is the part of `govc vm.info -json` the tests read.
type vmJSON struct {
	Self    struct{ Type, Value string }   `json:"self"`
	Name    string                         `json:"name"`
	Network []struct{ Type, Value string } `json:"network"`
	Config  struct {
		GuestID       string `json:"guestId"`
		SwapPlacement string `json:"swapPlacement"`
		Hardware      struct {
			NumCPU   int             `json:"numCPU"`
			MemoryMB int             `json:"memoryMB"`
			Device   json.RawMessage `json:"device"`
		} `json:"hardware"`
	} `json:"config"`
	Runtime struct {
		PowerState string                       `json:"powerState"`
		Host       struct{ Type, Value string } `json:"host"`
	} `json:"runtime"`
}

// hasDisk reports whether the VM has a disk of capacityKB.
func (vm *vmJSON) hasDisk(capacityKB int64) bool {
	var devs []struct {
		CapacityInKB int64 `json:"capacityInKB"`
	}
	_ = json.Unmarshal(vm.Config.Hardware.Device, &devs)
	for _, d := range devs {
		if d.CapacityInKB == capacityKB {
			return true
		}
	}
	return false
}

func vmInfo(t *testing.T, s *server, name string) *vmJSON {
	t.Helper()
	var info struct {
		VirtualMachines []vmJSON `json:"virtualMachines"`
	}
	decodeJSON(t, s.govc(t, "vm.info", "-json", name), &info)
	if len(info.VirtualMachines) != 1 {
		t.Fatalf("vm.info -json %s: %d VMs", name, len(info.VirtualMachines))
	}
	return &info.VirtualMachines[0]
}

// devices is `govc device.ls` output: name, type, summary per line.
type devices [][]string

func (d devices) byType(typ string) string {
	for _, f := range d {
		if len(f) > 1 && f[1] == typ {
			return f[0]
		}
	}
	return ""
}

func (d devices) String() string {
	var b strings.Builder
	for _, f := range d {
		b.WriteString(strings.Join(f, " ") + "\n")
	}
	return b.String()
}

func deviceList(t *testing.T, s *server, vm string) devices {
	t.Helper()
	var d devices
	for _, l := range lines(s.govc(t, "device.ls", "-vm", vm)) {
		d = append(d, strings.Fields(l))
	}
	return d
}

// firstDemoVM returns the inventory path of a VM of the demo inventory.
func firstDemoVM(t *testing.T, s *server) string {
	t.Helper()
	for _, l := range lines(s.govc(t, "find", "/Datacenter/vm", "-type", "m")) {
		if !strings.Contains(l, "e2e-") {
			return l
		}
	}
	t.Fatal("the demo inventory has no VM")
	return ""
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func mustContainLine(t *testing.T, what, out, want string) {
	t.Helper()
	for _, l := range lines(out) {
		if l == want {
			return
		}
	}
	t.Errorf("%s: no line %q in:\n%s", what, want, out)
}

func mustMatch(t *testing.T, what, out, re string) {
	t.Helper()
	if !regexp.MustCompile(re).MatchString(out) {
		t.Errorf("%s: no match for %s in:\n%s", what, re, out)
	}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, s)
	}
}
