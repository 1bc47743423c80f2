package api_test

import (
	"crypto/rsa"
	"crypto/x509"
	"slices"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/testserver"
)

func linuxSpec(name string) types.CustomizationSpecItem {
	return types.CustomizationSpecItem{
		Info: types.CustomizationSpecInfo{Name: name, Description: "web tier"},
		Spec: types.CustomizationSpec{
			Identity: &types.CustomizationLinuxPrep{
				HostName: &types.CustomizationVirtualMachineName{}, Domain: "example.com",
			},
			NicSettingMap: []types.CustomizationAdapterMapping{{Adapter: types.CustomizationIPSettings{Ip: &types.CustomizationDhcpIpGenerator{}}}},
		},
	}
}

func specNames(t *testing.T, f *invFixture) []string {
	t.Helper()
	var m mo.CustomizationSpecManager
	f.props(api.CustomizationSpecManagerRef, &m, "info")
	var names []string
	for _, i := range m.Info {
		names = append(names, i.Name)
	}
	return names
}

func TestCustomizationEncryptionKey(t *testing.T) {
	f := newInv(t)
	if r := f.c.ServiceContent.CustomizationSpecManager; r == nil || *r != api.CustomizationSpecManagerRef {
		t.Fatalf("ServiceContent.customizationSpecManager = %v", r)
	}
	var m mo.CustomizationSpecManager
	f.props(api.CustomizationSpecManagerRef, &m)
	cert, err := x509.ParseCertificate(m.EncryptionKey)
	if err != nil {
		t.Fatalf("encryptionKey is not a DER certificate: %v", err)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		t.Errorf("encryption key %T, want RSA (clients encrypt passwords with it)", cert.PublicKey)
	}

	dir := f.srv.DataDir
	f.srv.Close()
	g := newInv(t, testserver.WithDataDir(dir))
	var m2 mo.CustomizationSpecManager
	g.props(api.CustomizationSpecManagerRef, &m2, "encryptionKey")
	if !slices.Equal(m.EncryptionKey, m2.EncryptionKey) {
		t.Error("the encryption key changed across a restart")
	}
}

func TestCustomizationSpecs(t *testing.T) {
	f := newInv(t)
	m := object.NewCustomizationSpecManager(f.c)

	mustOK(t, m.CreateCustomizationSpec(f.ctx, linuxSpec("web")))
	wantFault(t, m.CreateCustomizationSpec(f.ctx, linuxSpec("web")), &types.AlreadyExists{})
	noIdentity := linuxSpec("bare")
	noIdentity.Spec.Identity = nil
	wantFault(t, m.CreateCustomizationSpec(f.ctx, noIdentity), &types.InvalidArgument{})
	wrongType := linuxSpec("mixed")
	wrongType.Info.Type = "Windows"
	wantFault(t, m.CreateCustomizationSpec(f.ctx, wrongType), &types.InvalidArgument{})

	ok, err := m.DoesCustomizationSpecExist(f.ctx, "web")
	mustOK(t, err)
	if !ok {
		t.Fatal("DoesCustomizationSpecExist(web) = false after create")
	}
	got, err := m.GetCustomizationSpec(f.ctx, "web")
	mustOK(t, err)
	if got.Info.Type != "Linux" || got.Info.ChangeVersion == "" || got.Info.LastUpdateTime == nil {
		t.Errorf("stored info %+v, want type Linux, a changeVersion and lastUpdateTime", got.Info)
	}
	if lp, ok := got.Spec.Identity.(*types.CustomizationLinuxPrep); !ok || lp.Domain != "example.com" {
		t.Errorf("stored identity %#v, want the LinuxPrep created", got.Spec.Identity)
	}
	_, err = m.GetCustomizationSpec(f.ctx, "nope")
	wantFault(t, err, &types.NotFound{})

	// Overwrite checks the changeVersion it carries.
	stale := *got
	got.Info.Description = "v2"
	mustOK(t, m.OverwriteCustomizationSpec(f.ctx, *got))
	stale.Info.Description = "v3"
	wantFault(t, m.OverwriteCustomizationSpec(f.ctx, stale), &types.ConcurrentAccess{})
	wantFault(t, m.OverwriteCustomizationSpec(f.ctx, linuxSpec("nope")), &types.NotFound{})

	mustOK(t, m.DuplicateCustomizationSpec(f.ctx, "web", "web-copy"))
	wantFault(t, m.DuplicateCustomizationSpec(f.ctx, "web", "web-copy"), &types.AlreadyExists{})
	wantFault(t, m.DuplicateCustomizationSpec(f.ctx, "nope", "x"), &types.NotFound{})
	mustOK(t, m.RenameCustomizationSpec(f.ctx, "web-copy", "app"))
	wantFault(t, m.RenameCustomizationSpec(f.ctx, "app", "web"), &types.AlreadyExists{})
	if names := specNames(t, f); !slices.Equal(names, []string{"app", "web"}) {
		t.Errorf("info names %v, want [app web]", names)
	}
	mustOK(t, m.DeleteCustomizationSpec(f.ctx, "app"))
	wantFault(t, m.DeleteCustomizationSpec(f.ctx, "app"), &types.NotFound{})

	_, err = methods.CheckCustomizationResources(f.ctx, f.c, &types.CheckCustomizationResources{This: m.Reference(), GuestOs: "otherLinux64Guest"})
	mustOK(t, err)

	dir := f.srv.DataDir
	f.srv.Close()
	g := newInv(t, testserver.WithDataDir(dir))
	got2, err := object.NewCustomizationSpecManager(g.c).GetCustomizationSpec(g.ctx, "web")
	mustOK(t, err)
	if got2.Info.Description != "v2" || !slices.Equal(specNames(t, g), []string{"web"}) {
		t.Errorf("after restart: %q, %v; want the overwritten spec only", got2.Info.Description, specNames(t, g))
	}
}

func TestCustomizationEncryptedPasswords(t *testing.T) {
	f := newInv(t)
	m := object.NewCustomizationSpecManager(f.c)
	win := types.CustomizationSpecItem{
		Info: types.CustomizationSpecInfo{Name: "win"},
		Spec: types.CustomizationSpec{
			EncryptionKey: []byte("another server's key"),
			Identity: &types.CustomizationSysprep{
				GuiUnattended:  types.CustomizationGuiUnattended{Password: &types.CustomizationPassword{Value: "c2VjcmV0", PlainText: false}},
				UserData:       types.CustomizationUserData{FullName: "a", OrgName: "b", ComputerName: &types.CustomizationVirtualMachineName{}},
				Identification: types.CustomizationIdentification{JoinWorkgroup: "WORKGROUP"},
			},
		},
	}
	wantFault(t, m.CreateCustomizationSpec(f.ctx, win), &types.CannotDecryptPasswords{})
	win.Spec.Identity.(*types.CustomizationSysprep).GuiUnattended.Password.PlainText = true
	mustOK(t, m.CreateCustomizationSpec(f.ctx, win))
}

func TestCustomizationSpecManagerAbsentOnESX(t *testing.T) {
	f, _ := esxFixture(t)
	if f.c.ServiceContent.CustomizationSpecManager != nil || f.exists(api.CustomizationSpecManagerRef) {
		t.Error("a host agent has a CustomizationSpecManager")
	}
}
