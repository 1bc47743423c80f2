package api

import (
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/vim"
)

// Defaults of a new VM, as vCenter 8.0 fills them in.
const (
	defaultHWVersion = "vmx-21"
	maxHWVersion     = 21
	defaultGuestID   = "otherGuest"
	defaultNumCPU    = 1
	defaultMemoryMB  = 32
	// toolsVersionRunning is the tools version a running simulated guest
	// reports (12.3.0, encoded as vCenter does: major<<10 | minor<<5 | patch).
	toolsVersionRunning = 12<<10 | 3<<5
	// Limits of hardware version 21.
	maxNumCPU   = 768
	maxMemoryMB = 24 << 20
)

// guestFullNames maps guest OS identifiers to the names vCenter shows.
var guestFullNames = map[string]string{
	"otherGuest":                 "Other (32-bit)",
	"otherGuest64":               "Other (64-bit)",
	"otherLinuxGuest":            "Other Linux (32-bit)",
	"otherLinux64Guest":          "Other Linux (64-bit)",
	"other3xLinuxGuest":          "Other 3.x Linux (32-bit)",
	"other3xLinux64Guest":        "Other 3.x Linux (64-bit)",
	"other4xLinuxGuest":          "Other 4.x Linux (32-bit)",
	"other4xLinux64Guest":        "Other 4.x Linux (64-bit)",
	"other5xLinuxGuest":          "Other 5.x Linux (32-bit)",
	"other5xLinux64Guest":        "Other 5.x Linux (64-bit)",
	"other6xLinuxGuest":          "Other 6.x Linux (32-bit)",
	"other6xLinux64Guest":        "Other 6.x Linux (64-bit)",
	"ubuntuGuest":                "Ubuntu Linux (32-bit)",
	"ubuntu64Guest":              "Ubuntu Linux (64-bit)",
	"debian10_64Guest":           "Debian GNU/Linux 10 (64-bit)",
	"debian11_64Guest":           "Debian GNU/Linux 11 (64-bit)",
	"debian12_64Guest":           "Debian GNU/Linux 12 (64-bit)",
	"centos7_64Guest":            "CentOS 7 (64-bit)",
	"centos8_64Guest":            "CentOS 8 (64-bit)",
	"centos9_64Guest":            "CentOS 9 (64-bit)",
	"rhel7_64Guest":              "Red Hat Enterprise Linux 7 (64-bit)",
	"rhel8_64Guest":              "Red Hat Enterprise Linux 8 (64-bit)",
	"rhel9_64Guest":              "Red Hat Enterprise Linux 9 (64-bit)",
	"rockylinux_64Guest":         "Rocky Linux (64-bit)",
	"almalinux_64Guest":          "AlmaLinux (64-bit)",
	"sles15_64Guest":             "SUSE Linux Enterprise 15 (64-bit)",
	"photonGuest":                "VMware Photon OS (64-bit)",
	"vmwarePhoton64Guest":        "VMware Photon OS (64-bit)",
	"coreos64Guest":              "CoreOS Linux (64-bit)",
	"amazonlinux2_64Guest":       "Amazon Linux 2 (64-bit)",
	"amazonlinux3_64Guest":       "Amazon Linux 3 (64-bit)",
	"freebsd13_64Guest":          "FreeBSD 13 (64-bit)",
	"freebsd14_64Guest":          "FreeBSD 14 (64-bit)",
	"windows9Guest":              "Microsoft Windows 10 (32-bit)",
	"windows9_64Guest":           "Microsoft Windows 10 (64-bit)",
	"windows11_64Guest":          "Microsoft Windows 11 (64-bit)",
	"windows9Server64Guest":      "Microsoft Windows Server 2016 or later (64-bit)",
	"windows2019srv_64Guest":     "Microsoft Windows Server 2019 (64-bit)",
	"windows2019srvNext_64Guest": "Microsoft Windows Server 2022 (64-bit)",
	"windows2022srvNext_64Guest": "Microsoft Windows Server 2025 (64-bit)",
	"windows8Server64Guest":      "Microsoft Windows Server 2012 (64-bit)",
	"windows7Server64Guest":      "Microsoft Windows Server 2008 R2 (64-bit)",
	"darwin23_64Guest":           "Apple macOS 14 (64-bit)",
	"solaris11_64Guest":          "Oracle Solaris 11 (64-bit)",
	"dosGuest":                   "MS-DOS",
}

