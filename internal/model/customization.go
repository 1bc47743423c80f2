package model

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/vim25/types"
)

// customizationSpecs stores the guest customization specifications vcsim's
// model has (vcsim-linux, vcsim-linux-static, vcsim-windows-static,
// vcsim-windows-domain), which govc's tests customize VMs with.
func (b *builder) customizationSpecs(ctx context.Context) error {
	for _, it := range vcsimCustomizationSpecs() {
		if err := b.svc.AddCustomizationSpec(ctx, it); err != nil {
			return fmt.Errorf("model: customization specification %s: %w", it.Info.Name, err)
		}
	}
	return nil
}

func vcsimCustomizationSpecs() []types.CustomizationSpecItem {
	dns := types.CustomizationGlobalIPSettings{DnsServerList: []string{"127.0.1.1"}}
	staticNIC := func() []types.CustomizationAdapterMapping {
		return []types.CustomizationAdapterMapping{{Adapter: types.CustomizationIPSettings{
			Ip: &types.CustomizationUnknownIpGenerator{}, SubnetMask: "255.255.255.0", Gateway: []string{"10.0.0.1"},
		}}}
	}
	linux := func(name string, host types.BaseCustomizationName, tz string, nics []types.CustomizationAdapterMapping) types.CustomizationSpecItem {
		return types.CustomizationSpecItem{
			Info: types.CustomizationSpecInfo{Name: name, Type: "Linux"},
			Spec: types.CustomizationSpec{
				Options:          &types.CustomizationLinuxOptions{},
				Identity:         &types.CustomizationLinuxPrep{HostName: host, Domain: "eng.vmware.com", TimeZone: tz, HwClockUTC: types.NewBool(true)},
				GlobalIPSettings: dns,
				NicSettingMap:    nics,
			},
		}
	}
	windows := func(name string, id types.CustomizationIdentification, tz int32, pw *types.CustomizationPassword) types.CustomizationSpecItem {
		return types.CustomizationSpecItem{
			Info: types.CustomizationSpecInfo{Name: name, Type: "Windows"},
			Spec: types.CustomizationSpec{
				Options: &types.CustomizationWinOptions{ChangeSID: true},
				Identity: &types.CustomizationSysprep{
					GuiUnattended:        types.CustomizationGuiUnattended{Password: pw, TimeZone: tz, AutoLogonCount: 1},
					UserData:             types.CustomizationUserData{FullName: "vcsim", OrgName: "VMware", ComputerName: &types.CustomizationVirtualMachineName{}},
					Identification:       id,
					LicenseFilePrintData: &types.CustomizationLicenseFilePrintData{AutoMode: types.CustomizationLicenseDataModePerServer, AutoUsers: 5},
				},
				NicSettingMap: staticNIC(),
			},
		}
	}
	dhcp := []types.CustomizationAdapterMapping{{Adapter: types.CustomizationIPSettings{Ip: &types.CustomizationDhcpIpGenerator{}}}}
	return []types.CustomizationSpecItem{
		linux("vcsim-linux", &types.CustomizationVirtualMachineName{}, "Pacific/Apia", dhcp),
		linux("vcsim-linux-static", &types.CustomizationPrefixName{Base: "vcsim"}, "Africa/Cairo", staticNIC()),
		windows("vcsim-windows-static", types.CustomizationIdentification{JoinWorkgroup: "WORKGROUP"}, 2, nil),
		windows("vcsim-windows-domain", types.CustomizationIdentification{
			JoinDomain: "DOMAIN", DomainAdmin: "vcsim", DomainAdminPassword: &types.CustomizationPassword{Value: "vcsim", PlainText: true},
		}, 15, &types.CustomizationPassword{Value: "vcsim", PlainText: true}),
	}
}
