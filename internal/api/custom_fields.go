package api

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// customFieldsManager is the CustomFieldsManager. Its field definitions are
// stored under customFieldsMetaKey; the values live in each entity's value
// and customValue properties (and a VM's or host's summary.customValue).
type customFieldsManager struct {
	mo.CustomFieldsManager
	svc *Service
}

// customFieldsMetaKey is the store key of the field definitions.
const customFieldsMetaKey = "customFields/defs"

// storedFields is the stored form of the definitions.
type storedFields struct {
	NextKey int32                  `json:"nextKey"`
	Fields  []types.CustomFieldDef `json:"fields"`
}

// defaultFieldPrivileges is the privilege policy vCenter gives a field when
// the caller sets none.
func defaultFieldPrivileges() *types.PrivilegePolicyDef {
	return &types.PrivilegePolicyDef{CreatePrivilege: "System.Read", ReadPrivilege: "System.View",
		UpdatePrivilege: "System.Read", DeletePrivilege: "System.Read"}
}

// loadCustomFields publishes the stored field definitions.
func (s *Service) loadCustomFields(ctx context.Context) error {
	stored, err := s.reg.MetaPrefix(ctx, customFieldsMetaKey)
	if err != nil {
		return err
	}
	st := storedFields{NextKey: 1}
	if raw := stored[customFieldsMetaKey]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return fmt.Errorf("api: stored custom fields: %w", err)
		}
	}
	s.mgr.fieldKey = st.NextKey
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		cf, ok := tx.Edit(CustomFieldsRef).(*customFieldsManager)
		if !ok {
			return fmt.Errorf("api: no CustomFieldsManager %s", CustomFieldsRef.Value)
		}
		cf.Field = st.Fields
		return nil
	})
}

func (s *Service) registerCustomFields(t *soap.Table) {
	soap.Register(t, "CustomFieldsManager", "AddCustomFieldDef", s.addCustomFieldDef)
	soap.Register(t, "CustomFieldsManager", "RemoveCustomFieldDef", s.removeCustomFieldDef)
	soap.Register(t, "CustomFieldsManager", "RenameCustomFieldDef", s.renameCustomFieldDef)
	soap.Register(t, "CustomFieldsManager", "SetField", s.setField)
	soap.Register(t, "ExtensibleManagedObject", "setCustomValue", s.setCustomValue)
}

// fieldsTxn is a custom field change in progress.
type fieldsTxn struct {
	s  *Service
	tx *inventory.Txn
	cf *customFieldsManager
}

// editFields starts a change of the definitions within tx.
func (s *Service) editFields(tx *inventory.Txn) (*fieldsTxn, error) {
	cf, ok := tx.Edit(CustomFieldsRef).(*customFieldsManager)
	if !ok {
		return nil, fmt.Errorf("api: no CustomFieldsManager %s", CustomFieldsRef.Value)
	}
	return &fieldsTxn{s: s, tx: tx, cf: cf}, nil
}

// save sorts the definitions by name and stores them.
func (f *fieldsTxn) save() error {
	sortFieldDefs(f.cf.Field)
	raw, err := json.Marshal(storedFields{NextKey: f.s.mgr.fieldKey, Fields: f.cf.Field})
	if err != nil {
		return fmt.Errorf("api: encode custom fields: %w", err)
	}
	f.tx.SetMeta(customFieldsMetaKey, string(raw))
	return nil
}

