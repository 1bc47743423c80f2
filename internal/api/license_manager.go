package api

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// EvalLicenseKey is the key of the evaluation license every Vireo server
// runs under.
const EvalLicenseKey = "00000-00000-00000-00000-00000"

// licenseMetaKey is the store key of the license state.
const licenseMetaKey = "license/state"

// licenseManager is the LicenseManager. Vireo enforces no licensing: the
// evaluation license covers everything, and keys that clients add are kept
// and reported as evaluation licenses. Explicit assignments made through
// the LicenseAssignmentManager are kept in assigned.
type licenseManager struct {
	mo.LicenseManager
	svc *Service
	// assigned maps an entity id to its explicit assignment. It is part of
	// the published object, so it is replaced, never modified.
	assigned map[string]licenseAssignment
}

// licenseAssignment is an explicit license assignment.
type licenseAssignment struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
}

// storedLicenses is the stored license state.
type storedLicenses struct {
	// Licenses are the keys clients added, and every license's labels.
	Licenses []storedLicense              `json:"licenses"`
	Assigned map[string]licenseAssignment `json:"assigned,omitempty"`
}

type storedLicense struct {
	Key    string           `json:"key"`
	Labels []types.KeyValue `json:"labels,omitempty"`
}

// licenseKeyPattern is the shape of a vSphere license key.
var licenseKeyPattern = regexp.MustCompile(`^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$`)

// licenseInfo returns the information of a license with key: Vireo reports
// every license as an evaluation license of this product.
func (s *Service) licenseInfo(key string, labels []types.KeyValue) types.LicenseManagerLicenseInfo {
	about := s.content.About
	return types.LicenseManagerLicenseInfo{
		LicenseKey: key,
		EditionKey: "eval",
		Name:       "Evaluation Mode",
		Properties: []types.KeyAnyValue{
			{Key: "ProductName", Value: about.LicenseProductName},
			{Key: "ProductVersion", Value: about.LicenseProductVersion},
			{Key: "feature", Value: types.KeyValue{Key: "vimapi", Value: "vSphere API"}},
			{Key: "feature", Value: types.KeyValue{Key: "drs", Value: "vSphere DRS"}},
			{Key: "feature", Value: types.KeyValue{Key: "das", Value: "vSphere HA"}},
			{Key: "feature", Value: types.KeyValue{Key: "vmotion", Value: "vSphere vMotion"}},
			{Key: "feature", Value: types.KeyValue{Key: "dvs", Value: "vSphere Distributed Switch"}},
			{Key: "feature", Value: types.KeyValue{Key: "serialuri:2", Value: "Remote virtual Serial Port Concentrator"}},
		},
		Labels: labels,
	}
}

// undecodable is vCenter's answer to a key it cannot decode: an info with
// no key and a diagnostic.
func undecodable(key string) types.LicenseManagerLicenseInfo {
	msg := fmt.Sprintf("License key %q cannot be decoded; a license key has five groups of five letters or digits.", key)
	return types.LicenseManagerLicenseInfo{Properties: []types.KeyAnyValue{
		{Key: "lc_error", Value: int32(5)},
		{Key: "localizedDiagnostic", Value: types.LocalizableMessage{Key: "com.vmware.vim.vc.license.error.decode", Message: msg}},
		{Key: "diagnostic", Value: msg},
	}}
}

// loadLicenses publishes the evaluation license and the stored state.
func (s *Service) loadLicenses(ctx context.Context) error {
	stored, err := s.reg.MetaPrefix(ctx, licenseMetaKey)
	if err != nil {
		return err
	}
	var st storedLicenses
	if raw := stored[licenseMetaKey]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return fmt.Errorf("api: stored licenses: %w", err)
		}
	}
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		lm, ok := tx.Edit(LicenseManagerRef).(*licenseManager)
		if !ok {
			return fmt.Errorf("api: no LicenseManager %s", LicenseManagerRef.Value)
		}
		lm.LicenseAssignmentManager = refp(LicenseAssignRef)
		lm.SourceAvailable = true
		lm.Licenses = []types.LicenseManagerLicenseInfo{s.licenseInfo(EvalLicenseKey, nil)}
		for _, l := range st.Licenses {
			if i := licenseIndex(lm.Licenses, l.Key); i >= 0 {
				lm.Licenses[i].Labels = l.Labels
			} else {
				lm.Licenses = append(lm.Licenses, s.licenseInfo(l.Key, l.Labels))
			}
		}
		lm.assigned = st.Assigned
		return nil
	})
}

