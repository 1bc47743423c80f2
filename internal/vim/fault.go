package vim

import (
	"fmt"

	"github.com/vmware/govmomi/vim25/types"
)

// Fault is an error carrying the vim25 method fault a client receives and the
// message that tells the client what to change. Handlers return it (possibly
// wrapped); the SOAP edge turns it into a SOAP fault.
type Fault struct {
	Fault types.BaseMethodFault
	Msg   string
}

func (f *Fault) Error() string {
	return fmt.Sprintf("%s: %s", typeName(reflectTypeOf(f.Fault)), f.Msg)
}

// Localized returns f as the LocalizedMethodFault stored in TaskInfo.error.
func (f *Fault) Localized() *types.LocalizedMethodFault {
	return &types.LocalizedMethodFault{Fault: f.Fault, LocalizedMessage: f.Msg}
}

// NewFault returns a Fault for mf with a formatted message.
func NewFault(mf types.BaseMethodFault, format string, args ...any) *Fault {
	return &Fault{Fault: mf, Msg: fmt.Sprintf(format, args...)}
}

// InvalidArgument reports a bad value for the named request property.
func InvalidArgument(prop, format string, args ...any) *Fault {
	return NewFault(&types.InvalidArgument{InvalidProperty: prop}, format, args...)
}

// ManagedObjectNotFound reports a reference to an object that does not exist.
func ManagedObjectNotFound(ref types.ManagedObjectReference) *Fault {
	return NewFault(&types.ManagedObjectNotFound{Obj: ref},
		"The object '%s:%s' has already been deleted or has not been completely created", ref.Type, ref.Value)
}

// InvalidPowerState reports an operation not allowed in the VM's power state.
func InvalidPowerState(existing types.VirtualMachinePowerState, requested types.VirtualMachinePowerState) *Fault {
	return NewFault(&types.InvalidPowerState{ExistingState: existing, RequestedState: requested},
		"The attempted operation cannot be performed in the current state (%s).", pretty(existing))
}

// DuplicateName reports a name already taken by obj in the same parent.
func DuplicateName(name string, obj types.ManagedObjectReference) *Fault {
	return NewFault(&types.DuplicateName{Name: name, Object: obj},
		"The name '%s' already exists.", name)
}

// InvalidName reports a name that is not acceptable for a new entity.
func InvalidName(name, entity string) *Fault {
	return NewFault(&types.InvalidName{Name: name, Entity: nil}, "The name '%s' is invalid for %s.", name, entity)
}

// InvalidState reports an operation not allowed in the object's current state.
func InvalidState(format string, args ...any) *Fault {
	return NewFault(&types.InvalidState{}, format, args...)
}

// NotSupported reports an operation the object does not support.
func NotSupported(format string, args ...any) *Fault {
	return NewFault(&types.NotSupported{}, format, args...)
}

// NotFound reports a named item that does not exist.
func NotFound(format string, args ...any) *Fault {
	return NewFault(&types.NotFound{}, format, args...)
}

// SystemError reports an internal failure; reason is shown to the client.
func SystemError(reason string) *Fault {
	return NewFault(&types.SystemError{Reason: reason}, "A general system error occurred: %s", reason)
}

// InvalidProperty reports a property path the object's type does not have.
func InvalidProperty(name string) *Fault {
	return NewFault(&types.InvalidProperty{Name: name}, "Invalid property: %s", name)
}

func pretty(s types.VirtualMachinePowerState) string {
	switch s {
	case types.VirtualMachinePowerStatePoweredOn:
		return "Powered on"
	case types.VirtualMachinePowerStatePoweredOff:
		return "Powered off"
	case types.VirtualMachinePowerStateSuspended:
		return "Suspended"
	}
	return string(s)
}