// guestFullName returns vCenter's display name of a guest OS identifier.
func guestFullName(id string) string {
	if n, ok := guestFullNames[id]; ok {
		return n
	}
	return id
}

// guestFamily returns the guest family (types.VirtualMachineGuestOsFamily)
// of a guest OS identifier.
func guestFamily(id string) string {
	l := strings.ToLower(id)
	switch {
	case strings.HasPrefix(l, "win"):
		return string(types.VirtualMachineGuestOsFamilyWindowsGuest)
	case strings.HasPrefix(l, "darwin"):
		return string(types.VirtualMachineGuestOsFamilyDarwinGuestFamily)
	case strings.HasPrefix(l, "solaris"):
		return string(types.VirtualMachineGuestOsFamilySolarisGuest)
	case strings.HasPrefix(l, "netware"):
		return string(types.VirtualMachineGuestOsFamilyNetwareGuest)
	case strings.HasPrefix(l, "other") && !strings.Contains(l, "linux"), l == "dosguest", strings.HasPrefix(l, "freebsd"):
		return string(types.VirtualMachineGuestOsFamilyOtherGuestFamily)
	}
	return string(types.VirtualMachineGuestOsFamilyLinuxGuest)
}

// defaultDevices returns the devices every new VM has (IDE 200/201, PS2
// 300, PCI 100, SIO 400, keyboard 600, pointing device 700, video card 500,
// VMCI 12000), as vCenter creates them.
func defaultDevices() []types.BaseVirtualDevice {
	return vim.DeepCopy(esx.VirtualDevice)
}

