package api

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// optionManager is the OptionManager of the vCenter settings (VpxSettings).
// supportedOption lists the settings Vireo knows with their types; setting
// holds their values and the config.* settings clients added. Changed values
// are stored under optionMetaPrefix+key.
type optionManager struct {
	mo.OptionManager
	svc *Service
}

// optionMetaPrefix prefixes the store keys of changed settings.
const optionMetaPrefix = "option/"

// userOptionPrefix is the namespace in which UpdateOptions may add settings
// (vCenter accepts new advanced settings only under config.).
const userOptionPrefix = "config."

func readonlyFlag() *bool { return types.NewBool(true) }

// vpxOptionDefs is the catalog of vCenter settings Vireo serves, with the
// types UpdateOptions validates against and the default values.
var vpxOptionDefs = sync.OnceValue(func() []types.OptionDef {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	def := func(key, label string, t types.BaseOptionType) types.OptionDef {
		return types.OptionDef{ElementDescription: types.ElementDescription{
			Key: key, Description: types.Description{Label: label, Summary: label}}, OptionType: t}
	}
	intOpt := func(lo, hi, v int32) *types.IntOption { return &types.IntOption{Min: lo, Max: hi, DefaultValue: v} }
	boolOpt := func(v bool) *types.BoolOption { return &types.BoolOption{Supported: true, DefaultValue: v} }
	strOpt := func(v string) *types.StringOption { return &types.StringOption{DefaultValue: v} }
	levels := &types.ChoiceOption{DefaultIndex: 3}
	for _, l := range []string{"none", "error", "warning", "info", "verbose", "trivia"} {
		levels.ChoiceInfo = append(levels.ChoiceInfo, &types.ElementDescription{Key: l, Description: types.Description{Label: l, Summary: l}})
	}
	defs := []types.OptionDef{
		def("VirtualCenter.InstanceName", "vCenter Server name", strOpt(host)),
		def("VirtualCenter.FQDN", "vCenter Server fully qualified domain name",
			&types.StringOption{OptionType: types.OptionType{ValueIsReadonly: readonlyFlag()}, DefaultValue: host}),
		def("VirtualCenter.MaxDBConnection", "Maximum number of database connections", intOpt(5, 1024, 50)),
		def("event.maxAge", "Event retention in days", intOpt(0, 3650, 30)),
		def("event.maxAgeEnabled", "Delete events older than event.maxAge", boolOpt(true)),
		def("event.batchsize", "Event batch size", intOpt(1, 100000, 2000)),
		def("event.maxCollectors", "Maximum event history collectors per session", intOpt(1, 1000, maxCollectorsPerSession)),
		def("task.maxAge", "Task retention in days", intOpt(0, 3650, 30)),
		def("task.maxAgeEnabled", "Delete tasks older than task.maxAge", boolOpt(true)),
		def("task.maxCollectors", "Maximum task history collectors per session", intOpt(1, 1000, maxCollectorsPerSession)),
		def("config.vpxd.stats.maxQueryMetrics", "Maximum number of metrics in one performance query (-1: no limit)", intOpt(-1, 1<<30, 64)),
		def("log.level", "Logging level", levels),
		def("client.timeout.normal", "Client timeout for normal operations in seconds", intOpt(1, 86400, 30)),
		def("client.timeout.long", "Client timeout for long operations in seconds", intOpt(1, 86400, 120)),
		def("mail.smtp.server", "Mail server", strOpt("")),
		def("mail.smtp.port", "Mail server port", intOpt(1, 65535, 25)),
		def("mail.sender", "Mail sender", strOpt("")),
	}
	for _, o := range vpx.Setting {
		v := o.GetOptionValue()
		if s, ok := v.Value.(string); ok && strings.HasPrefix(v.Key, "config.vpxd.sso.") {
			defs = append(defs, def(v.Key, v.Key, strOpt(s)))
		}
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Key < defs[j].Key })
	return defs
})

// optionDefault returns the default value of a setting type.
func optionDefault(t types.BaseOptionType) any {
	switch x := t.(type) {
	case *types.IntOption:
		return x.DefaultValue
	case *types.LongOption:
		return x.DefaultValue
	case *types.BoolOption:
		return x.DefaultValue
	case *types.StringOption:
		return x.DefaultValue
	case *types.FloatOption:
		return x.DefaultValue
	case *types.ChoiceOption:
		if int(x.DefaultIndex) < len(x.ChoiceInfo) {
			return x.ChoiceInfo[x.DefaultIndex].GetElementDescription().Key
		}
	}
	return ""
}

