package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/tlsutil"
	"github.com/vireo-project/vireo/internal/vim"
)

// vCenter's CustomizationSpecManager stores named guest customization
// specifications (CustomizationSpecItem) for CloneVM_Task and
// CustomizeVM_Task. Its encryptionKey is the DER certificate of an RSA key
// the server generates on first start; clients encrypt the passwords of a
// specification with its public key. The certificate and key are stored
// under customizationKeyMetaKey (the key, for the capability that applies
// specifications, never leaves the store), the specifications, as one
// JSON list sorted by name, under customizationSpecsMetaKey. A host agent
// (ESX mode) has no CustomizationSpecManager.

// CustomizationSpecManagerRef is vCenter's CustomizationSpecManager.
var CustomizationSpecManagerRef = ref("CustomizationSpecManager", "CustomizationSpecManager")

const (
	customizationMetaPrefix   = "customization/"
	customizationKeyMetaKey   = customizationMetaPrefix + "encryptionKey"
	customizationSpecsMetaKey = customizationMetaPrefix + "specs"
)

// customizationKeyBits is the size of the encryption key; RSA, because
// clients encrypt passwords with it.
const customizationKeyBits = 2048

// storedSpecs is the stored form of the specifications.
type storedSpecs struct {
	Items []types.CustomizationSpecItem `json:"items"`
}

// customizationSpecManager is the CustomizationSpecManager with the stored
// specifications, sorted by name. items is shared between copies of the
// object: it is replaced, never modified in place.
type customizationSpecManager struct {
	mo.CustomizationSpecManager
	items []types.CustomizationSpecItem
}

func (s *Service) registerCustomizationSpecManager(t *soap.Table) {
	const m = "CustomizationSpecManager"
	soap.Register(t, m, "DoesCustomizationSpecExist", s.doesCustomizationSpecExist)
	soap.Register(t, m, "GetCustomizationSpec", s.getCustomizationSpec)
	soap.Register(t, m, "CreateCustomizationSpec", s.createCustomizationSpec)
	soap.Register(t, m, "OverwriteCustomizationSpec", s.overwriteCustomizationSpec)
	soap.Register(t, m, "DeleteCustomizationSpec", s.deleteCustomizationSpec)
	soap.Register(t, m, "DuplicateCustomizationSpec", s.duplicateCustomizationSpec)
	soap.Register(t, m, "RenameCustomizationSpec", s.renameCustomizationSpec)
	soap.Register(t, m, "CheckCustomizationResources", s.checkCustomizationResources)
}

// loadCustomizationSpecs creates the CustomizationSpecManager with the
// stored specifications and encryption key, generating and storing the key
// on first start. Bootstrap calls it; a host agent has no such manager.
func (s *Service) loadCustomizationSpecs(ctx context.Context) error {
	if s.content.CustomizationSpecManager == nil {
		return nil
	}
	stored, err := s.reg.MetaPrefix(ctx, customizationMetaPrefix)
	if err != nil {
		return err
	}
	keyPEM, fresh := stored[customizationKeyMetaKey], false
	if keyPEM == "" {
		if keyPEM, err = s.newCustomizationKey(); err != nil {
			return err
		}
		fresh = true
	}
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("api: stored customization encryption key has no certificate")
	}
	var specs storedSpecs
	if raw := stored[customizationSpecsMetaKey]; raw != "" {
		if err := types.NewJSONDecoder(strings.NewReader(raw)).Decode(&specs); err != nil {
			return fmt.Errorf("api: decode customization specifications: %w", err)
		}
	}
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		m := &customizationSpecManager{}
		m.Self = CustomizationSpecManagerRef
		m.EncryptionKey = block.Bytes
		m.setItems(specs.Items)
		tx.Create(m, false)
		if fresh {
			tx.SetMeta(customizationKeyMetaKey, keyPEM)
		}
		return nil
	})
}

