package api

import (
	"fmt"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// A Service made with Config.ESX presents itself as a standalone ESX host
// (the host agent, as vcsim's -esx does): about.apiType is "HostAgent", the
// root folder is "ha-folder-root", and clients such as govc then treat the
// server as one host (no vCenter-only operations, a single datacenter). The
// inventory under the root is built like any other; `vireo sim -esx` builds
// vcsim's ha-datacenter with one host.

// ESXRootFolderRef is the root folder of a host agent.
var ESXRootFolderRef = ref("Folder", "ha-folder-root")

// esxAbout is the about info of an ESXi host agent.
func esxAbout(instanceUUID string) types.AboutInfo {
	return types.AboutInfo{
		Name:                  "VMware ESXi",
		FullName:              fmt.Sprintf("VMware ESXi %s build-%s (Vireo)", esxVersion, esxBuild),
		Vendor:                "VMware, Inc.",
		Version:               esxVersion,
		Build:                 esxBuild,
		LocaleVersion:         "INTL",
		LocaleBuild:           "000",
		OsType:                "vmnix-x86",
		ProductLineId:         "embeddedEsx",
		ApiType:               "HostAgent",
		ApiVersion:            "8.0.3.0",
		InstanceUuid:          instanceUUID,
		LicenseProductName:    "VMware ESX Server",
		LicenseProductVersion: "8.0",
	}
}

// esxContent turns a vCenter's ServiceContent into a host agent's.
func esxContent(c types.ServiceContent) types.ServiceContent {
	c.About = esxAbout(c.About.InstanceUuid)
	c.RootFolder = ESXRootFolderRef
	c.CustomizationSpecManager = nil // a vCenter service (customization.go)
	return c
}

// newRootFolder returns the root folder of an empty inventory: vCenter's
// "Datacenters" (group-d1), or a host agent's ha-folder-root.
func (s *Service) newRootFolder() *mo.Folder {
	f := &mo.Folder{}
	f.Self = s.content.RootFolder
	f.Name = "Datacenters"
	f.ChildType = []string{"Folder", "Datacenter"}
	if s.isESX() {
		f.Name = "ha-folder-root"
		f.ChildType = []string{"Datacenter"}
	}
	f.OverallStatus = types.ManagedEntityStatusGreen
	f.ConfigStatus = types.ManagedEntityStatusGreen
	f.EffectiveRole = []int32{-1}
	return f
}