// checkOptionValue validates v for a setting of type t.
func checkOptionValue(key string, t types.BaseOptionType, v any) error {
	if ro := t.GetOptionType().ValueIsReadonly; ro != nil && *ro {
		return vim.InvalidArgument(key, "The setting %s is read-only.", key)
	}
	bad := func(want string) error {
		return vim.InvalidArgument(key, "The setting %s takes %s, not %s.", key, want, describeValue(v))
	}
	switch x := t.(type) {
	case *types.IntOption:
		n, ok := v.(int32)
		if !ok {
			return bad("an int value")
		}
		if n < x.Min || n > x.Max {
			return vim.InvalidArgument(key, "The setting %s must be between %d and %d; %d is out of range.", key, x.Min, x.Max, n)
		}
	case *types.LongOption:
		n, ok := v.(int64)
		if !ok {
			return bad("a long value")
		}
		if n < x.Min || n > x.Max {
			return vim.InvalidArgument(key, "The setting %s must be between %d and %d; %d is out of range.", key, x.Min, x.Max, n)
		}
	case *types.BoolOption:
		if _, ok := v.(bool); !ok {
			return bad("a boolean value")
		}
	case *types.FloatOption:
		if _, ok := v.(float32); !ok {
			return bad("a float value")
		}
	case *types.StringOption:
		if _, ok := v.(string); !ok {
			return bad("a string value")
		}
	case *types.ChoiceOption:
		s, ok := v.(string)
		if !ok {
			return bad("a string value")
		}
		var keys []string
		for _, c := range x.ChoiceInfo {
			keys = append(keys, c.GetElementDescription().Key)
		}
		if !containsString(keys, s) {
			return vim.InvalidArgument(key, "The setting %s must be one of %s; %q is not.", key, strings.Join(keys, ", "), s)
		}
	}
	return nil
}

func describeValue(v any) string {
	if v == nil {
		return "no value"
	}
	return fmt.Sprintf("a %T value (%v)", v, v)
}

// encodeOption returns the stored form of a setting value.
func encodeOption(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return "s:" + x, nil
	case int32:
		return "i:" + strconv.FormatInt(int64(x), 10), nil
	case int64:
		return "l:" + strconv.FormatInt(x, 10), nil
	case bool:
		return "b:" + strconv.FormatBool(x), nil
	case float32:
		return "f:" + strconv.FormatFloat(float64(x), 'g', -1, 32), nil
	}
	return "", fmt.Errorf("unsupported setting value type %T", v)
}

// decodeOption parses a value stored by encodeOption.
func decodeOption(s string) (any, error) {
	kind, text, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("malformed stored setting %q", s)
	}
	switch kind {
	case "s":
		return text, nil
	case "i":
		n, err := strconv.ParseInt(text, 10, 32)
		return int32(n), err
	case "l":
		return strconv.ParseInt(text, 10, 64)
	case "b":
		return strconv.ParseBool(text)
	case "f":
		f, err := strconv.ParseFloat(text, 32)
		return float32(f), err
	}
	return nil, fmt.Errorf("unknown stored setting kind %q", kind)
}

// loadOptions publishes the settings: catalog defaults overridden by the
// values stored by UpdateOptions.
func (s *Service) loadOptions(ctx context.Context) error {
	stored, err := s.reg.MetaPrefix(ctx, optionMetaPrefix)
	if err != nil {
		return err
	}
	values := map[string]any{}
	for _, d := range vpxOptionDefs() {
		values[d.Key] = optionDefault(d.OptionType)
	}
	for k, raw := range stored {
		v, err := decodeOption(raw)
		if err != nil {
			return fmt.Errorf("api: setting %s: %w", k, err)
		}
		values[strings.TrimPrefix(k, optionMetaPrefix)] = v
	}
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		om, ok := tx.Edit(OptionManagerRef).(*optionManager)
		if !ok {
			return fmt.Errorf("api: no OptionManager %s", OptionManagerRef.Value)
		}
		om.SupportedOption = vpxOptionDefs()
		om.Setting = settingList(values)
		return nil
	})
}

// settingList returns values as the setting property, sorted by key.
func settingList(values map[string]any) []types.BaseOptionValue {
	out := make([]types.BaseOptionValue, 0, len(values))
	for _, k := range sortedKeys(values) {
		out = append(out, &types.OptionValue{Key: k, Value: values[k]})
	}
	return out
}

// settingMap returns om's settings by key.
func settingMap(om *optionManager) map[string]any {
	m := make(map[string]any, len(om.Setting))
	for _, o := range om.Setting {
		v := o.GetOptionValue()
		m[v.Key] = v.Value
	}
	return m
}