func licenseIndex(list []types.LicenseManagerLicenseInfo, key string) int {
	for i, l := range list {
		if l.LicenseKey == key {
			return i
		}
	}
	return -1
}

// forSession reports how many assets use each license.
func (m *licenseManager) forSession(*soap.Context) mo.Reference {
	c := *m
	used := map[string]int32{}
	for _, a := range m.svc.assignments(m) {
		used[a.AssignedLicense.LicenseKey]++
	}
	c.Licenses = append([]types.LicenseManagerLicenseInfo(nil), m.Licenses...)
	for i := range c.Licenses {
		c.Licenses[i].Used = used[c.Licenses[i].LicenseKey]
	}
	return &c
}

// licenseTxn is a license change in progress.
type licenseTxn struct {
	tx *inventory.Txn
	lm *licenseManager
}

func (s *Service) editLicenses(tx *inventory.Txn) (*licenseTxn, error) {
	lm, ok := tx.Edit(LicenseManagerRef).(*licenseManager)
	if !ok {
		return nil, fmt.Errorf("api: no LicenseManager %s", LicenseManagerRef.Value)
	}
	return &licenseTxn{tx: tx, lm: lm}, nil
}

// save stores the license state.
func (l *licenseTxn) save() error {
	st := storedLicenses{Assigned: l.lm.assigned}
	for _, info := range l.lm.Licenses {
		if info.LicenseKey != EvalLicenseKey || len(info.Labels) > 0 {
			st.Licenses = append(st.Licenses, storedLicense{Key: info.LicenseKey, Labels: info.Labels})
		}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("api: encode licenses: %w", err)
	}
	l.tx.SetMeta(licenseMetaKey, string(raw))
	return nil
}

func (s *Service) registerLicenseManager(t *soap.Table) {
	soap.Register(t, "LicenseManager", "AddLicense", s.addLicense)
	soap.Register(t, "LicenseManager", "RemoveLicense", s.removeLicense)
	soap.Register(t, "LicenseManager", "DecodeLicense", s.decodeLicense)
	soap.Register(t, "LicenseManager", "UpdateLicenseLabel", s.updateLicenseLabel)
	soap.Register(t, "LicenseManager", "RemoveLicenseLabel", s.removeLicenseLabel)
	soap.Register(t, "LicenseAssignmentManager", "QueryAssignedLicenses", s.queryAssignedLicenses)
	soap.Register(t, "LicenseAssignmentManager", "UpdateAssignedLicense", s.updateAssignedLicense)
	soap.Register(t, "LicenseAssignmentManager", "RemoveAssignedLicense", s.removeAssignedLicense)
}

// addLicense adds a license key. A key vCenter could not decode is not
// added: the reply carries no key and a diagnostic, as vCenter's does.
func (s *Service) addLicense(ctx *soap.Context, req *types.AddLicense) (any, error) {
	key := strings.ToUpper(strings.TrimSpace(req.LicenseKey))
	if !licenseKeyPattern.MatchString(key) {
		return &types.AddLicenseResponse{Returnval: undecodable(req.LicenseKey)}, nil
	}
	var info types.LicenseManagerLicenseInfo
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		l, err := s.editLicenses(tx)
		if err != nil {
			return err
		}
		i := licenseIndex(l.lm.Licenses, key)
		if i < 0 {
			l.lm.Licenses = append(l.lm.Licenses, s.licenseInfo(key, nil))
			i = len(l.lm.Licenses) - 1
		}
		for _, kv := range req.Labels {
			l.lm.Licenses[i].Labels = withLabel(l.lm.Licenses[i].Labels, kv.Key, kv.Value)
		}
		info = l.lm.Licenses[i]
		return l.save()
	})
	if err != nil {
		return nil, err
	}
	return &types.AddLicenseResponse{Returnval: info}, nil
}