// defaultConfig returns the configuration of a new VM before its spec is
// applied.
func defaultConfig(now time.Time) *types.VirtualMachineConfigInfo {
	f := types.NewBool(false)
	t := types.NewBool(true)
	return &types.VirtualMachineConfigInfo{
		ChangeVersion: changeVersion(now),
		Modified:      now,
		CreateDate:    &now,
		Version:       defaultHWVersion,
		GuestId:       defaultGuestID,
		GuestFullName: guestFullName(defaultGuestID),
		Tools: &types.ToolsConfigInfo{
			AfterPowerOn: t, AfterResume: t, BeforeGuestStandby: t, BeforeGuestShutdown: t, BeforeGuestReboot: t,
			ToolsUpgradePolicy:      string(types.UpgradePolicyManual),
			SyncTimeWithHostAllowed: t, SyncTimeWithHost: f,
			LastInstallInfo: &types.ToolsConfigInfoToolsLastInstallInfo{Counter: 0},
		},
		Flags: types.VirtualMachineFlagInfo{
			DisableAcceleration: f, EnableLogging: t, UseToe: f, RunWithDebugInfo: f,
			MonitorType: "release", HtSharing: "any", SnapshotDisabled: f, SnapshotLocked: f, DiskUuidEnabled: f,
			VirtualMmuUsage: "automatic", VirtualExecUsage: "hvAuto", SnapshotPowerOffBehavior: "powerOff",
			RecordReplayEnabled: f, FaultToleranceType: "unset", CbrcCacheEnabled: f, VvtdEnabled: f, VbsEnabled: f,
		},
		DefaultPowerOps: types.VirtualMachineDefaultPowerOpInfo{
			PowerOffType: "soft", SuspendType: "hard", ResetType: "soft",
			DefaultPowerOffType: "soft", DefaultSuspendType: "hard", DefaultResetType: "soft",
			StandbyAction: "checkpoint",
		},
		RebootPowerOff: f,
		Hardware: types.VirtualHardware{
			NumCPU: defaultNumCPU, NumCoresPerSocket: 1, AutoCoresPerSocket: t, MemoryMB: defaultMemoryMB,
			VirtualICH7MPresent: f, VirtualSMCPresent: f, MotherboardLayout: "i440bxHostBridge", SimultaneousThreads: 1,
		},
		CpuAllocation:                cpuAllocation(defaultNumCPU),
		MemoryAllocation:             memoryAllocation(defaultMemoryMB),
		LatencySensitivity:           &types.LatencySensitivity{Level: types.LatencySensitivitySensitivityLevelNormal},
		MemoryHotAddEnabled:          f,
		CpuHotAddEnabled:             f,
		CpuHotRemoveEnabled:          f,
		SwapPlacement:                string(types.VirtualMachineConfigInfoSwapPlacementTypeInherit),
		BootOptions:                  defaultBootOptions(),
		VAssertsEnabled:              f,
		ChangeTrackingEnabled:        f,
		Firmware:                     string(types.GuestOsDescriptorFirmwareTypeBios),
		MaxMksConnections:            40,
		GuestAutoLockEnabled:         f,
		MemoryReservationLockedToMax: f,
		InitialOverhead:              &types.VirtualMachineConfigInfoOverheadInfo{InitialMemoryReservation: 128 << 20, InitialSwapReservation: 64 << 20},
		NestedHVEnabled:              f,
		VPMCEnabled:                  f,
		ScheduledHardwareUpgradeInfo: &types.ScheduledHardwareUpgradeInfo{
			UpgradePolicy: "never", ScheduledHardwareUpgradeStatus: "none",
		},
		MessageBusTunnelEnabled:      f,
		GuestIntegrityInfo:           &types.VirtualMachineGuestIntegrityInfo{Enabled: f},
		MigrateEncryption:            string(types.VirtualMachineConfigSpecEncryptedVMotionModesOpportunistic),
		SgxInfo:                      &types.VirtualMachineSgxInfo{EpcSize: 0, FlcMode: "unlocked", RequireAttestation: f},
		FtEncryptionMode:             string(types.VirtualMachineConfigSpecEncryptedFtModesFtEncryptionOpportunistic),
		SevEnabled:                   f,
		NumaInfo:                     &types.VirtualMachineVirtualNumaInfo{AutoCoresPerNumaNode: t, VnumaOnCpuHotaddExposed: f},
		PmemFailoverEnabled:          f,
		VmxStatsCollectionEnabled:    t,
		VmOpNotificationToAppEnabled: f,
		VmOpNotificationTimeout:      -1,
		DeviceSwap: &types.VirtualMachineVirtualDeviceSwap{
			LsiToPvscsi: &types.VirtualMachineVirtualDeviceSwapDeviceSwapInfo{Enabled: t, Applicable: f, Status: "none"},
		},
		FixedPassthruHotPlugEnabled: f,
		MetroFtEnabled:              f,
	}
}

// defaultBootOptions returns a new VM's boot options.
func defaultBootOptions() *types.VirtualMachineBootOptions {
	return &types.VirtualMachineBootOptions{
		BootDelay:            0,
		EnterBIOSSetup:       types.NewBool(false),
		EfiSecureBootEnabled: types.NewBool(false),
		BootRetryEnabled:     types.NewBool(false),
		BootRetryDelay:       10000,
		NetworkBootProtocol:  "ipv4",
	}
}

// cpuAllocation is vCenter's default CPU allocation for numCPU CPUs.
func cpuAllocation(numCPU int32) *types.ResourceAllocationInfo {
	return &types.ResourceAllocationInfo{
		Reservation:           types.NewInt64(0),
		ExpandableReservation: types.NewBool(false),
		Limit:                 types.NewInt64(-1),
		Shares:                &types.SharesInfo{Shares: 1000 * numCPU, Level: types.SharesLevelNormal},
	}
}

