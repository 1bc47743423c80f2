package api

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/driver"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// Guest customization (CustomizeVM_Task, and CloneVM_Task's
// spec.customization) is recorded on a powered-off VM for its guest to
// apply at the next power-on, as vCenter hands a customization package to
// the guest's tools:
//
//   - config.tools.pendingCustomization names the pending package; a VM
//     with one cannot be customized again (CustomizationPending) until it
//     has been powered on;
//   - the identity the guest takes on (host name, domain, DNS, each
//     adapter's address) is kept in extraConfig under "guestinfo.vireo.",
//     the guestinfo namespace ESX passes to guests, and so in the VM's
//     configuration file; it reaches the host's driver as
//     driver.VMSpec.Identity, and the guest reports it once running;
//   - at the power-on the customization completes: CustomizationStartedEvent
//     and CustomizationSucceeded are posted and the pending package cleared.
//
// An adapter setting whose MAC address matches an adapter applies to it;
// one whose MAC address matches none gives that address to the adapter at
// the setting's position (as a manual address), which is how govc's
// vm.customize -mac expects the guest's adapter to appear (vcsim does the
// same); settings without one apply in adapter order.

// guestIdentityPrefix starts the extraConfig keys of a customized identity.
const guestIdentityPrefix = "guestinfo.vireo."

// customizeVMTask is VirtualMachine.CustomizeVM_Task.
func (s *Service) customizeVMTask(ctx *soap.Context, req *types.CustomizeVM_Task) (any, error) {
	spec := req.Spec
	ref, err := s.startVMTask(ctx, "VirtualMachine.customize", func(ctx context.Context, t *task.Task, vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.customize(ctx, vm, &spec)
	})
	if err != nil {
		return nil, err
	}
	return &types.CustomizeVM_TaskResponse{Returnval: ref}, nil
}

