package api_test

import (
	"testing"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestHostWithoutTPM(t *testing.T) {
	f, host := hostCfgFixture(t)
	var h mo.HostSystem
	f.props(host.Reference(), &h, "capability", "runtime", "summary")
	if c := h.Capability; c.TpmSupported == nil || *c.TpmSupported || c.TxtEnabled == nil || *c.TxtEnabled || c.TpmVersion != "" {
		t.Errorf("capability tpmSupported %v, txtEnabled %v, tpmVersion %q; want false, false, unset",
			c.TpmSupported, c.TxtEnabled, c.TpmVersion)
	}
	for where, se := range map[string]*types.HostRuntimeInfoStateEncryptionInfo{
		"runtime": h.Runtime.StateEncryption, "summary.runtime": h.Summary.Runtime.StateEncryption,
	} {
		if se == nil || se.ProtectionMode != "none" {
			t.Errorf("%s.stateEncryption = %+v, want protectionMode none", where, se)
		}
	}
	if h.Summary.TpmAttestation != nil || len(h.Runtime.TpmPcrValues) > 0 {
		t.Error("a host without TPM reports attestation or PCR values")
	}

	res, err := methods.QueryTpmAttestationReport(f.ctx, f.c, &types.QueryTpmAttestationReport{This: host.Reference()})
	mustOK(t, err)
	if res.Returnval != nil {
		t.Errorf("report %+v, want none from a host without TPM", res.Returnval)
	}
}
