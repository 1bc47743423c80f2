package api_test

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// guestCustomization customizes one adapter with a fixed address, or DHCP when ip
// is "".
func guestCustomization(host types.BaseCustomizationName, mac, ip string) types.CustomizationSpec {
	m := types.CustomizationAdapterMapping{MacAddress: mac, Adapter: types.CustomizationIPSettings{Ip: &types.CustomizationDhcpIpGenerator{}}}
	if ip != "" {
		m.Adapter.Ip, m.Adapter.SubnetMask = &types.CustomizationFixedIp{IpAddress: ip}, "255.255.0.0"
	}
	return types.CustomizationSpec{
		Identity:      &types.CustomizationLinuxPrep{HostName: host, Domain: "example.com"},
		NicSettingMap: []types.CustomizationAdapterMapping{m},
	}
}

func (f *vmFx) customize(vm *object.VirtualMachine, spec types.CustomizationSpec) error {
	return f.wait(vm.Customize(f.ctx, spec))
}

func TestCustomizeVM(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(provisionSpec("web", "LocalDS_0"))
	f.must(f.wait(vm.PowerOn(f.ctx)))
	spec := guestCustomization(&types.CustomizationFixedName{Name: "web01"}, "", "10.1.2.3")
	vmFault(t, f.customize(vm, spec), &types.InvalidPowerState{})
	f.must(f.wait(vm.PowerOff(f.ctx)))

	f.must(f.customize(vm, spec))
	if got := f.vm(vm); got.Config.Tools.PendingCustomization == "" {
		t.Errorf("no pending customization recorded")
	}
	vmFault(t, f.customize(vm, spec), &types.CustomizationPending{})

	f.must(f.wait(vm.PowerOn(f.ctx)))
	got := f.vm(vm)
	if got.Guest.IpAddress != "10.1.2.3" || got.Guest.HostName != "web01" || got.Summary.Guest.IpAddress != "10.1.2.3" {
		t.Errorf("guest reports %q / %q, want the customized 10.1.2.3 / web01", got.Guest.IpAddress, got.Guest.HostName)
	}
	if len(got.Guest.Net) != 1 || got.Guest.Net[0].IpConfig == nil || got.Guest.Net[0].IpConfig.IpAddress[0].PrefixLength != 16 {
		t.Errorf("guest.net = %+v, want the address with prefix 16", got.Guest.Net)
	}
	if got.Config.Tools.PendingCustomization != "" {
		t.Errorf("pending customization %q left after the power-on", got.Config.Tools.PendingCustomization)
	}
	if evs := f.vmEvents(vm.Reference(), "CustomizationStartedEvent", "CustomizationSucceeded"); len(evs) != 2 {
		t.Errorf("customization events: %v", evs)
	}

	// The identity lasts: after another power cycle the guest keeps it.
	f.must(f.wait(vm.PowerOff(f.ctx)))
	f.must(f.wait(vm.PowerOn(f.ctx)))
	if got := f.vm(vm); got.Guest.HostName != "web01" {
		t.Errorf("after a power cycle the guest is %q", got.Guest.HostName)
	}
}

func TestCustomizeVMFaults(t *testing.T) {
	f := newVMFx(t)
	vm := f.create(provisionSpec("db", "LocalDS_0"))
	noNICs := guestCustomization(&types.CustomizationVirtualMachineName{}, "", "")
	noNICs.NicSettingMap = nil
	badIP := guestCustomization(&types.CustomizationVirtualMachineName{}, "", "10.0.0.999")
	badName := guestCustomization(&types.CustomizationFixedName{Name: "no_underscores"}, "", "")
	unknownIP := guestCustomization(&types.CustomizationVirtualMachineName{}, "", "")
	unknownIP.NicSettingMap[0].Adapter.Ip = &types.CustomizationUnknownIpGenerator{}
	noIdentity := guestCustomization(nil, "", "")
	noIdentity.Identity = nil
	for _, tc := range []struct {
		name string
		spec types.CustomizationSpec
		want types.BaseMethodFault
	}{
		{"adapter count", noNICs, &types.NicSettingMismatch{}},
		{"bad address", badIP, &types.InvalidArgument{}},
		{"bad host name", badName, &types.InvalidArgument{}},
		{"address left for deployment", unknownIP, &types.InvalidArgument{}},
		{"no identity", noIdentity, &types.InvalidArgument{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vmFault(t, f.customize(vm, tc.spec), tc.want)
		})
	}
	if got := f.vm(vm); got.Config.Tools.PendingCustomization != "" {
		t.Errorf("a refused customization left %q pending", got.Config.Tools.PendingCustomization)
	}
}

func TestCustomizeVMMACAndPrefix(t *testing.T) {
	f := newVMFx(t)
	a := f.create(provisionSpec("a", "LocalDS_0"))
	b := f.create(provisionSpec("b", "LocalDS_0"))
	// A MAC address no adapter has is given to the adapter at the
	// setting's position (govc vm.customize -mac).
	const mac = "00:50:56:83:3A:5D"
	f.must(f.customize(a, guestCustomization(&types.CustomizationPrefixName{Base: "node"}, mac, "10.9.0.1")))
	nic := f.devices(a).SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	if nic.MacAddress != "00:50:56:83:3a:5d" || nic.AddressType != string(types.VirtualEthernetCardMacTypeManual) {
		t.Errorf("adapter MAC %s (%s), want the customized one, manual", nic.MacAddress, nic.AddressType)
	}
	f.must(f.customize(b, guestCustomization(&types.CustomizationPrefixName{Base: "node"}, "", "")))
	for _, vm := range []*object.VirtualMachine{a, b} {
		f.must(f.wait(vm.PowerOn(f.ctx)))
	}
	if ha, hb := f.vm(a).Guest.HostName, f.vm(b).Guest.HostName; ha != "node-1" || hb != "node-2" {
		t.Errorf("prefixed host names %q and %q, want node-1 and node-2", ha, hb)
	}
}

func TestCloneWithCustomization(t *testing.T) {
	f := newVMFx(t)
	src := f.create(provisionSpec("src", "LocalDS_0"))
	spec := guestCustomization(&types.CustomizationFixedName{Name: "clone01"}, "", "10.7.0.7")
	clone, err := f.clone(src, "c1", types.VirtualMachineCloneSpec{Customization: &spec, PowerOn: true})
	f.must(err)
	got := f.vm(clone)
	if got.Guest.HostName != "clone01" || got.Guest.IpAddress != "10.7.0.7" || got.Config.Tools.PendingCustomization != "" {
		t.Errorf("customized clone: %q %q pending %q", got.Guest.HostName, got.Guest.IpAddress, got.Config.Tools.PendingCustomization)
	}
	if s := f.vm(src); s.Guest.HostName == "clone01" {
		t.Errorf("the source took the clone's identity")
	}
}
