package api_test

import (
	"testing"

	"github.com/vmware/govmomi/license"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/testserver"
)

func mgrLicenseProp(info types.LicenseManagerLicenseInfo, key string) any {
	for _, p := range info.Properties {
		if p.Key == key {
			return p.Value
		}
	}
	return nil
}

func TestLicenses(t *testing.T) {
	dir := t.TempDir()
	s := testserver.New(t, testserver.WithDataDir(dir))
	ctx := mgrContext(t)
	inv := mgrInventory(t, s.Service().Registry())
	m := license.NewManager(s.Client.Client)

	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	about := s.Client.ServiceContent.About
	if len(list) != 1 || list[0].LicenseKey != api.EvalLicenseKey || list[0].EditionKey != "eval" || list[0].Name != "Evaluation Mode" ||
		mgrLicenseProp(list[0], "ProductName") != about.LicenseProductName || mgrLicenseProp(list[0], "ProductVersion") != about.LicenseProductVersion {
		t.Fatalf("licenses = %+v", list)
	}
	if !license.HasFeature(list[0], "vimapi") {
		t.Error("the evaluation license lacks the vimapi feature")
	}
	// Used counts this server and the host.
	if list[0].Used != 2 {
		t.Errorf("used = %d, want 2", list[0].Used)
	}

	bad, err := m.Add(ctx, "not-a-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	if bad.LicenseKey != "" || mgrLicenseProp(bad, "diagnostic") == nil || mgrLicenseProp(bad, "lc_error") != int32(5) {
		t.Fatalf("undecodable key = %+v", bad)
	}
	const key = "ABCDE-12345-FGHIJ-67890-KLMNO"
	added, err := m.Add(ctx, key, map[string]string{"team": "blue"})
	if err != nil || added.LicenseKey != key || len(added.Labels) != 1 {
		t.Fatalf("add = %+v, %v", added, err)
	}
	dec, err := m.Decode(ctx, api.EvalLicenseKey)
	if err != nil || dec.EditionKey != "eval" {
		t.Fatalf("decode = %+v, %v", dec, err)
	}

	am, err := m.AssignmentManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := am.QueryAssigned(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].EntityId != about.InstanceUuid || all[1].EntityId != inv.host.Value || all[1].EntityDisplayName != "h0" {
		t.Fatalf("assignments = %+v", all)
	}
	if _, err := am.Update(ctx, inv.cluster.Value, key, "cluster"); err != nil {
		t.Fatal(err)
	}
	_, err = am.Update(ctx, inv.cluster.Value, "ZZZZZ-12345-FGHIJ-67890-KLMNO", "")
	mgrFault(t, err, &types.InvalidArgument{})
	_, err = am.Update(ctx, "domain-c404", key, "")
	mgrFault(t, err, &types.LicenseEntityNotFound{})
	got, err := am.QueryAssigned(ctx, inv.cluster.Value)
	if err != nil || len(got) != 1 || got[0].AssignedLicense.LicenseKey != key || got[0].EntityDisplayName != "cluster" {
		t.Fatalf("cluster assignment = %+v, %v", got, err)
	}
	mgrFault(t, m.Remove(ctx, key), &types.ResourceInUse{})
	mgrFault(t, m.Remove(ctx, api.EvalLicenseKey), &types.InvalidArgument{})
	if err := m.Remove(ctx, "00000-00000-00000-00000-00001"); err != nil {
		t.Fatalf("removing an unknown key: %v", err)
	}

	// State survives a restart.
	s.Close()
	s2 := testserver.New(t, testserver.WithDataDir(dir))
	m2 := license.NewManager(s2.Client.Client)
	list, err = m2.List(ctx)
	if err != nil || len(list) != 2 || list[1].LicenseKey != key || list[1].Labels[0].Value != "blue" {
		t.Fatalf("licenses after restart = %+v, %v", list, err)
	}
	am2, err := m2.AssignmentManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := am2.Remove(ctx, inv.cluster.Value); err != nil {
		t.Fatal(err)
	}
	if err := m2.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if list, _ := m2.List(ctx); len(list) != 1 {
		t.Fatalf("licenses after remove = %+v", list)
	}
}