// DefineSetting publishes a read-only setting that reflects the server's
// runtime configuration (for example the URL it serves, which vcsim reports
// as vcsim.server.url). It is not persisted: call it at every start.
func (s *Service) DefineSetting(ctx context.Context, key, label string, value string) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		om, ok := tx.Edit(OptionManagerRef).(*optionManager)
		if !ok {
			return fmt.Errorf("api: no OptionManager %s", OptionManagerRef.Value)
		}
		d := types.OptionDef{ElementDescription: types.ElementDescription{Key: key, Description: types.Description{Label: label, Summary: label}},
			OptionType: &types.StringOption{OptionType: types.OptionType{ValueIsReadonly: readonlyFlag()}, DefaultValue: value}}
		om.SupportedOption = append(removeOptionDef(om.SupportedOption, key), d)
		sort.Slice(om.SupportedOption, func(i, j int) bool { return om.SupportedOption[i].Key < om.SupportedOption[j].Key })
		values := settingMap(om)
		values[key] = value
		om.Setting = settingList(values)
		return nil
	})
}

func removeOptionDef(defs []types.OptionDef, key string) []types.OptionDef {
	out := defs[:0:0]
	for _, d := range defs {
		if d.Key != key {
			out = append(out, d)
		}
	}
	return out
}

func (s *Service) registerOptionManager(t *soap.Table) {
	soap.Register(t, "OptionManager", "QueryOptions", s.queryOptions)
	soap.Register(t, "OptionManager", "UpdateOptions", s.updateOptions)
}

// queryOptions returns the setting named req.Name, or every setting under a
// name ending in '.', or all settings for an empty name.
func (s *Service) queryOptions(ctx *soap.Context, req *types.QueryOptions) (any, error) {
	if hom, ok := s.reg.Get(ctx.This).(*hostOptionManager); ok {
		return queryHostOptions(hom, req) // host_cfg_options.go
	}
	om, ok := s.reg.Get(ctx.This).(*optionManager)
	if !ok {
		return nil, vim.NotSupported("%s is not a settings manager.", ctx.This.Value)
	}
	out := selectOptions(om.Setting, req.Name)
	if len(out) == 0 {
		return nil, vim.NewFault(&types.InvalidName{Name: req.Name},
			"There is no setting %q; name a setting, or a prefix ending in '.' to list a group.", req.Name)
	}
	return &types.QueryOptionsResponse{Returnval: out}, nil
}

// selectOptions returns the settings QueryOptions names: the one called
// name, every one under a name ending in '.', or all for an empty name.
func selectOptions(settings []types.BaseOptionValue, name string) []types.BaseOptionValue {
	var out []types.BaseOptionValue
	for _, o := range settings {
		k := o.GetOptionValue().Key
		if name == "" || k == name || strings.HasSuffix(name, ".") && strings.HasPrefix(k, name) {
			out = append(out, o)
		}
	}
	return out
}

// updateOptions validates every changed value against its setting's type
// (a new setting may be added only under config.), then stores them all in
// one transaction.
func (s *Service) updateOptions(ctx *soap.Context, req *types.UpdateOptions) (any, error) {
	if _, ok := s.reg.Get(ctx.This).(*hostOptionManager); ok {
		return s.updateHostOptions(ctx, req) // host_cfg_options.go
	}
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		cur, ok := tx.Get(ctx.This).(*optionManager)
		if !ok {
			return vim.NotSupported("%s is not a settings manager.", ctx.This.Value)
		}
		values := settingMap(cur)
		for _, change := range req.ChangedValue {
			v := change.GetOptionValue()
			if err := checkOptionChange(cur, values, v); err != nil {
				return err
			}
			raw, err := encodeOption(v.Value)
			if err != nil {
				return vim.InvalidArgument(v.Key, "The setting %s cannot hold %s.", v.Key, describeValue(v.Value))
			}
			values[v.Key] = v.Value
			tx.SetMeta(optionMetaPrefix+v.Key, raw)
		}
		om := tx.Edit(ctx.This).(*optionManager)
		om.Setting = settingList(values)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.UpdateOptionsResponse{}, nil
}

// checkOptionChange validates one changed value against om's catalog and
// the current values.
func checkOptionChange(om *optionManager, values map[string]any, v *types.OptionValue) error {
	for _, d := range om.SupportedOption {
		if d.Key == v.Key {
			return checkOptionValue(v.Key, d.OptionType, v.Value)
		}
	}
	if old, ok := values[v.Key]; ok {
		if fmt.Sprintf("%T", old) != fmt.Sprintf("%T", v.Value) {
			return vim.InvalidArgument(v.Key, "The setting %s holds %s; a new value must have the same type, not %s.",
				v.Key, describeValue(old), describeValue(v.Value))
		}
		return nil
	}
	if !strings.HasPrefix(v.Key, userOptionPrefix) || len(v.Key) == len(userOptionPrefix) {
		return vim.NewFault(&types.InvalidName{Name: v.Key},
			"There is no setting %q; new settings may be added only under %q.", v.Key, userOptionPrefix)
	}
	if v.Value == nil {
		return vim.InvalidArgument(v.Key, "The new setting %s needs a value.", v.Key)
	}
	return nil
}