func (s *Service) removeLicense(ctx *soap.Context, req *types.RemoveLicense) (any, error) {
	key := strings.ToUpper(strings.TrimSpace(req.LicenseKey))
	if key == EvalLicenseKey {
		return nil, vim.InvalidArgument("licenseKey", "The evaluation license cannot be removed.")
	}
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		cur, ok := tx.Get(LicenseManagerRef).(*licenseManager)
		if !ok {
			return fmt.Errorf("api: no LicenseManager %s", LicenseManagerRef.Value)
		}
		i := licenseIndex(cur.Licenses, key)
		if i < 0 {
			return nil
		}
		for _, id := range sortedKeys(cur.assigned) {
			if cur.assigned[id].Key == key {
				return vim.NewFault(&types.ResourceInUse{Type: "License", Name: key},
					"The license %s is assigned to %s; assign another license to it first.", key, id)
			}
		}
		l, err := s.editLicenses(tx)
		if err != nil {
			return err
		}
		l.lm.Licenses = append(l.lm.Licenses[:i:i], l.lm.Licenses[i+1:]...)
		return l.save()
	})
	if err != nil {
		return nil, err
	}
	return &types.RemoveLicenseResponse{}, nil
}

func (s *Service) decodeLicense(ctx *soap.Context, req *types.DecodeLicense) (any, error) {
	key := strings.ToUpper(strings.TrimSpace(req.LicenseKey))
	if !licenseKeyPattern.MatchString(key) {
		return &types.DecodeLicenseResponse{Returnval: undecodable(req.LicenseKey)}, nil
	}
	lm := s.reg.Get(LicenseManagerRef).(*licenseManager)
	if i := licenseIndex(lm.Licenses, key); i >= 0 {
		return &types.DecodeLicenseResponse{Returnval: lm.Licenses[i]}, nil
	}
	return &types.DecodeLicenseResponse{Returnval: s.licenseInfo(key, nil)}, nil
}

func (s *Service) updateLicenseLabel(ctx *soap.Context, req *types.UpdateLicenseLabel) (any, error) {
	if err := s.setLicenseLabel(ctx, req.LicenseKey, req.LabelKey, req.LabelValue); err != nil {
		return nil, err
	}
	return &types.UpdateLicenseLabelResponse{}, nil
}

func (s *Service) removeLicenseLabel(ctx *soap.Context, req *types.RemoveLicenseLabel) (any, error) {
	if err := s.setLicenseLabel(ctx, req.LicenseKey, req.LabelKey, ""); err != nil {
		return nil, err
	}
	return &types.RemoveLicenseLabelResponse{}, nil
}

// setLicenseLabel sets (or with an empty value removes) a license label.
func (s *Service) setLicenseLabel(ctx *soap.Context, licenseKey, label, value string) error {
	key := strings.ToUpper(strings.TrimSpace(licenseKey))
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		l, err := s.editLicenses(tx)
		if err != nil {
			return err
		}
		i := licenseIndex(l.lm.Licenses, key)
		if i < 0 {
			return vim.InvalidArgument("licenseKey", "The license %s is not in the inventory; add it with AddLicense first.", licenseKey)
		}
		l.lm.Licenses[i].Labels = withLabel(l.lm.Licenses[i].Labels, label, value)
		return l.save()
	})
}