func sortFieldDefs(defs []types.CustomFieldDef) {
	sort.SliceStable(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
}

// byKey returns the index of the definition with key, or -1.
func (f *fieldsTxn) byKey(key int32) int {
	for i, d := range f.cf.Field {
		if d.Key == key {
			return i
		}
	}
	return -1
}

// clash returns a definition that a new field name for moType would
// duplicate: same name, and same type or either of them global.
func clash(defs []types.CustomFieldDef, name, moType string, except int32) *types.CustomFieldDef {
	for i, d := range defs {
		if d.Key != except && d.Name == name && (d.ManagedObjectType == "" || moType == "" || d.ManagedObjectType == moType) {
			return &defs[i]
		}
	}
	return nil
}

// appliesTo reports whether a field of def applies to objects of type typ.
func appliesTo(def types.CustomFieldDef, typ string) bool {
	return def.ManagedObjectType == "" || inventory.IsA(typ, def.ManagedObjectType)
}

// fieldsFor returns the definitions that apply to objects of type typ,
// sorted by name.
func fieldsFor(defs []types.CustomFieldDef, typ string) []types.CustomFieldDef {
	var out []types.CustomFieldDef
	for _, d := range defs {
		if appliesTo(d, typ) {
			out = append(out, d)
		}
	}
	return out
}

// eachEntity edits every entity of type typ ("" for all): fn gets the
// transaction's copy.
func (f *fieldsTxn) eachEntity(typ string, fn func(obj mo.Reference, e *mo.ManagedEntity)) {
	var refs []types.ManagedObjectReference
	f.s.reg.Each("", func(o mo.Reference) bool {
		if _, ok := o.(mo.Entity); ok && (typ == "" || inventory.IsA(o.Reference().Type, typ)) {
			refs = append(refs, o.Reference())
		}
		return true
	})
	for _, r := range refs {
		if o := f.tx.Edit(r); o != nil {
			fn(o, o.(mo.Entity).Entity())
		}
	}
}

// refreshAvailable sets the availableField of every entity def applies to.
func (f *fieldsTxn) refreshAvailable(def types.CustomFieldDef) {
	f.eachEntity(def.ManagedObjectType, func(o mo.Reference, e *mo.ManagedEntity) {
		e.AvailableField = fieldsFor(f.cf.Field, o.Reference().Type)
	})
}

func (s *Service) addCustomFieldDef(ctx *soap.Context, req *types.AddCustomFieldDef) (any, error) {
	if req.Name == "" {
		return nil, vim.InvalidArgument("name", "A custom field needs a name.")
	}
	if req.MoType != "" && !inventory.IsA(req.MoType, "ManagedEntity") {
		return nil, vim.InvalidArgument("moType", "%q is not a managed entity type; use a type such as VirtualMachine or HostSystem, or none for all.", req.MoType)
	}
	var def types.CustomFieldDef
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		f, err := s.editFields(tx)
		if err != nil {
			return err
		}
		if clash(f.cf.Field, req.Name, req.MoType, -1) != nil {
			return vim.DuplicateName(req.Name, CustomFieldsRef)
		}
		def = types.CustomFieldDef{Key: s.mgr.fieldKey, Name: req.Name, Type: "string", ManagedObjectType: req.MoType,
			FieldDefPrivileges: req.FieldDefPolicy, FieldInstancePrivileges: req.FieldPolicy}
		if def.FieldDefPrivileges == nil {
			def.FieldDefPrivileges = defaultFieldPrivileges()
		}
		if def.FieldInstancePrivileges == nil {
			def.FieldInstancePrivileges = defaultFieldPrivileges()
		}
		s.mgr.fieldKey++
		f.cf.Field = append(f.cf.Field, def)
		if err := f.save(); err != nil {
			return err
		}
		f.refreshAvailable(def)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.postEvent(&types.CustomFieldDefAddedEvent{CustomFieldDefEvent: types.CustomFieldDefEvent{FieldKey: def.Key, Name: def.Name}},
		ctx.UserName(), 0, types.ManagedObjectReference{}, "Created new custom field definition "+def.Name)
	return &types.AddCustomFieldDefResponse{Returnval: def}, nil
}

func (s *Service) removeCustomFieldDef(ctx *soap.Context, req *types.RemoveCustomFieldDef) (any, error) {
	var def types.CustomFieldDef
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		f, err := s.editFields(tx)
		if err != nil {
			return err
		}
		i := f.byKey(req.Key)
		if i < 0 {
			return vim.InvalidArgument("key", "There is no custom field with key %d.", req.Key)
		}
		def = f.cf.Field[i]
		f.cf.Field = append(f.cf.Field[:i:i], f.cf.Field[i+1:]...)
		if err := f.save(); err != nil {
			return err
		}
		f.eachEntity(def.ManagedObjectType, func(o mo.Reference, e *mo.ManagedEntity) {
			e.AvailableField = fieldsFor(f.cf.Field, o.Reference().Type)
			setFieldValue(o, def.Key, "")
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.postEvent(&types.CustomFieldDefRemovedEvent{CustomFieldDefEvent: types.CustomFieldDefEvent{FieldKey: def.Key, Name: def.Name}},
		ctx.UserName(), 0, types.ManagedObjectReference{}, "Removed field definition "+def.Name)
	return &types.RemoveCustomFieldDefResponse{}, nil
}

func (s *Service) renameCustomFieldDef(ctx *soap.Context, req *types.RenameCustomFieldDef) (any, error) {
	if req.Name == "" {
		return nil, vim.InvalidArgument("name", "A custom field needs a name.")
	}
	var old string
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		f, err := s.editFields(tx)
		if err != nil {
			return err
		}
		i := f.byKey(req.Key)
		if i < 0 {
			return vim.InvalidArgument("key", "There is no custom field with key %d.", req.Key)
		}
		if clash(f.cf.Field, req.Name, f.cf.Field[i].ManagedObjectType, req.Key) != nil {
			return vim.DuplicateName(req.Name, CustomFieldsRef)
		}
		old = f.cf.Field[i].Name
		f.cf.Field[i].Name = req.Name
		def := f.cf.Field[i]
		if err := f.save(); err != nil {
			return err
		}
		f.refreshAvailable(def)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.postEvent(&types.CustomFieldDefRenamedEvent{CustomFieldDefEvent: types.CustomFieldDefEvent{FieldKey: req.Key, Name: old}, NewName: req.Name},
		ctx.UserName(), 0, types.ManagedObjectReference{}, "Renamed field "+old+" to "+req.Name)
	return &types.RenameCustomFieldDefResponse{}, nil
}

func (s *Service) setField(ctx *soap.Context, req *types.SetField) (any, error) {
	if err := s.setFieldValue(ctx, req.Entity, func(defs []types.CustomFieldDef) (types.CustomFieldDef, error) {
		for _, d := range defs {
			if d.Key == req.Key {
				return d, nil
			}
		}
		return types.CustomFieldDef{}, vim.InvalidArgument("key", "There is no custom field with key %d.", req.Key)
	}, req.Value); err != nil {
		return nil, err
	}
	return &types.SetFieldResponse{}, nil
}

// setCustomValue implements ExtensibleManagedObject.setCustomValue: key is
// the name of a field defined for the object's type.
func (s *Service) setCustomValue(ctx *soap.Context, req *types.SetCustomValue) (any, error) {
	if _, ok := ctx.Object.(mo.Entity); !ok {
		return nil, vim.NotSupported("Custom values can be set only on managed entities, not on %s.", ctx.This.Type)
	}
	if err := s.setFieldValue(ctx, ctx.This, func(defs []types.CustomFieldDef) (types.CustomFieldDef, error) {
		for _, d := range defs {
			if d.Name == req.Key && appliesTo(d, ctx.This.Type) {
				return d, nil
			}
		}
		return types.CustomFieldDef{}, vim.InvalidArgument("key",
			"There is no custom field named %q for %s objects; define it with AddCustomFieldDef first.", req.Key, ctx.This.Type)
	}, req.Value); err != nil {
		return nil, err
	}
	return &types.SetCustomValueResponse{}, nil
}

// setFieldValue sets the value of the field find picks on entity, and posts
// a CustomFieldValueChangedEvent. An empty value removes the value.
func (s *Service) setFieldValue(ctx *soap.Context, entity types.ManagedObjectReference,
	find func([]types.CustomFieldDef) (types.CustomFieldDef, error), value string) error {
	var (
		def  types.CustomFieldDef
		prev string
		name string
	)
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		cf, ok := tx.Get(CustomFieldsRef).(*customFieldsManager)
		if !ok {
			return fmt.Errorf("api: no CustomFieldsManager %s", CustomFieldsRef.Value)
		}
		var err error
		if def, err = find(cf.Field); err != nil {
			return err
		}
		if _, ok := tx.Get(entity).(mo.Entity); !ok {
			return vim.ManagedObjectNotFound(entity)
		}
		if !appliesTo(def, entity.Type) {
			return vim.InvalidArgument("entity", "The custom field %q is defined for %s objects, not %s.", def.Name, def.ManagedObjectType, entity.Type)
		}
		o := tx.Edit(entity)
		e := o.(mo.Entity).Entity()
		name = e.Name
		prev = fieldValue(e.CustomValue, def.Key)
		e.AvailableField = fieldsFor(cf.Field, entity.Type)
		setFieldValue(o, def.Key, value)
		return nil
	})
	if err != nil {
		return err
	}
	ev := &types.CustomFieldValueChangedEvent{
		Entity:   types.ManagedEntityEventArgument{EntityEventArgument: types.EntityEventArgument{Name: name}, Entity: entity},
		FieldKey: def.Key, Name: def.Name, Value: value, PrevState: prev,
	}
	s.postEvent(ev, ctx.UserName(), 0, entity, "Changed custom field "+def.Name+" on "+name+" to "+value)
	return nil
}

// fieldValue returns the value of field key in values, or "".
func fieldValue(values []types.BaseCustomFieldValue, key int32) string {
	for _, v := range values {
		if sv, ok := v.(*types.CustomFieldStringValue); ok && sv.Key == key {
			return sv.Value
		}
	}
	return ""
}

// setFieldValue sets field key of the entity o (a transaction's copy) to
// value, or removes it when value is empty: in value and customValue, and
// in summary.customValue of a virtual machine or host.
func setFieldValue(o mo.Reference, key int32, value string) {
	e := o.(mo.Entity).Entity()
	e.Value = withFieldValue(e.Value, key, value)
	e.CustomValue = withFieldValue(e.CustomValue, key, value)
	switch x := o.(type) {
	case *mo.VirtualMachine:
		x.Summary.CustomValue = withFieldValue(x.Summary.CustomValue, key, value)
	case *mo.HostSystem:
		x.Summary.CustomValue = withFieldValue(x.Summary.CustomValue, key, value)
	}
}

// withFieldValue returns values with field key set to value (removed when
// value is empty), keeping the other fields in order.
func withFieldValue(values []types.BaseCustomFieldValue, key int32, value string) []types.BaseCustomFieldValue {
	out := make([]types.BaseCustomFieldValue, 0, len(values)+1)
	for _, v := range values {
		if v.GetCustomFieldValue().Key != key {
			out = append(out, v)
		}
	}
	if value != "" {
		out = append(out, &types.CustomFieldStringValue{CustomFieldValue: types.CustomFieldValue{Key: key}, Value: value})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