// newCustomizationKey returns a new self-signed RSA certificate and its key
// in PEM.
func (s *Service) newCustomizationKey() (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, customizationKeyBits)
	if err != nil {
		return "", fmt.Errorf("api: customization encryption key: %w", err)
	}
	now := s.now()
	der, err := tlsutil.SelfSigned(key, tlsutil.Leaf{
		Subject:   pkix.Name{CommonName: "Vireo guest customization", Organization: []string{"Vireo"}},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.AddDate(10, 0, 0),
	})
	if err != nil {
		return "", err
	}
	kp, err := tlsutil.KeyPEM(key)
	if err != nil {
		return "", err
	}
	return string(tlsutil.CertPEM(der)) + string(kp), nil
}

// setItems makes items (sorted by name) the manager's specifications and
// derives info from them.
func (m *customizationSpecManager) setItems(items []types.CustomizationSpecItem) {
	slices.SortFunc(items, func(a, b types.CustomizationSpecItem) int { return strings.Compare(a.Info.Name, b.Info.Name) })
	m.items = items
	m.Info = nil
	for _, it := range items {
		m.Info = append(m.Info, it.Info)
	}
}

// find returns the index of the specification called name, or -1.
func (m *customizationSpecManager) find(name string) int {
	return slices.IndexFunc(m.items, func(it types.CustomizationSpecItem) bool { return it.Info.Name == name })
}

// specNotFound is vCenter's fault for an unknown specification name.
func specNotFound(name string) error {
	return vim.NotFound("The customization specification %q does not exist; list them with the manager's info property.", name)
}

// specExists is vCenter's fault for a name already taken.
func specExists(name string) error {
	return vim.NewFault(&types.AlreadyExists{Name: name}, "A customization specification named %q already exists; choose another name or use OverwriteCustomizationSpec.", name)
}

// editSpecs runs fn on a private copy of the manager's specifications and
// stores the result.
func (s *Service) editSpecs(ctx context.Context, fn func(m *customizationSpecManager, items []types.CustomizationSpecItem) ([]types.CustomizationSpecItem, error)) error {
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		cur, ok := tx.Get(CustomizationSpecManagerRef).(*customizationSpecManager)
		if !ok {
			return vim.ManagedObjectNotFound(CustomizationSpecManagerRef)
		}
		items, err := fn(cur, vim.DeepCopy(cur.items))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := types.NewJSONEncoder(&b).Encode(storedSpecs{Items: items}); err != nil {
			return fmt.Errorf("api: encode customization specifications: %w", err)
		}
		tx.SetMeta(customizationSpecsMetaKey, b.String())
		tx.Edit(CustomizationSpecManagerRef).(*customizationSpecManager).setItems(items)
		return nil
	})
}