// withLabel returns labels with key set to value, or removed for "".
func withLabel(labels []types.KeyValue, key, value string) []types.KeyValue {
	out := make([]types.KeyValue, 0, len(labels)+1)
	for _, kv := range labels {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	if value != "" {
		out = append(out, types.KeyValue{Key: key, Value: value})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// instanceName is how the license assignments name this server.
func (s *Service) instanceName() string {
	if om, ok := s.reg.Get(OptionManagerRef).(*optionManager); ok {
		if v, ok := settingMap(om)["VirtualCenter.InstanceName"].(string); ok && v != "" {
			return v
		}
	}
	return s.content.About.Name
}

// assignments returns the license assignments: this server and every host
// hold the evaluation license unless explicitly assigned another; other
// entities appear once explicitly assigned.
func (s *Service) assignments(lm *licenseManager) []types.LicenseAssignmentManagerLicenseAssignment {
	uuid := s.content.About.InstanceUuid
	assign := func(id, name string) types.LicenseAssignmentManagerLicenseAssignment {
		key := EvalLicenseKey
		if a, ok := lm.assigned[id]; ok {
			key = a.Key
			if a.Name != "" {
				name = a.Name
			}
		}
		info := s.licenseInfo(key, nil)
		if i := licenseIndex(lm.Licenses, key); i >= 0 {
			info = lm.Licenses[i]
		}
		out := types.LicenseAssignmentManagerLicenseAssignment{EntityId: id, EntityDisplayName: name, AssignedLicense: info}
		if id != uuid {
			out.Scope = uuid
		}
		return out
	}
	out := []types.LicenseAssignmentManagerLicenseAssignment{assign(uuid, s.instanceName())}
	seen := map[string]bool{uuid: true}
	var hosts []mo.Reference
	s.reg.Each("HostSystem", func(o mo.Reference) bool { hosts = append(hosts, o); return true })
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Reference().Value < hosts[j].Reference().Value })
	for _, h := range hosts {
		seen[h.Reference().Value] = true
		out = append(out, assign(h.Reference().Value, h.(*mo.HostSystem).Name))
	}
	for _, id := range sortedKeys(lm.assigned) {
		if seen[id] {
			continue
		}
		if e, ok := s.reg.Lookup(id).(mo.Entity); ok {
			out = append(out, assign(id, e.Entity().Name))
		}
	}
	return out
}

func (s *Service) queryAssignedLicenses(ctx *soap.Context, req *types.QueryAssignedLicenses) (any, error) {
	lm := s.reg.Get(LicenseManagerRef).(*licenseManager)
	var out []types.LicenseAssignmentManagerLicenseAssignment
	for _, a := range s.assignments(lm) {
		if req.EntityId == "" || a.EntityId == req.EntityId {
			out = append(out, a)
		}
	}
	return &types.QueryAssignedLicensesResponse{Returnval: out}, nil
}

// licensable checks that id names this server or an inventory entity.
func (s *Service) licensable(tx *inventory.Txn, id string) error {
	if id == s.content.About.InstanceUuid {
		return nil
	}
	if _, ok := tx.Lookup(id).(mo.Entity); ok {
		return nil
	}
	return vim.NewFault(&types.LicenseEntityNotFound{EntityId: id},
		"No licensable asset has the id %q; use this server's instance UUID or a host or cluster MoRef value.", id)
}

func (s *Service) updateAssignedLicense(ctx *soap.Context, req *types.UpdateAssignedLicense) (any, error) {
	key := strings.ToUpper(strings.TrimSpace(req.LicenseKey))
	var info types.LicenseManagerLicenseInfo
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if err := s.licensable(tx, req.Entity); err != nil {
			return err
		}
		l, err := s.editLicenses(tx)
		if err != nil {
			return err
		}
		i := licenseIndex(l.lm.Licenses, key)
		if i < 0 {
			return vim.InvalidArgument("licenseKey", "The license %s is not in the inventory; add it with AddLicense first.", req.LicenseKey)
		}
		info = l.lm.Licenses[i]
		assigned := make(map[string]licenseAssignment, len(l.lm.assigned)+1)
		for k, v := range l.lm.assigned {
			assigned[k] = v
		}
		assigned[req.Entity] = licenseAssignment{Key: key, Name: req.EntityDisplayName}
		l.lm.assigned = assigned
		return l.save()
	})
	if err != nil {
		return nil, err
	}
	return &types.UpdateAssignedLicenseResponse{Returnval: info}, nil
}

func (s *Service) removeAssignedLicense(ctx *soap.Context, req *types.RemoveAssignedLicense) (any, error) {
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if err := s.licensable(tx, req.EntityId); err != nil {
			return err
		}
		cur := tx.Get(LicenseManagerRef).(*licenseManager)
		if _, ok := cur.assigned[req.EntityId]; !ok {
			return nil
		}
		l, err := s.editLicenses(tx)
		if err != nil {
			return err
		}
		assigned := make(map[string]licenseAssignment, len(l.lm.assigned))
		for k, v := range l.lm.assigned {
			if k != req.EntityId {
				assigned[k] = v
			}
		}
		l.lm.assigned = assigned
		return l.save()
	})
	if err != nil {
		return nil, err
	}
	return &types.RemoveAssignedLicenseResponse{}, nil
}
