package api

import (
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// Trusted Platform Module: Vireo's hosts have none, and say so as an ESXi
// host without a TPM 2.0 chip does: capability.tpmSupported and
// capability.txtEnabled are false, capability.tpmVersion is unset,
// runtime.stateEncryption.protectionMode is "none" (the host's state
// encryption key is not TPM-protected), there is no
// summary.tpmAttestation (vCenter attests TPM hosts only), and
// QueryTpmAttestationReport returns no report. Measurements can only come
// from a host that has a TPM; none is invented here.

func (s *Service) registerHostTPM(t *soap.Table) {
	soap.Register(t, "HostSystem", "QueryTpmAttestationReport", s.queryTpmAttestationReport)
}

// needsTPMFacts reports whether h lacks the TPM facts setTPMFacts fills in.
func needsTPMFacts(h *mo.HostSystem) bool {
	return h.Capability != nil && (h.Capability.TpmSupported == nil || h.Capability.TxtEnabled == nil) ||
		h.Runtime.StateEncryption == nil
}

// setTPMFacts fills in what a host without TPM reports, leaving facts a
// host (agent) already reported alone.
func setTPMFacts(h *mo.HostSystem) {
	if c := h.Capability; c != nil {
		if c.TpmSupported == nil {
			c.TpmSupported = types.NewBool(false)
		}
		if c.TxtEnabled == nil {
			c.TxtEnabled = types.NewBool(false)
		}
	}
	if h.Runtime.StateEncryption == nil {
		h.Runtime.StateEncryption = &types.HostRuntimeInfoStateEncryptionInfo{
			ProtectionMode: string(types.HostRuntimeInfoStateEncryptionInfoProtectionModeNone),
		}
		syncHostSummary(h)
	}
}

// queryTpmAttestationReport returns the host's TPM attestation report: none
// (an empty response), as ESXi answers for a host without a TPM. Vireo's
// hosts have no TPM, and a host that reports one has no measurements Vireo
// could relay yet.
func (s *Service) queryTpmAttestationReport(ctx *soap.Context, _ *types.QueryTpmAttestationReport) (any, error) {
	if _, ok := s.reg.Get(ctx.This).(*mo.HostSystem); !ok {
		return nil, vim.ManagedObjectNotFound(ctx.This)
	}
	return &types.QueryTpmAttestationReportResponse{}, nil
}
