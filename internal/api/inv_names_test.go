package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/vim"
)

func TestEntityName(t *testing.T) {
	tests := []struct {
		name, in, want string
		invalid        bool
	}{
		{name: "plain", in: "Cluster 1", want: "Cluster 1"},
		{name: "slash escaped", in: "a/b", want: "a%2fb"},
		{name: "backslash escaped", in: `a\b`, want: "a%5cb"},
		{name: "lone percent escaped", in: "100%", want: "100%25"},
		{name: "escape sequence kept", in: "a%2Fb", want: "a%2Fb"},
		{name: "percent before non-hex", in: "%zz", want: "%25zz"},
		{name: "80 characters", in: strings.Repeat("x", 80), want: strings.Repeat("x", 80)},
		{name: "80 runes", in: strings.Repeat("é", 80), want: strings.Repeat("é", 80)},
		{name: "empty", in: "", invalid: true},
		{name: "81 characters", in: strings.Repeat("x", 81), invalid: true},
		{name: "bad utf-8", in: "a\xffb", invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := entityName(tc.in, "folder")
			if tc.invalid {
				var f *vim.Fault
				if !errors.As(err, &f) {
					t.Fatalf("entityName(%q) = %q, %v; want an InvalidName fault", tc.in, got, err)
				}
				if _, ok := f.Fault.(*types.InvalidName); !ok {
					t.Fatalf("entityName(%q) fault %T, want InvalidName", tc.in, f.Fault)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("entityName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestMergeSet(t *testing.T) {
	on, off := types.NewBool(true), types.NewBool(false)
	dst := &types.ClusterDrsConfigInfo{
		Enabled: off, DefaultVmBehavior: types.DrsBehaviorFullyAutomated, VmotionRate: 3,
		Option: []types.BaseOptionValue{&types.OptionValue{Key: "a", Value: "1"}, &types.OptionValue{Key: "b", Value: "2"}},
	}
	mergeSet(dst, &types.ClusterDrsConfigInfo{
		Enabled: on,
		Option:  []types.BaseOptionValue{&types.OptionValue{Key: "a", Value: ""}, &types.OptionValue{Key: "c", Value: "3"}},
	})
	if !*dst.Enabled || dst.DefaultVmBehavior != types.DrsBehaviorFullyAutomated || dst.VmotionRate != 3 {
		t.Fatalf("merge changed unset fields or missed set ones: %+v", dst)
	}
	var keys []string
	for _, o := range dst.Option {
		keys = append(keys, o.GetOptionValue().Key)
	}
	if strings.Join(keys, ",") != "b,c" {
		t.Fatalf("options after merge = %v, want b,c (a removed by its empty value)", keys)
	}
}