// checkCustomizationSpec is VirtualMachine.CheckCustomizationSpec: it
// validates spec for the VM as CustomizeVM_Task would, changing nothing.
func (s *Service) checkCustomizationSpec(ctx *soap.Context, req *types.CheckCustomizationSpec) (any, error) {
	vm, ok := s.reg.Get(ctx.This).(*mo.VirtualMachine)
	if !ok || vm.Config == nil {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	if err := s.applyCustomization(vim.DeepCopy(vm), &req.Spec); err != nil {
		return nil, err
	}
	return &types.CheckCustomizationSpecResponse{}, nil
}

// CustomizeVM records spec on the VM ref as CustomizeVM_Task does.
func (s *Service) CustomizeVM(ctx context.Context, ref types.ManagedObjectReference, spec types.CustomizationSpec) error {
	_, err := s.withVM(ctx, ref, func(vm *mo.VirtualMachine) (types.AnyType, error) {
		return nil, s.customize(ctx, vm, &spec)
	})
	return err
}

// customize records spec on vm (the caller holds its lock): the VM must be
// a powered-off VM (not a template) without a pending customization, on a
// host that is not in maintenance mode.
func (s *Service) customize(ctx context.Context, vm *mo.VirtualMachine, spec *types.CustomizationSpec) error {
	if h := inventory.Get[mo.HostSystem](s.reg, *vm.Runtime.Host); h != nil {
		if err := hostUsable(h); err != nil {
			return err
		}
	}
	switch {
	case vm.Config.Template:
		return vim.NotSupported("%s is a template; customize the virtual machines deployed from it (CloneVM_Task's spec.customization).", vm.Name)
	case vm.Runtime.PowerState != poweredOff:
		return vim.NewFault(&types.InvalidPowerState{RequestedState: poweredOff, ExistingState: vm.Runtime.PowerState},
			"The attempted operation cannot be performed in the current state (%s): power the virtual machine %s off to customize it.",
			vm.Runtime.PowerState, vm.Name)
	case vm.Config.Tools != nil && vm.Config.Tools.PendingCustomization != "":
		return vim.NewFault(&types.CustomizationPending{},
			"The virtual machine %s already has a pending customization; power it on to apply that one before customizing it again.", vm.Name)
	}
	next := vim.DeepCopy(vm)
	if err := s.applyCustomization(next, vim.DeepCopy(spec)); err != nil {
		return err
	}
	now := s.now()
	next.Config.ChangeVersion, next.Config.Modified = changeVersion(now), now
	drv, err := s.vmDriver(vm)
	if err != nil {
		return err
	}
	if err := drv.Reconfigure(ctx, vmDriverSpec(next)); err != nil {
		return driverFault(vm, err)
	}
	if err := s.reg.Update(ctx, func(tx *inventory.Txn) error { return commitVMTxn(tx, next) }); err != nil {
		s.undoReconfigure(drv, vm, nil)
		return err
	}
	s.saveVMX(ctx, vm.Self)
	return nil
}

// applyCustomization validates spec for vm, a private copy, and records it
// there: the pending package, the identity keys and the adapters' MAC
// addresses.
func (s *Service) applyCustomization(vm *mo.VirtualMachine, spec *types.CustomizationSpec) error {
	if err := s.checkPasswords(spec); err != nil {
		return err
	}
	id, err := s.customizedIdentity(vm, spec)
	if err != nil {
		return err
	}
	nics := vmNICs(vm)
	if len(spec.NicSettingMap) != len(nics) {
		return vim.NewFault(&types.NicSettingMismatch{NumberOfNicsInSpec: int32(len(spec.NicSettingMap)), NumberOfNicsInVM: int32(len(nics))},
			"The customization specification has %d network adapter settings, but %s has %d network adapters; give one setting per adapter.",
			len(spec.NicSettingMap), vm.Name, len(nics))
	}
	order, err := matchAdapters(nics, spec.NicSettingMap)
	if err != nil {
		return err
	}
	id.NICs = make([]driver.GuestNIC, len(nics))
	for i, m := range spec.NicSettingMap {
		at := order[i]
		g, err := adapterIdentity(i, &m.Adapter)
		if err != nil {
			return err
		}
		card := nics[at].GetVirtualEthernetCard()
		if m.MacAddress != "" && !sameMAC(card.MacAddress, m.MacAddress) {
			hw, _ := net.ParseMAC(m.MacAddress)
			card.MacAddress, card.AddressType = hw.String(), string(types.VirtualEthernetCardMacTypeManual)
			s.vms.useMAC(card.MacAddress, s.inventoryMACs)
		}
		g.MAC = card.MacAddress
		id.NICs[at] = g
	}
	c := vm.Config
	if c.Tools == nil {
		c.Tools = &types.ToolsConfigInfo{}
	}
	c.Tools.PendingCustomization = "vireo-imc-" + uuid.NewString()
	c.ExtraConfig = append(withoutIdentity(c.ExtraConfig), identityOptions(id)...)
	return nil
}

// checkPasswords refuses passwords encrypted with another server's key, as
// CustomizationSpecManager does (customization.go).
func (s *Service) checkPasswords(spec *types.CustomizationSpec) error {
	if spec.Identity == nil || !hasEncryptedPassword(spec.Identity) || len(spec.EncryptionKey) == 0 {
		return nil
	}
	var key []byte
	if m, ok := s.reg.Get(CustomizationSpecManagerRef).(*customizationSpecManager); ok {
		key = m.EncryptionKey
	}
	if !bytes.Equal(spec.EncryptionKey, key) {
		return vim.NewFault(&types.CannotDecryptPasswords{},
			"The passwords of the customization specification were encrypted with another server's key; encrypt them with this server's CustomizationSpecManager encryptionKey or give them as plain text.")
	}
	return nil
}

// AddCustomizationSpec stores item as CustomizationSpecManager's
// CreateCustomizationSpec does (for building a model's inventory).
func (s *Service) AddCustomizationSpec(ctx context.Context, item types.CustomizationSpecItem) error {
	sc := &soap.Context{Context: ctx, Method: "CreateCustomizationSpec", This: CustomizationSpecManagerRef}
	_, err := s.createCustomizationSpec(sc, &types.CreateCustomizationSpec{This: CustomizationSpecManagerRef, Item: item})
	return err
}

// vmNICs lists vm's network adapters in device order.
func vmNICs(vm *mo.VirtualMachine) []types.BaseVirtualEthernetCard {
	var out []types.BaseVirtualEthernetCard
	for _, d := range vm.Config.Hardware.Device {
		if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
			out = append(out, nic)
		}
	}
	return out
}

