package vim

import (
	"reflect"
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

func TestChangedPaths(t *testing.T) {
	base := func() types.VirtualMachineSummary {
		return types.VirtualMachineSummary{
			Runtime: types.VirtualMachineRuntimeInfo{PowerState: types.VirtualMachinePowerStatePoweredOff},
			Config:  types.VirtualMachineConfigSummary{Name: "a", MemorySizeMB: 1},
			Guest:   &types.VirtualMachineGuestSummary{IpAddress: "10.0.0.1"},
		}
	}
	type change struct {
		path string
		val  any
	}
	tests := []struct {
		name string
		edit func(s *types.VirtualMachineSummary)
		want []change
	}{
		{"none", func(s *types.VirtualMachineSummary) {}, nil},
		{"nested scalar", func(s *types.VirtualMachineSummary) { s.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOn },
			[]change{{"summary.runtime.powerState", types.VirtualMachinePowerStatePoweredOn}}},
		{"two fields", func(s *types.VirtualMachineSummary) { s.Config.Name = "b"; s.Config.MemorySizeMB = 2 },
			[]change{{"summary.config.name", "b"}, {"summary.config.memorySizeMB", int32(2)}}},
		{"through pointer", func(s *types.VirtualMachineSummary) {
			s.Guest = &types.VirtualMachineGuestSummary{IpAddress: "10.0.0.2"}
		},
			[]change{{"summary.guest.ipAddress", "10.0.0.2"}}},
		{"pointer unset", func(s *types.VirtualMachineSummary) { s.Guest = nil }, []change{{"summary.guest", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, cur := base(), base()
			tt.edit(&cur)
			var got []change
			ChangedPaths("summary", old, cur, func(p string, v any) { got = append(got, change{p, v}) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("changes = %#v, want %#v", got, tt.want)
			}
		})
	}
	var got []string
	ChangedPaths("name", "a", "b", func(p string, v any) { got = append(got, p) })
	ChangedPaths("x", nil, int32(1), func(p string, v any) { got = append(got, p) })
	if !reflect.DeepEqual(got, []string{"name", "x"}) {
		t.Fatalf("whole-value changes = %v", got)
	}
}
