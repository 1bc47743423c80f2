// Package agentproto is the protocol between the Vireo server and its host
// agents (`vireo host`). It is HTTP/1.1 with JSON bodies over the agent's
// TLS listener; the server is always the client, as vCenter is of ESX.
//
// Version 1, every path under /agent/v1/:
//
//	POST login            LoginRequest -> LoginResponse. With the root
//	                      password (first add) or a token from an earlier
//	                      login (reconnect). The token authenticates every
//	                      other call as "Authorization: Bearer TOKEN".
//	POST op               Command -> Result. One driver operation. Each
//	                      command carries an operation id chosen by the
//	                      server; the agent remembers the result of the
//	                      last MaxRememberedOps commands that change
//	                      something, so a retried one returns the first
//	                      result and never applies twice (a read is simply
//	                      read again).
//	GET  stream           a stream of Message values, one JSON object per
//	                      line: a "hello" with the host's facts, then a
//	                      "heartbeat" every HeartbeatInterval with the
//	                      runtime state of every VM and the datastores'
//	                      capacity; the first message of each 20-second
//	                      period carries a performance Sample. The server
//	                      marks a host notResponding when no message
//	                      arrives for HeartbeatTimeout.
//	GET  file?path=P      the bytes of a datastore file (Range supported).
//	PUT  file?path=P      writes a datastore file from the request body.
//
// Errors are an HTTP status with an Error body whose Code maps back to the
// driver package's sentinel errors (see Encode and Decode), so the server
// turns them into vim25 faults in one place, as for in-process drivers.
package agentproto

import (
	"errors"
	"io/fs"
	"time"

	"github.com/vireo-project/vireo/internal/driver"
)

// Version is the protocol version; it is the path element after /agent/.
const Version = "v1"

// Prefix is the path prefix of every call.
const Prefix = "/agent/" + Version + "/"

// Timing of the heartbeat stream.
const (
	// HeartbeatInterval is how often an agent sends a heartbeat.
	HeartbeatInterval = 3 * time.Second
	// HeartbeatTimeout is how long the server waits for a message before it
	// declares the host not responding (vCenter waits about 60 s; the
	// issue asks for 30).
	HeartbeatTimeout = 20 * time.Second
	// MaxRememberedOps is how many operation results an agent keeps for
	// retries.
	MaxRememberedOps = 4096
)

// RootUser is the agent's administrative user, as on ESX.
const RootUser = "root"

// LoginRequest authenticates the server to an agent.
type LoginRequest struct {
	// User and Password log in with the host's root account.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	// Token logs in again with a token an earlier login returned.
	Token string `json:"token,omitempty"`
}

// LoginResponse is the answer to a login.
type LoginResponse struct {
	// Token authenticates later calls; it stays valid across agent
	// restarts until the agent's tokens are reset.
	Token string `json:"token"`
	// Version is the agent's protocol version.
	Version string `json:"version"`
	// AgentVersion is the agent's build.
	AgentVersion string          `json:"agentVersion"`
	Host         driver.HostInfo `json:"host"`
}

// Operation names of a Command.
const (
	OpInfo          = "info"
	OpCreate        = "create"
	OpReconfigure   = "reconfigure"
	OpDestroy       = "destroy"
	OpDeleteFile    = "deleteFile"
	OpPowerOn       = "powerOn"
	OpPowerOff      = "powerOff"
	OpReset         = "reset"
	OpSuspend       = "suspend"
	OpShutdownGuest = "shutdownGuest"
	OpRebootGuest   = "rebootGuest"
	OpState         = "state"
	OpList          = "list"
	OpStat          = "stat"
	OpReadDir       = "readDir"
	OpMkdir         = "mkdir"
	OpRemove        = "remove"
	OpMove          = "move"
	OpCopy          = "copy"
	OpCreateDisk    = "createDisk"
)

// Command is one operation the server asks of an agent.
type Command struct {
	// OpID identifies the operation; a command sent again with the same id
	// is answered from the first result.
	OpID string `json:"opId"`
	Op   string `json:"op"`
	// VM is the VM's id for VM operations.
	VM   string         `json:"vm,omitempty"`
	Spec *driver.VMSpec `json:"spec,omitempty"`
	// DeleteFiles asks Destroy to remove the VM's files.
	DeleteFiles bool `json:"deleteFiles,omitempty"`
	// Path and Dest are datastore paths for file operations.
	Path string `json:"path,omitempty"`
	Dest string `json:"dest,omitempty"`
	// Force replaces an existing Dest; Parents makes missing parents.
	Force   bool  `json:"force,omitempty"`
	Parents bool  `json:"parents,omitempty"`
	Size    int64 `json:"size,omitempty"`
}

// Result is an agent's answer to a Command.
type Result struct {
	Error *Error            `json:"error,omitempty"`
	Host  *driver.HostInfo  `json:"host,omitempty"`
	State *driver.VMState   `json:"state,omitempty"`
	VMs   []driver.VMState  `json:"vms,omitempty"`
	File  *driver.FileInfo  `json:"file,omitempty"`
	Files []driver.FileInfo `json:"files,omitempty"`
}

// Message types on the stream.
const (
	MessageHello     = "hello"
	MessageHeartbeat = "heartbeat"
)