func sameMAC(a, b string) bool { return strings.EqualFold(a, b) }

// matchAdapters returns, for each adapter setting, the index of the
// adapter it applies to: the adapter with its MAC address, else (for a
// setting without a MAC address, or with one no adapter has) the first
// adapter not yet taken, in order.
func matchAdapters(nics []types.BaseVirtualEthernetCard, settings []types.CustomizationAdapterMapping) ([]int, error) {
	order := make([]int, len(settings))
	taken := make([]bool, len(nics))
	pending := []int{}
	for i, m := range settings {
		order[i] = -1
		if m.MacAddress == "" {
			pending = append(pending, i)
			continue
		}
		if hw, err := net.ParseMAC(m.MacAddress); err != nil || len(hw) != 6 {
			return nil, vim.InvalidArgument(fmt.Sprintf("spec.nicSettingMap[%d].macAddress", i),
				"%q is not a MAC address; use the form 00:50:56:00:00:01.", m.MacAddress)
		}
		for n, nic := range nics {
			if !taken[n] && sameMAC(nic.GetVirtualEthernetCard().MacAddress, m.MacAddress) {
				order[i], taken[n] = n, true
				break
			}
		}
		if order[i] < 0 {
			pending = append(pending, i)
		}
	}
	sort.Ints(pending)
	next := 0
	for _, i := range pending {
		for taken[next] {
			next++
		}
		order[i], taken[next] = next, true
	}
	return order, nil
}

// adapterIdentity validates one adapter's IP settings.
func adapterIdentity(i int, a *types.CustomizationIPSettings) (driver.GuestNIC, error) {
	prop := func(f string) string { return fmt.Sprintf("spec.nicSettingMap[%d].adapter.%s", i, f) }
	var g driver.GuestNIC
	switch ip := a.Ip.(type) {
	case *types.CustomizationFixedIp:
		if v4 := net.ParseIP(ip.IpAddress).To4(); v4 == nil {
			return g, vim.InvalidArgument(prop("ip.ipAddress"), "%q is not an IPv4 address.", ip.IpAddress)
		}
		g.IPAddress = ip.IpAddress
		if a.SubnetMask == "" {
			return g, vim.InvalidArgument(prop("subnetMask"), "A fixed IP address needs a subnet mask (such as 255.255.255.0).")
		}
	case *types.CustomizationDhcpIpGenerator:
	case *types.CustomizationUnknownIpGenerator:
		return g, vim.InvalidArgument(prop("ip"),
			"Adapter setting %d leaves the IP address to be given at deployment (CustomizationUnknownIpGenerator); give a fixed address or DHCP.", i)
	case *types.CustomizationCustomIpGenerator:
		return g, vim.NotSupported("Adapter setting %d asks an extension to generate its IP address (CustomizationCustomIpGenerator), which this server has none of; give a fixed address or DHCP.", i)
	case nil:
		return g, vim.InvalidArgument(prop("ip"), "Adapter setting %d needs an IP address generator: a fixed address or DHCP.", i)
	default:
		return g, vim.InvalidArgument(prop("ip"), "%T is not a supported IP address generator; give a fixed address or DHCP.", ip)
	}
	if a.SubnetMask != "" {
		m := net.ParseIP(a.SubnetMask).To4()
		if ones, bits := net.IPMask(m).Size(); m == nil || (ones == 0 && bits == 0) {
			return g, vim.InvalidArgument(prop("subnetMask"), "%q is not a subnet mask (such as 255.255.255.0).", a.SubnetMask)
		}
		g.SubnetMask = a.SubnetMask
	}
	for _, gw := range a.Gateway {
		if net.ParseIP(gw) == nil {
			return g, vim.InvalidArgument(prop("gateway"), "%q is not an IP address.", gw)
		}
		g.Gateways = append(g.Gateways, gw)
	}
	return g, nil
}

