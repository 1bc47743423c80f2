package api_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vireo-project/vireo/internal/testserver"
)

// govcBinary returns the govc binary to drive the server with, skipping
// the test when there is none.
func govcBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("govc"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	if p := filepath.Join(home, "go", "bin", "govc"); fileExists(p) {
		return p
	}
	t.Skip("govc not installed")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestGovcVMCommands drives the VM commands of govc against the server.
func TestGovcVMCommands(t *testing.T) {
	bin := govcBinary(t)
	f := newVMFx(t)
	u, err := url.Parse(f.srv.URL())
	f.must(err)
	u.User = url.UserPassword(testserver.AdminUser, testserver.AdminPassword)
	// The caller's own GOVC_* settings (credentials above all) must not leak in.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOVC_") && !strings.HasPrefix(kv, "GOVMOMI_") {
			env = append(env, kv)
		}
	}
	env = append(env, "GOVC_URL="+u.String(), "GOVC_INSECURE=1", "GOVC_DATACENTER=DC0",
		"GOVC_DATASTORE=LocalDS_0", "GOVC_RESOURCE_POOL=/DC0/host/C0/Resources", "GOVC_HOST=/DC0/host/C0/h0",
		"GOVC_NETWORK=VM Network")
	govc := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("govc %s: err %v, want success %v\n%s", strings.Join(args, " "), err, wantOK, out)
		}
		return string(out)
	}
	contains := func(out, want string) {
		t.Helper()
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	govc(true, "vm.create", "-disk", "1G", "-net", "VM Network", "-on", "g1")
	var info struct {
		VirtualMachines []struct {
			Runtime struct{ PowerState string } `json:"runtime"`
			Summary struct {
				Config struct {
					NumVirtualDisks  int `json:"numVirtualDisks"`
					NumEthernetCards int `json:"numEthernetCards"`
				} `json:"config"`
			} `json:"summary"`
			Config struct{ SwapPlacement string } `json:"config"`
		} `json:"virtualMachines"`
	}
	f.must(json.Unmarshal([]byte(govc(true, "vm.info", "-json", "g1")), &info))
	if len(info.VirtualMachines) != 1 {
		t.Fatalf("vm.info -json: %+v", info)
	}
	v := info.VirtualMachines[0]
	if v.Runtime.PowerState != "poweredOn" || v.Summary.Config.NumVirtualDisks != 1 || v.Summary.Config.NumEthernetCards != 1 || v.Config.SwapPlacement != "inherit" {
		t.Errorf("vm.info -json: %+v", v)
	}

	for _, step := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-off"}, true}, {[]string{"-off"}, false}, {[]string{"-on"}, true}, {[]string{"-reset"}, true},
		{[]string{"-suspend"}, true}, {[]string{"-suspend"}, false}, {[]string{"-on"}, true}, {[]string{"-r"}, false}, {[]string{"-r", "-force"}, true},
		{[]string{"-s"}, true},
	} {
		govc(step.ok, append(append([]string{"vm.power"}, step.args...), "g1")...)
	}
	contains(govc(true, "vm.info", "g1"), "poweredOff")

	govc(true, "vm.change", "-vm", "g1", "-c", "2", "-m", "1024", "-e", "guestinfo.k=v")
	out := govc(true, "vm.info", "-e", "g1")
	contains(out, "CPU:          2 vCPU(s)")
	contains(out, "Memory:       1024MB")
	contains(out, "guestinfo.k")

	govc(true, "vm.network.add", "-vm", "g1", "-net", "VM Network", "-net.adapter", "vmxnet3")
	govc(true, "vm.disk.create", "-vm", "g1", "-name", "g1/data", "-size", "10M")
	contains(govc(true, "device.cdrom.add", "-vm", "g1"), "cdrom-3000")
	out = govc(true, "device.ls", "-vm", "g1")
	for _, want := range []string{"lsilogic-1000", "disk-1000-0", "disk-1000-1", "ethernet-0", "ethernet-1", "cdrom-3000"} {
		contains(out, want)
	}
	out = govc(true, "device.info", "-vm", "g1", "ethernet-1")
	contains(out, "MAC Address:      00:50:56:")
	contains(out, "Address type:     assigned")
	govc(true, "device.remove", "-vm", "g1", "ethernet-1", "disk-1000-1")
	if out := govc(true, "device.ls", "-vm", "g1"); strings.Contains(out, "ethernet-1") || strings.Contains(out, "disk-1000-1") {
		t.Errorf("device.remove left devices:\n%s", out)
	}

	govc(true, "object.rename", "/DC0/vm/g1", "g2")
	govc(true, "vm.markastemplate", "g2")
	govc(false, "vm.power", "-on", "g2")
	govc(true, "vm.markasvm", "-pool", "/DC0/host/C0/Resources", "g2")
	govc(true, "vm.create", "-on=false", "g3")
	govc(true, "vm.unregister", "g3")
	govc(true, "vm.destroy", "g2")
	if out := govc(true, "find", "/DC0/vm", "-type", "m"); strings.TrimSpace(out) != "" {
		t.Errorf("VMs left: %s", out)
	}
}