// Message is one line of the stream.
type Message struct {
	Type string `json:"type"`
	// Seq numbers the messages of one stream from 1.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Host is set on hello, and on a heartbeat when the host's facts
	// (datastore capacity, networks) changed.
	Host *driver.HostInfo `json:"host,omitempty"`
	// VMs is the runtime state of every VM the host knows.
	VMs []driver.VMState `json:"vms"`
	// Sample, on the first message of each SamplePeriod, is the host's
	// performance sample for the period that just began.
	Sample *Sample `json:"sample,omitempty"`
}

// SamplePeriod is the interval of performance samples: vSphere's real-time
// statistics interval.
const SamplePeriod = 20 * time.Second

// Sample is a host's performance sample at one instant.
type Sample struct {
	// Time is the start of the sample's period.
	Time time.Time `json:"time"`
	// CPUUsageMHz and MemoryUsageMB are the host's totals over its running
	// VMs.
	CPUUsageMHz   int64 `json:"cpuUsageMHz"`
	MemoryUsageMB int64 `json:"memoryUsageMB"`
	// VMs are the running VMs' figures.
	VMs []VMSample `json:"vms,omitempty"`
}

// VMSample is one VM's figures in a Sample.
type VMSample struct {
	ID            string `json:"id"`
	CPUUsageMHz   int32  `json:"cpuUsageMHz"`
	MemoryUsageMB int32  `json:"memoryUsageMB"`
}

// NewSample sums the usage of the running VMs in vms into a sample for the
// period starting at t.
func NewSample(t time.Time, vms []driver.VMState) *Sample {
	s := &Sample{Time: t}
	for _, v := range vms {
		if v.PowerState != driver.PoweredOn {
			continue
		}
		s.CPUUsageMHz += int64(v.CPUUsageMHz)
		s.MemoryUsageMB += int64(v.MemoryUsageMB)
		s.VMs = append(s.VMs, VMSample{ID: v.ID, CPUUsageMHz: v.CPUUsageMHz, MemoryUsageMB: v.MemoryUsageMB})
	}
	return s
}

// Error codes.
const (
	CodeVMNotFound        = "vmNotFound"
	CodeVMExists          = "vmExists"
	CodeInvalidPowerState = "invalidPowerState"
	CodeNoTools           = "noTools"
	CodeDatastoreNotFound = "datastoreNotFound"
	CodeInvalidSpec       = "invalidSpec"
	CodeFileNotFound      = "fileNotFound"
	CodeFileExists        = "fileExists"
	CodeNotDirectory      = "notDirectory"
	CodeIsDirectory       = "isDirectory"
	CodeNotAuthenticated  = "notAuthenticated"
	CodeBadRequest        = "badRequest"
	CodeInternal          = "internal"
)

// Error is an operation's failure on the wire.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Current and Requested are set for invalidPowerState.
	Current   driver.PowerState `json:"current,omitempty"`
	Requested driver.PowerState `json:"requested,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the driver sentinel error the code stands for.
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeVMNotFound:
		return driver.ErrVMNotFound
	case CodeVMExists:
		return driver.ErrVMExists
	case CodeInvalidPowerState:
		return &driver.PowerStateError{Current: e.Current, Requested: e.Requested}
	case CodeNoTools:
		return driver.ErrNoTools
	case CodeDatastoreNotFound:
		return driver.ErrDatastoreNotFound
	case CodeInvalidSpec:
		return driver.ErrInvalidSpec
	case CodeFileNotFound:
		return fs.ErrNotExist
	case CodeFileExists:
		return fs.ErrExist
	case CodeNotDirectory:
		return driver.ErrNotDirectory
	case CodeIsDirectory:
		return driver.ErrIsDirectory
	case CodeNotAuthenticated:
		return ErrNotAuthenticated
	}
	return nil
}

// ErrNotAuthenticated is returned for a bad password or token.
var ErrNotAuthenticated = errors.New("agentproto: not authenticated")

// Encode turns a driver error into its wire form.
func Encode(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Code: CodeInternal, Message: err.Error()}
	var pse *driver.PowerStateError
	switch {
	case errors.As(err, &pse):
		e.Code, e.Current, e.Requested = CodeInvalidPowerState, pse.Current, pse.Requested
	case errors.Is(err, driver.ErrInvalidPowerState):
		e.Code = CodeInvalidPowerState
	case errors.Is(err, driver.ErrVMNotFound):
		e.Code = CodeVMNotFound
	case errors.Is(err, driver.ErrVMExists):
		e.Code = CodeVMExists
	case errors.Is(err, driver.ErrNoTools):
		e.Code = CodeNoTools
	case errors.Is(err, driver.ErrDatastoreNotFound):
		e.Code = CodeDatastoreNotFound
	case errors.Is(err, driver.ErrInvalidSpec):
		e.Code = CodeInvalidSpec
	case errors.Is(err, driver.ErrNotDirectory):
		e.Code = CodeNotDirectory
	case errors.Is(err, driver.ErrIsDirectory):
		e.Code = CodeIsDirectory
	case errors.Is(err, fs.ErrNotExist):
		e.Code = CodeFileNotFound
	case errors.Is(err, fs.ErrExist):
		e.Code = CodeFileExists
	case errors.Is(err, ErrNotAuthenticated):
		e.Code = CodeNotAuthenticated
	}
	return e
}

// Decode returns the error e stands for (it unwraps to the driver's
// sentinel errors), nil for nil.
func Decode(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}