// customizedIdentity validates the spec's identity and returns the host
// name, domain and DNS servers it gives the guest.
func (s *Service) customizedIdentity(vm *mo.VirtualMachine, spec *types.CustomizationSpec) (*driver.GuestIdentity, error) {
	id := &driver.GuestIdentity{DNSServers: spec.GlobalIPSettings.DnsServerList}
	var gen types.BaseCustomizationName
	switch x := spec.Identity.(type) {
	case *types.CustomizationLinuxPrep:
		gen, id.Domain = x.HostName, x.Domain
	case *types.CustomizationSysprep:
		gen, id.Domain = x.UserData.ComputerName, x.Identification.JoinDomain
	case *types.CustomizationSysprepText, *types.CustomizationCloudinitPrep:
		return id, nil // the guest's own answer file or cloud-init data names it
	case nil:
		return nil, vim.InvalidArgument("spec.identity", "The customization specification needs an identity: LinuxPrep for Linux guests, Sysprep for Windows guests.")
	default:
		return nil, vim.InvalidArgument("spec.identity", "%T is not a supported customization identity; use LinuxPrep or Sysprep.", x)
	}
	name, err := s.customizedHostName(vm, gen)
	if err != nil {
		return nil, err
	}
	id.HostName = name
	return id, nil
}

var hostNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// customizedHostName resolves a name generator: a fixed name (which must
// be a valid host name), a prefix (made unique with "-N"), or the VM's
// name (made a valid host name).
func (s *Service) customizedHostName(vm *mo.VirtualMachine, gen types.BaseCustomizationName) (string, error) {
	const prop = "spec.identity.hostName"
	switch n := gen.(type) {
	case *types.CustomizationFixedName:
		if !hostNameRE.MatchString(n.Name) {
			return "", vim.InvalidArgument(prop, "%q is not a valid host name: use up to 63 letters, digits and hyphens, not starting or ending with a hyphen.", n.Name)
		}
		return n.Name, nil
	case *types.CustomizationPrefixName:
		if !hostNameRE.MatchString(n.Base) || len(n.Base) > 56 {
			return "", vim.InvalidArgument(prop, "%q is not a valid host name prefix: use up to 56 letters, digits and hyphens.", n.Base)
		}
		return s.prefixedName(n.Base), nil
	case *types.CustomizationVirtualMachineName:
		return hostNameOf(vm.Name), nil
	case *types.CustomizationUnknownName:
		return "", vim.InvalidArgument(prop, "The host name is left to be given at deployment (CustomizationUnknownName); give a fixed name, a prefix or the virtual machine's name.")
	case *types.CustomizationCustomName:
		return "", vim.NotSupported("The host name is to be generated by an extension (CustomizationCustomName), which this server has none of; give a fixed name, a prefix or the virtual machine's name.")
	case nil:
		return "", vim.InvalidArgument(prop, "The customization identity needs a host name generator.")
	}
	return "", vim.InvalidArgument(prop, "%T is not a supported name generator.", gen)
}

var notHostNameChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// hostNameOf makes a host name of a VM name: other characters than
// letters, digits and hyphens become hyphens, at most 63 characters.
func hostNameOf(name string) string {
	h := strings.Trim(notHostNameChars.ReplaceAllString(name, "-"), "-")
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	if h == "" {
		h = "vm"
	}
	return h
}

// prefixedName returns base-N with the smallest N from 1 that no VM's
// customized identity or guest uses.
func (s *Service) prefixedName(base string) string {
	used := map[string]bool{}
	s.reg.Each("VirtualMachine", func(o mo.Reference) bool {
		vm := o.(*mo.VirtualMachine)
		if vm.Guest != nil && vm.Guest.HostName != "" {
			used[strings.ToLower(vm.Guest.HostName)] = true
		}
		if id := guestIdentity(vm); id != nil && id.HostName != "" {
			used[strings.ToLower(id.HostName)] = true
		}
		return true
	})
	for n := 1; ; n++ {
		name := base + "-" + strconv.Itoa(n)
		if !used[strings.ToLower(name)] {
			return name
		}
	}
}