// specManager returns the manager as the registry holds it.
func (s *Service) specManager(ctx *soap.Context) (*customizationSpecManager, error) {
	m, ok := s.reg.Get(ctx.This).(*customizationSpecManager)
	if !ok {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	return m, nil
}

func (s *Service) doesCustomizationSpecExist(ctx *soap.Context, req *types.DoesCustomizationSpecExist) (any, error) {
	m, err := s.specManager(ctx)
	if err != nil {
		return nil, err
	}
	return &types.DoesCustomizationSpecExistResponse{Returnval: m.find(req.Name) >= 0}, nil
}

// getCustomizationSpec returns the specification called name. Faults:
// NotFound.
func (s *Service) getCustomizationSpec(ctx *soap.Context, req *types.GetCustomizationSpec) (any, error) {
	m, err := s.specManager(ctx)
	if err != nil {
		return nil, err
	}
	i := m.find(req.Name)
	if i < 0 {
		return nil, specNotFound(req.Name)
	}
	return &types.GetCustomizationSpecResponse{Returnval: vim.DeepCopy(m.items[i])}, nil
}

// createCustomizationSpec stores a new specification. Faults: AlreadyExists,
// InvalidArgument (no name, no identity, a type that does not match the
// identity), CannotDecryptPasswords.
func (s *Service) createCustomizationSpec(ctx *soap.Context, req *types.CreateCustomizationSpec) (any, error) {
	err := s.editSpecs(ctx, func(m *customizationSpecManager, items []types.CustomizationSpecItem) ([]types.CustomizationSpecItem, error) {
		item := vim.DeepCopy(req.Item)
		if err := checkSpecItem(&item, m.EncryptionKey); err != nil {
			return nil, err
		}
		if m.find(item.Info.Name) >= 0 {
			return nil, specExists(item.Info.Name)
		}
		s.stampSpec(&item.Info, "")
		return append(items, item), nil
	})
	if err != nil {
		return nil, err
	}
	return &types.CreateCustomizationSpecResponse{}, nil
}

// overwriteCustomizationSpec replaces the specification of the item's name;
// an item carrying a changeVersion replaces it only if that is still the
// stored one. Faults: NotFound, ConcurrentAccess, InvalidArgument,
// CannotDecryptPasswords.
func (s *Service) overwriteCustomizationSpec(ctx *soap.Context, req *types.OverwriteCustomizationSpec) (any, error) {
	err := s.editSpecs(ctx, func(m *customizationSpecManager, items []types.CustomizationSpecItem) ([]types.CustomizationSpecItem, error) {
		item := vim.DeepCopy(req.Item)
		if err := checkSpecItem(&item, m.EncryptionKey); err != nil {
			return nil, err
		}
		i := m.find(item.Info.Name)
		if i < 0 {
			return nil, specNotFound(item.Info.Name)
		}
		cur := items[i].Info.ChangeVersion
		if v := item.Info.ChangeVersion; v != "" && v != cur {
			return nil, vim.NewFault(&types.ConcurrentAccess{},
				"The customization specification %q changed since it was read (changeVersion %s, now %s); get it again and reapply the changes.", item.Info.Name, v, cur)
		}
		s.stampSpec(&item.Info, cur)
		items[i] = item
		return items, nil
	})
	if err != nil {
		return nil, err
	}
	return &types.OverwriteCustomizationSpecResponse{}, nil
}

// deleteCustomizationSpec removes a specification. Faults: NotFound.
func (s *Service) deleteCustomizationSpec(ctx *soap.Context, req *types.DeleteCustomizationSpec) (any, error) {
	err := s.editSpecs(ctx, func(m *customizationSpecManager, items []types.CustomizationSpecItem) ([]types.CustomizationSpecItem, error) {
		i := m.find(req.Name)
		if i < 0 {
			return nil, specNotFound(req.Name)
		}
		return slices.Delete(items, i, i+1), nil
	})
	if err != nil {
		return nil, err
	}
	return &types.DeleteCustomizationSpecResponse{}, nil
}

// duplicateCustomizationSpec copies a specification under newName. Faults:
// NotFound, AlreadyExists, InvalidArgument (empty newName).
func (s *Service) duplicateCustomizationSpec(ctx *soap.Context, req *types.DuplicateCustomizationSpec) (any, error) {
	err := s.copySpec(ctx, req.Name, req.NewName, false)
	if err != nil {
		return nil, err
	}
	return &types.DuplicateCustomizationSpecResponse{}, nil
}

// renameCustomizationSpec renames a specification. Faults: NotFound,
// AlreadyExists, InvalidArgument (empty newName).
func (s *Service) renameCustomizationSpec(ctx *soap.Context, req *types.RenameCustomizationSpec) (any, error) {
	err := s.copySpec(ctx, req.Name, req.NewName, true)
	if err != nil {
		return nil, err
	}
	return &types.RenameCustomizationSpecResponse{}, nil
}

// copySpec stores specification name under newName too, or only (move).
func (s *Service) copySpec(ctx context.Context, name, newName string, move bool) error {
	if strings.TrimSpace(newName) == "" {
		return vim.InvalidArgument("newName", "The new name of the customization specification is empty.")
	}
	return s.editSpecs(ctx, func(m *customizationSpecManager, items []types.CustomizationSpecItem) ([]types.CustomizationSpecItem, error) {
		i := m.find(name)
		if i < 0 {
			return nil, specNotFound(name)
		}
		if m.find(newName) >= 0 {
			return nil, specExists(newName)
		}
		item := vim.DeepCopy(items[i])
		item.Info.Name = newName
		if move {
			s.stampSpec(&item.Info, item.Info.ChangeVersion)
			items[i] = item
			return items, nil
		}
		s.stampSpec(&item.Info, "")
		return append(items, item), nil
	})
}

// stampSpec sets info's lastUpdateTime and its changeVersion to the one
// following prev (a count; "" for a new specification).
func (s *Service) stampSpec(info *types.CustomizationSpecInfo, prev string) {
	n, _ := strconv.ParseInt(prev, 10, 64)
	info.ChangeVersion = strconv.FormatInt(n+1, 10)
	info.LastUpdateTime = types.NewTime(s.now())
}

// checkSpecItem validates a specification to store and fills in its type
// from its identity settings when it has none.
func checkSpecItem(item *types.CustomizationSpecItem, serverKey []byte) error {
	if strings.TrimSpace(item.Info.Name) == "" {
		return vim.InvalidArgument("item.info.name", "A customization specification needs a name.")
	}
	if item.Spec.Identity == nil {
		return vim.InvalidArgument("item.spec.identity",
			"The customization specification %q has no identity settings: use CustomizationLinuxPrep or CustomizationCloudinitPrep for Linux, CustomizationSysprep or CustomizationSysprepText for Windows.", item.Info.Name)
	}
	want := specGuestType(item.Spec.Identity)
	switch {
	case item.Info.Type == "":
		item.Info.Type = want
	case want != "" && !strings.EqualFold(item.Info.Type, want):
		return vim.InvalidArgument("item.info.type", "The customization specification %q is of type %q but its identity settings (%T) are for %s.",
			item.Info.Name, item.Info.Type, item.Spec.Identity, want)
	}
	if hasEncryptedPassword(item.Spec.Identity) && len(item.Spec.EncryptionKey) > 0 && !bytes.Equal(item.Spec.EncryptionKey, serverKey) {
		return vim.NewFault(&types.CannotDecryptPasswords{},
			"The passwords of the customization specification %q were encrypted with another server's key; enter them again, encrypted with this server's encryptionKey or as plain text.", item.Info.Name)
	}
	return nil
}

// specGuestType is the guest family an identity customizes: "Linux",
// "Windows", or "" for an identity type Vireo does not know.
func specGuestType(id types.BaseCustomizationIdentitySettings) string {
	switch id.(type) {
	case *types.CustomizationLinuxPrep, *types.CustomizationCloudinitPrep:
		return "Linux"
	case *types.CustomizationSysprep, *types.CustomizationSysprepText:
		return "Windows"
	}
	return ""
}

// hasEncryptedPassword reports whether a Sysprep identity holds a password
// that is not plain text.
func hasEncryptedPassword(id types.BaseCustomizationIdentitySettings) bool {
	sp, ok := id.(*types.CustomizationSysprep)
	if !ok {
		return false
	}
	for _, p := range []*types.CustomizationPassword{sp.GuiUnattended.Password, sp.Identification.DomainAdminPassword} {
		if p != nil && !p.PlainText {
			return true
		}
	}
	return false
}

// checkCustomizationResources reports whether the server can customize
// guestOs: it can, for every guest, since it needs no external tools (no
// sysprep package, no volume editors). Faults: InvalidArgument (no guest).
func (s *Service) checkCustomizationResources(ctx *soap.Context, req *types.CheckCustomizationResources) (any, error) {
	if _, err := s.specManager(ctx); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.GuestOs) == "" {
		return nil, vim.InvalidArgument("guestOs", "Name the guest operating system to check, such as otherLinux64Guest or windows2019srv_64Guest.")
	}
	return &types.CheckCustomizationResourcesResponse{}, nil
}
