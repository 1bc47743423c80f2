package guest

// The wire protocol of the guest channel: newline-delimited JSON objects,
// each with a "type" field. The host end is Conn; the guest end is the agent
// (agent.go). Both sides ignore unknown fields and unknown message types so
// either can grow without breaking the other.

// PortName is the name of the virtio-serial port that carries the guest
// channel. The agent finds its device through /sys/class/virtio-ports/*/name.
const PortName = "org.vireo.guest.0"

// Message types.
const (
	msgHeartbeat = "heartbeat" // guest -> host, every second
	msgResult    = "result"    // guest -> host, answers a command by id
	msgShutdown  = "shutdown"  // host -> guest
	msgReboot    = "reboot"    // host -> guest
	msgExec      = "exec"      // host -> guest
)

// Application heartbeat states, as vSphere names them
// (types.VirtualMachineAppHeartbeatStatusType).
const (
	AppStatusGreen = "appStatusGreen"
	AppStatusGray  = "appStatusGray"
	AppStatusRed   = "appStatusRed"
)

// message is the union of every message on the channel; Type selects which
// fields are meaningful.
type message struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`

	// heartbeat
	HostName     string   `json:"hostName,omitempty"`
	IPAddresses  []string `json:"ipAddresses,omitempty"`
	AppHeartbeat int64    `json:"appHeartbeat,omitempty"` // unix seconds, 0 if none
	AppStatus    string   `json:"appStatus,omitempty"`

	// exec
	Path string   `json:"path,omitempty"`
	Args []string `json:"args,omitempty"`

	// result
	ExitCode int    `json:"exitCode,omitempty"`
	Stdout   string `json:"stdout,omitempty"`
	Stderr   string `json:"stderr,omitempty"`
	Error    string `json:"error,omitempty"`
}