// identityOptions renders a customized identity as extraConfig entries.
func identityOptions(id *driver.GuestIdentity) []types.BaseOptionValue {
	var out []types.BaseOptionValue
	add := func(k, v string) {
		if v != "" {
			out = append(out, &types.OptionValue{Key: guestIdentityPrefix + k, Value: v})
		}
	}
	add("hostName", id.HostName)
	add("domain", id.Domain)
	add("dnsServers", strings.Join(id.DNSServers, ","))
	add("nics", strconv.Itoa(len(id.NICs)))
	for i, n := range id.NICs {
		p := "nic" + strconv.Itoa(i) + "."
		add(p+"macAddress", n.MAC)
		add(p+"ipAddress", n.IPAddress)
		add(p+"subnetMask", n.SubnetMask)
		add(p+"gateways", strings.Join(n.Gateways, ","))
	}
	return out
}

// withoutIdentity returns opts without the entries of a customized
// identity.
func withoutIdentity(opts []types.BaseOptionValue) []types.BaseOptionValue {
	var out []types.BaseOptionValue
	for _, o := range opts {
		if !strings.HasPrefix(o.GetOptionValue().Key, guestIdentityPrefix) {
			out = append(out, o)
		}
	}
	return out
}

// guestIdentity returns the identity a customization gave vm's guest (from
// its extraConfig), or nil.
func guestIdentity(vm *mo.VirtualMachine) *driver.GuestIdentity {
	if vm.Config == nil {
		return nil
	}
	vals := map[string]string{}
	for _, o := range vm.Config.ExtraConfig {
		ov := o.GetOptionValue()
		if k, ok := strings.CutPrefix(ov.Key, guestIdentityPrefix); ok {
			vals[k] = fmt.Sprint(ov.Value)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	list := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	id := &driver.GuestIdentity{HostName: vals["hostName"], Domain: vals["domain"], DNSServers: list(vals["dnsServers"])}
	n, _ := strconv.Atoi(vals["nics"])
	for i := 0; i < n && i < 64; i++ {
		p := "nic" + strconv.Itoa(i) + "."
		id.NICs = append(id.NICs, driver.GuestNIC{
			MAC: vals[p+"macAddress"], IPAddress: vals[p+"ipAddress"], SubnetMask: vals[p+"subnetMask"], Gateways: list(vals[p+"gateways"]),
		})
	}
	return id
}

// guestPrefixLength returns the prefix length of a guest address: from
// the subnet mask a customization gave the adapter with that address, else
// 24.
func guestPrefixLength(vm *mo.VirtualMachine, ip string) int32 {
	if id := guestIdentity(vm); id != nil {
		for _, n := range id.NICs {
			if n.IPAddress == ip && n.SubnetMask != "" {
				if m := net.ParseIP(n.SubnetMask).To4(); m != nil {
					ones, _ := net.IPMask(m).Size()
					return int32(ones)
				}
			}
		}
	}
	return 24
}

// finishCustomization completes the pending customization of the VM ref,
// which has just powered on: its guest has taken on the identity, so the
// package is cleared and CustomizationStartedEvent and
// CustomizationSucceeded are posted.
func (s *Service) finishCustomization(ctx context.Context, ev eventSpec, ref types.ManagedObjectReference) {
	vm := inventory.Get[mo.VirtualMachine](s.reg, ref)
	if vm == nil || vm.Config == nil || vm.Config.Tools == nil || vm.Config.Tools.PendingCustomization == "" {
		return
	}
	tmpl := vm.Config.Template
	s.postVMEvents(ev, &types.CustomizationStartedEvent{CustomizationEvent: types.CustomizationEvent{VmEvent: vmEvent(tmpl)}})
	err := s.updateVM(context.WithoutCancel(ctx), ref, *vm.Runtime.Host, func(v *mo.VirtualMachine) {
		v.Config.Tools.PendingCustomization = ""
	})
	if err != nil {
		s.log.Warn("clear pending customization", "vm", ref.Value, "err", err)
		return
	}
	s.postVMEvents(ev, &types.CustomizationSucceeded{CustomizationEvent: types.CustomizationEvent{VmEvent: vmEvent(tmpl)}})
}
