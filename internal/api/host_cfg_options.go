package api

import (
	"fmt"

	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// A host's advanced settings (configManager.advancedOption) are served by a
// hostOptionManager: the ESXi settings captured in govmomi's esx package.
// QueryOptions and UpdateOptions on it are dispatched here from the
// OptionManager handlers (option_manager.go). Unlike vCenter's settings, a
// host accepts no new keys.

// hostOptionDefs describes the captured host settings, typed by their
// captured values.
func hostOptionDefs() []types.OptionDef {
	var defs []types.OptionDef
	for _, o := range esx.AdvancedOptions {
		v := o.GetOptionValue()
		var t types.BaseOptionType
		switch x := v.Value.(type) {
		case int32:
			t = &types.IntOption{Min: -1 << 31, Max: 1<<31 - 1, DefaultValue: x}
		case int64:
			t = &types.LongOption{Min: -1 << 63, Max: 1<<63 - 1, DefaultValue: x}
		case bool:
			t = &types.BoolOption{Supported: true, DefaultValue: x}
		default:
			t = &types.StringOption{DefaultValue: fmt.Sprint(x)}
		}
		defs = append(defs, types.OptionDef{ElementDescription: types.ElementDescription{
			Key: v.Key, Description: types.Description{Label: v.Key, Summary: v.Key}}, OptionType: t})
	}
	return defs
}

// queryHostOptions returns the host setting named req.Name, every setting
// under a name ending in '.', or all settings for an empty name.
func queryHostOptions(om *hostOptionManager, req *types.QueryOptions) (any, error) {
	out := selectOptions(om.Setting, req.Name)
	if len(out) == 0 {
		return nil, vim.NewFault(&types.InvalidName{Name: req.Name},
			"The host has no setting %q; name a setting, or a prefix ending in '.' to list a group.", req.Name)
	}
	return &types.QueryOptionsResponse{Returnval: out}, nil
}

// updateHostOptions changes existing host settings, each to a value of its
// type, all at once or none.
func (s *Service) updateHostOptions(ctx *soap.Context, req *types.UpdateOptions) (any, error) {
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if _, err := hostOfManager(ctx, tx); err != nil {
			return err
		}
		om, ok := tx.Edit(ctx.This).(*hostOptionManager)
		if !ok {
			return vim.ManagedObjectNotFound(ctx.This)
		}
		for _, change := range req.ChangedValue {
			if err := setHostOption(om, change.GetOptionValue()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.UpdateOptionsResponse{}, nil
}

func setHostOption(om *hostOptionManager, v *types.OptionValue) error {
	for _, d := range om.SupportedOption {
		if d.Key == v.Key {
			if err := checkOptionValue(v.Key, d.OptionType, v.Value); err != nil {
				return err
			}
		}
	}
	for i, o := range om.Setting {
		if o.GetOptionValue().Key == v.Key {
			om.Setting[i] = &types.OptionValue{Key: v.Key, Value: v.Value}
			return nil
		}
	}
	return vim.NewFault(&types.InvalidName{Name: v.Key},
		"The host has no setting %q; list them with QueryOptions.", v.Key)
}