// memoryAllocation is vCenter's default memory allocation for memoryMB MB.
func memoryAllocation(memoryMB int32) *types.ResourceAllocationInfo {
	return &types.ResourceAllocationInfo{
		Reservation:           types.NewInt64(0),
		ExpandableReservation: types.NewBool(false),
		Limit:                 types.NewInt64(-1),
		Shares:                &types.SharesInfo{Shares: 10 * memoryMB, Level: types.SharesLevelNormal},
	}
}

// defaultExtraConfig is the extraConfig vCenter writes for a new VM named
// base (the vmx file's base name).
func defaultExtraConfig(base string) []types.BaseOptionValue {
	kv := [][2]string{
		{"nvram", base + ".nvram"},
		{"svga.present", "TRUE"},
		{"pciBridge0.present", "TRUE"},
		{"pciBridge4.present", "TRUE"},
		{"pciBridge4.virtualDev", "pcieRootPort"},
		{"pciBridge4.functions", "8"},
		{"pciBridge5.present", "TRUE"},
		{"pciBridge5.virtualDev", "pcieRootPort"},
		{"pciBridge5.functions", "8"},
		{"hpet0.present", "TRUE"},
		{"sched.cpu.latencySensitivity", "normal"},
		{"vmware.tools.internalversion", "0"},
		{"vmware.tools.requiredversion", "12384"},
		{"migrate.hostLogState", "none"},
		{"migrate.migrationId", "0"},
	}
	out := make([]types.BaseOptionValue, len(kv))
	for i, p := range kv {
		out[i] = &types.OptionValue{Key: p[0], Value: p[1]}
	}
	return out
}

// defaultCapability is what vCenter reports a VM on a current host can do.
func defaultCapability() types.VirtualMachineCapability {
	t, f := types.NewBool(true), types.NewBool(false)
	return types.VirtualMachineCapability{
		SnapshotOperationsSupported: true, MultipleSnapshotsSupported: true, SnapshotConfigSupported: true,
		PoweredOffSnapshotsSupported: true, MemorySnapshotsSupported: true, RevertToSnapshotSupported: true,
		QuiescedSnapshotsSupported: true, DisableSnapshotsSupported: false, LockSnapshotsSupported: false,
		ConsolePreferencesSupported: false, CpuFeatureMaskSupported: true, S1AcpiManagementSupported: true,
		SettingScreenResolutionSupported: false, ToolsAutoUpdateSupported: false, VmNpivWwnSupported: true,
		NpivWwnOnNonRdmVmSupported: true, VmNpivWwnDisableSupported: t, VmNpivWwnUpdateSupported: t,
		SwapPlacementSupported: true, ToolsSyncTimeSupported: true, VirtualMmuUsageSupported: true,
		DiskSharesSupported: true, BootOptionsSupported: true, BootRetryOptionsSupported: t,
		SettingVideoRamSizeSupported: true, SettingDisplayTopologySupported: t, RecordReplaySupported: f,
		ChangeTrackingSupported: t, MultipleCoresPerSocketSupported: t, HostBasedReplicationSupported: t,
		GuestAutoLockSupported: t, MemoryReservationLockSupported: t, FeatureRequirementSupported: t,
		PoweredOnMonitorTypeChangeSupported: t, SeSparseDiskSupported: t, NestedHVSupported: t,
		VPMCSupported: t, SecureBootSupported: t, PerVmEvcSupported: t, VirtualMmuUsageIgnored: t,
		VirtualExecUsageIgnored: t, DiskOnlySnapshotOnSuspendedVMSupported: t, SuspendToMemorySupported: t,
		ToolsSyncTimeAllowSupported: t, SevSupported: f, PmemFailoverSupported: t, RequireSgxAttestationSupported: f,
		ChangeModeDisksSupported: t, VendorDeviceGroupSupported: t,
	}
}
