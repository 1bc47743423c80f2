// Package driver defines the seam between Vireo and the hypervisor backends
// that run VMs on a host: the Driver interface, the specs and states that
// cross it, and its sentinel errors. Backends live in sub-packages (sim, and
// later qemu); drivertest holds the conformance suite every backend passes.
//
// The server owns configuration (what a VM is); a driver owns runtime facts
// (whether it runs). Power state changes happen in the driver and are reported
// back; the server never fakes them.
package driver

import (
	"context"
	"errors"
	"time"
)

// Errors returned by drivers.
var (
	// ErrVMNotFound is returned for a VM id the driver does not know.
	ErrVMNotFound = errors.New("driver: vm not found")
	// ErrVMExists is returned by Create for an id already defined.
	ErrVMExists = errors.New("driver: vm already exists")
	// ErrInvalidPowerState is returned for a transition the VM's power state
	// does not allow; wrap it in *PowerStateError to say which.
	ErrInvalidPowerState = errors.New("driver: invalid power state")
	// ErrNoTools is returned for guest operations when no guest agent runs.
	ErrNoTools = errors.New("driver: guest tools not running")
	// ErrDatastoreNotFound is returned for a path on an unknown datastore.
	ErrDatastoreNotFound = errors.New("driver: datastore not found")
	// ErrInvalidSpec is returned for a VMSpec the backend cannot run (an
	// unknown workload profile, say); the error says what to change.
	ErrInvalidSpec = errors.New("driver: invalid VM spec")
)

// PowerState is a VM's power state, with vim25's values.
type PowerState string

// Power states.
const (
	PoweredOff PowerState = "poweredOff"
	PoweredOn  PowerState = "poweredOn"
	Suspended  PowerState = "suspended"
)

// PowerStateError says which state refused a transition. It unwraps to
// ErrInvalidPowerState.
type PowerStateError struct {
	Current   PowerState
	Requested PowerState
}

func (e *PowerStateError) Error() string {
	return "driver: cannot go from " + string(e.Current) + " to " + string(e.Requested)
}

// Unwrap returns ErrInvalidPowerState.
func (e *PowerStateError) Unwrap() error { return ErrInvalidPowerState }

// Disk is one virtual disk of a VM.
type Disk struct {
	// Path is the datastore path, "[ds] vm/vm.vmdk".
	Path string
	// CapacityBytes is the disk's size.
	CapacityBytes int64
	// Thin says whether the file is sparse.
	Thin bool
}

// NIC is one virtual network adapter.
type NIC struct {
	Network string
	MAC     string
}

// VMSpec is what a driver needs to define a VM.
type VMSpec struct {
	// ID identifies the VM on the host (the VM's instance UUID).
	ID string
	// Name is the display name.
	Name string
	// Dir is the datastore path of the VM's directory, "[ds] vm".
	Dir      string
	NumCPU   int32
	MemoryMB int64
	GuestID  string
	Disks    []Disk
	NICs     []NIC
	// ISOs are the datastore paths of ISO images in the VM's CD-ROM
	// drives, in drive order.
	ISOs []string
	// Workload names a simulated workload profile (sim backend only).
	Workload string
	// Identity, when set, is the identity a guest customization gave the
	// guest (CustomizeVM_Task): the guest takes it on when it boots and
	// reports it (host name, addresses) once running.
	Identity *GuestIdentity
}

// GuestIdentity is the identity a guest customization configures.
type GuestIdentity struct {
	HostName   string
	Domain     string
	DNSServers []string
	// NICs are the settings of the VM's network adapters, in adapter order.
	NICs []GuestNIC
}

// GuestNIC is the customized setting of one network adapter.
type GuestNIC struct {
	// MAC is the adapter's MAC address.
	MAC string
	// IPAddress is a fixed IPv4 address, empty for DHCP.
	IPAddress  string
	SubnetMask string
	Gateways   []string
}

// VMState is the runtime state of a VM as the host reports it.
type VMState struct {
	ID         string
	PowerState PowerState
	// BootTime is when the VM last powered on; zero when off.
	BootTime time.Time
	// ToolsRunning says whether a guest agent answers.
	ToolsRunning bool
	HostName     string
	IPAddress    string
	// IPAddresses are all the addresses the guest reports, IPAddress first.
	IPAddresses []string
	// AppHeartbeat is when software in the guest last sent an application
	// heartbeat (vSphere's application monitoring); zero when none did.
	AppHeartbeat time.Time
	// AppStatus is the application status the guest last reported
	// ("appStatusGreen", "appStatusRed", "appStatusGray"); "" when unknown.
	AppStatus string
	// CPUUsageMHz and MemoryUsageMB are current usage figures.
	CPUUsageMHz   int32
	MemoryUsageMB int32
}

// Datastore is a datastore directory as the host sees it.
type Datastore struct {
	Name          string
	Dir           string
	Shared        bool
	CapacityBytes int64
	FreeBytes     int64
	// Accessible says whether the directory exists and could be measured;
	// CapacityBytes and FreeBytes are zero when it is not.
	Accessible bool
}

// HostInfo is the host's hardware and configuration facts.
type HostInfo struct {
	Name        string
	NumCPU      int16
	NumCores    int16
	CPUMHz      int32
	MemoryBytes int64
	CPUModel    string
	Vendor      string
	Model       string
	UUID        string
	Datastores  []Datastore
	Networks    []string
}

// Driver runs VMs on one host. Implementations are safe for concurrent use.
// Calls for different VMs may run in parallel; calls for the same VM are
// serialized by the caller.
type Driver interface {
	// Info returns the host's facts.
	Info(ctx context.Context) (HostInfo, error)
	// Create defines a VM and creates its files (disks); it does not start it.
	Create(ctx context.Context, spec VMSpec) error
	// Reconfigure updates a powered-off or running VM's definition (new
	// disks are created; removed disks are not deleted).
	Reconfigure(ctx context.Context, spec VMSpec) error
	// Destroy forgets a powered-off or suspended VM; deleteFiles also
	// removes its files.
	Destroy(ctx context.Context, id string, deleteFiles bool) error
	// DeleteFile removes the file at a datastore path ("[ds] vm/vm_1.vmdk"),
	// such as a disk a VM no longer uses, or an empty directory; a missing
	// file is not an error.
	DeleteFile(ctx context.Context, path string) error
	// PowerOn starts (or resumes) a VM. It returns once the VM runs.
	PowerOn(ctx context.Context, id string) error
	// PowerOff stops a VM hard.
	PowerOff(ctx context.Context, id string) error
	// Reset restarts a running VM hard.
	Reset(ctx context.Context, id string) error
	// Suspend saves a running VM's state and stops it.
	Suspend(ctx context.Context, id string) error
	// ShutdownGuest asks the guest to shut down; it returns once asked
	// (ErrNoTools without a guest agent).
	ShutdownGuest(ctx context.Context, id string) error
	// RebootGuest asks the guest to reboot (ErrNoTools without an agent).
	RebootGuest(ctx context.Context, id string) error
	// State returns a VM's runtime state.
	State(ctx context.Context, id string) (VMState, error)
	// List returns the state of every VM the host runs or knows.
	List(ctx context.Context) ([]VMState, error)
}
