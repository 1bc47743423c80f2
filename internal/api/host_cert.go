package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/tlsutil"
	"github.com/vireo-project/vireo/internal/vim"
)

// Every host has a TLS certificate, kept in PEM in its config.certificate
// (persisted with the host), and a HostCertificateManager
// (configManager.certificateManager, "certificateManager-host-12") that
// reports it (certificateInfo), issues certificate signing requests and
// installs the certificate a CA signed from one.
//
// A host added without a certificate gets one: in ESX mode, where the
// server is the host, the server's own TLS certificate; otherwise a new
// self-signed one (ECDSA P-256, CN and SAN the host's name, SAN its
// management address). Its private key is not kept: the real key lives
// on the host. A CSR's private key is kept (persisted) until a
// certificate signed from it is installed; in ESX mode
// NotifyAffectedServices then makes the server serve that certificate, as
// hostd does.
//
// The manager lives in memory and is derived from the host; what it holds
// besides (the pending CSR key, the trusted CA certificates and CRLs) is
// stored under hostCertMetaPrefix+host.

// hostCertMetaPrefix prefixes the store key of a host certificate
// manager's state (hostCertState, JSON) by host MoRef value.
const hostCertMetaPrefix = "hostCertificate/"

// hostCertValidity is how long a host certificate Vireo issues is valid:
// vCenter's default (vpxd.certmgmt.certs.daysValid, 1825 days).
const hostCertValidity = 1825 * 24 * time.Hour

// csrKeyBits is the size of a CSR's RSA key, as ESXi generates it.
const csrKeyBits = 2048

// ServerIdentity is the TLS certificate the server presents. In ESX mode the
// server is its one host, so that host's certificate is this one.
type ServerIdentity interface {
	// Certificate returns the certificate being served, with its key.
	Certificate() tls.Certificate
	// Replace serves cert (chain and private key) from now on.
	Replace(cert tls.Certificate) error
}

// hostCertManager is a host's HostCertificateManager. Its unexported fields
// are shared between copies of the object and are never modified in place.
type hostCertManager struct {
	mo.HostCertificateManager
	// csrKey is the private key of the last certificate signing request; nil
	// when none is pending.
	csrKey crypto.Signer
	// key is the private key of the installed certificate when the server
	// holds it (a certificate signed from this manager's CSR).
	key crypto.Signer
	// caCerts and caCrls are the trusted CA certificates and revocation lists
	// in PEM (ReplaceCACertificatesAndCRLs).
	caCerts, caCrls []string
}

// hostCertState is the stored form of a manager's own state.
type hostCertState struct {
	CSRKey string   `json:"csrKey,omitempty"`
	CACert []string `json:"caCert,omitempty"`
	CACrl  []string `json:"caCrl,omitempty"`
}

func (s *Service) registerHostCertificateManager(t *soap.Table) {
	soap.Register(t, "HostCertificateManager", "GenerateCertificateSigningRequest", s.generateCSR)
	soap.Register(t, "HostCertificateManager", "GenerateCertificateSigningRequestByDn", s.generateCSRByDn)
	soap.Register(t, "HostCertificateManager", "InstallServerCertificate", s.installServerCertificate)
	soap.Register(t, "HostCertificateManager", "NotifyAffectedServices", s.notifyAffectedServices)
	soap.Register(t, "HostCertificateManager", "ReplaceCACertificatesAndCRLs", s.replaceCACertificates)
	soap.Register(t, "HostCertificateManager", "ListCACertificates", s.listCACertificates)
	soap.Register(t, "HostCertificateManager", "ListCACertificateRevocationLists", s.listCACRLs)
	soap.Register(t, "HostCertificateManager", "RetrieveCertificateInfoList", s.retrieveCertificateInfoList)
}

// hostCertManagerRef returns the MoRef of host's certificate manager.
func hostCertManagerRef(host types.ManagedObjectReference) types.ManagedObjectReference {
	return hostManagerRef("HostCertificateManager", "certificateManager", host)
}

// SetServerIdentity tells the service which certificate the server presents.
// The server calls it once, after Bootstrap and before serving. In ESX mode
// every host takes that certificate as its own.
func (s *Service) SetServerIdentity(ctx context.Context, id ServerIdentity) error {
	s.identity = id
	if !s.isESX() {
		return nil
	}
	pemBytes := s.serverCertificatePEM()
	if pemBytes == nil {
		return nil
	}
	var hosts []types.ManagedObjectReference
	s.reg.Each("HostSystem", func(o mo.Reference) bool {
		if h := o.(*mo.HostSystem); h.Config != nil && !bytes.Equal(h.Config.Certificate, pemBytes) {
			hosts = append(hosts, h.Self)
		}
		return true
	})
	if len(hosts) == 0 {
		return nil
	}
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		for _, h := range hosts {
			if e := inventory.Edit[mo.HostSystem](tx, h); e != nil && e.Config != nil {
				e.Config.Certificate = pemBytes
			}
		}
		return nil
	})
}

// serverCertificatePEM returns the chain the server presents in PEM, or nil
// when it serves plain HTTP.
func (s *Service) serverCertificatePEM() []byte {
	if s.identity == nil {
		return nil
	}
	var out []byte
	for _, der := range s.identity.Certificate().Certificate {
		out = append(out, tlsutil.CertPEM(der)...)
	}
	return out
}

// bootstrapHostCerts gives every stored host its certificate (when it has
// none) and its certificate manager with the manager's stored state.
func (s *Service) bootstrapHostCerts(ctx context.Context) error {
	stored, err := s.reg.MetaPrefix(ctx, hostCertMetaPrefix)
	if err != nil {
		return err
	}
	var hosts []types.ManagedObjectReference
	s.reg.Each("HostSystem", func(o mo.Reference) bool { hosts = append(hosts, o.Reference()); return true })
	return s.reg.Update(ctx, func(tx *inventory.Txn) error {
		for _, h := range hosts {
			if err := s.attachHostCertTxn(tx, h); err != nil {
				return err
			}
			if raw := stored[hostCertMetaPrefix+h.Value]; raw != "" {
				if err := restoreHostCertState(tx, h, raw); err != nil {
					s.log.Warn("host certificate manager: ignoring unreadable stored state", "host", h.Value, "err", err)
				}
			}
		}
		return nil
	})
}

func restoreHostCertState(tx *inventory.Txn, host types.ManagedObjectReference, raw string) error {
	var st hostCertState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return fmt.Errorf("api: decode host certificate state: %w", err)
	}
	m, ok := tx.Edit(hostCertManagerRef(host)).(*hostCertManager)
	if !ok {
		return nil
	}
	m.caCerts, m.caCrls = st.CACert, st.CACrl
	if st.CSRKey != "" {
		key, err := tlsutil.ParseKeyPEM([]byte(st.CSRKey))
		if err != nil {
			return err
		}
		m.csrKey = key
	}
	return nil
}

// hostCertHook keeps certificates and certificate managers in step with
// the hosts: a new host gets its certificate and manager, a deleted one
// loses them, and a changed certificate refreshes certificateInfo.
func (s *Service) hostCertHook(tx *inventory.Txn) error {
	for _, c := range tx.Changes() {
		if !inventory.IsA(c.Ref.Type, "HostSystem") {
			continue
		}
		switch c.Kind {
		case inventory.Enter:
			if err := checkGivenCertificate(c.New); err != nil {
				return err
			}
			if err := s.attachHostCertTxn(tx, c.Ref); err != nil {
				return err
			}
		case inventory.Leave:
			cm := hostCertManagerRef(c.Ref)
			if m, ok := tx.Get(cm).(*hostCertManager); ok {
				if m.csrKey != nil || len(m.caCerts)+len(m.caCrls) > 0 {
					tx.SetMeta(hostCertMetaPrefix+c.Ref.Value, "")
				}
				tx.Delete(cm)
			}
		case inventory.Modify:
			old, h := c.Old.(*mo.HostSystem), c.New.(*mo.HostSystem)
			if old.Config != nil && h.Config != nil && !bytes.Equal(old.Config.Certificate, h.Config.Certificate) {
				s.refreshCertInfoTxn(tx, h)
				if s.thumbprintStale(h) {
					s.syncThumbprint(inventory.Edit[mo.HostSystem](tx, h.Self))
				}
			}
		}
	}
	return nil
}

// checkGivenCertificate checks the certificate a new host comes with
// (HostSpec.Certificate). Faults: InvalidArgument.
func checkGivenCertificate(o mo.Reference) error {
	h, ok := o.(*mo.HostSystem)
	if !ok || h.Config == nil || len(h.Config.Certificate) == 0 {
		return nil
	}
	if _, err := parseCertChain(h.Config.Certificate); err != nil {
		return vim.InvalidArgument("spec.certificate", "The certificate of the host %s is unusable: %v. Give it in PEM, or none to have one issued.", h.Name, err)
	}
	return nil
}

// attachHostCertTxn gives host a certificate when it has none, points its
// configManager at its certificate manager, creates the manager when
// missing and fills in the host's TPM facts (host_tpm.go). It is
// idempotent.
func (s *Service) attachHostCertTxn(tx *inventory.Txn, host types.ManagedObjectReference) error {
	h, ok := tx.Get(host).(*mo.HostSystem)
	if !ok {
		return nil
	}
	cm := hostCertManagerRef(host)
	needCert := h.Config != nil && len(h.Config.Certificate) == 0
	needRef := h.ConfigManager.CertificateManager == nil || *h.ConfigManager.CertificateManager != cm
	if needCert || needRef || needsTPMFacts(h) || s.thumbprintStale(h) {
		e := inventory.Edit[mo.HostSystem](tx, host)
		if needCert {
			cert, err := s.newHostCertificate(e)
			if err != nil {
				return err
			}
			e.Config.Certificate = cert
		}
		e.ConfigManager.CertificateManager = &cm
		s.syncThumbprint(e)
		setTPMFacts(e)
		h = e
	}
	if tx.Get(cm) == nil {
		m := &hostCertManager{}
		m.Self = cm
		tx.Create(m, false)
		s.refreshCertInfoTxn(tx, h)
	}
	return nil
}

// newHostCertificate returns the PEM certificate a host without one gets.
func (s *Service) newHostCertificate(h *mo.HostSystem) ([]byte, error) {
	if s.isESX() {
		if pemBytes := s.serverCertificatePEM(); pemBytes != nil {
			return pemBytes, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("api: key for host %s: %w", h.Name, err)
	}
	now := s.now()
	der, err := tlsutil.SelfSigned(key, tlsutil.Leaf{
		Subject:   pkix.Name{CommonName: h.Name, Organization: []string{"Vireo"}, OrganizationalUnit: []string{"Vireo simulated ESXi host"}},
		Names:     []string{h.Name, hostManagementIP(h)},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(hostCertValidity),
	})
	if err != nil {
		return nil, err
	}
	return tlsutil.CertPEM(der), nil
}

// thumbprintStale reports whether h's summary.config.sslThumbprint is not
// that of its certificate. vCenter reports it; an ESX host leaves it unset.
func (s *Service) thumbprintStale(h *mo.HostSystem) bool {
	return !s.isESX() && h.Config != nil && h.Summary.Config.SslThumbprint != certThumbprint(h.Config.Certificate)
}

// syncThumbprint sets h's summary.config.sslThumbprint from its
// certificate (vCenter only).
func (s *Service) syncThumbprint(h *mo.HostSystem) {
	if !s.isESX() && h.Config != nil {
		h.Summary.Config.SslThumbprint = certThumbprint(h.Config.Certificate)
	}
}

// certThumbprint is the SHA-1 thumbprint of the leaf of a PEM chain in
// vSphere's form (colon-separated upper-case hex), or "" if there is none.
func certThumbprint(pemBytes []byte) string {
	chain, err := parseCertChain(pemBytes)
	if err != nil {
		return ""
	}
	return tlsutil.Thumbprint(tls.Certificate{Certificate: [][]byte{chain[0].Raw}})
}

// refreshCertInfoTxn sets the certificateInfo of h's manager from h's
// certificate.
func (s *Service) refreshCertInfoTxn(tx *inventory.Txn, h *mo.HostSystem) {
	cm := hostCertManagerRef(h.Self)
	if _, ok := tx.Get(cm).(*hostCertManager); !ok || h.Config == nil {
		return
	}
	m := tx.Edit(cm).(*hostCertManager)
	m.CertificateInfo = s.certificateInfo(h.Config.Certificate)
}

// certificateInfo describes the leaf of a PEM chain. Its status is
// "unknown" on an ESX host (which does not judge its own certificate) and
// otherwise follows vCenter's thresholds.
func (s *Service) certificateInfo(pemBytes []byte) types.HostCertificateManagerCertificateInfo {
	chain, err := parseCertChain(pemBytes)
	if err != nil {
		return types.HostCertificateManagerCertificateInfo{
			Status: string(types.HostCertificateManagerCertificateInfoCertificateStatusUnknown),
		}
	}
	var info object.HostCertificateInfo
	info.FromCertificate(chain[0])
	ci := info.HostCertificateManagerCertificateInfo
	ci.Status = string(types.HostCertificateManagerCertificateInfoCertificateStatusUnknown)
	if !s.isESX() {
		ci.Status = string(certStatus(chain[0].NotAfter.Sub(s.now())))
	}
	return ci
}

// certStatus is vCenter's status of a certificate expiring in left: its
// default thresholds are 240 days (soft), 60 and 30 days (hard).
func certStatus(left time.Duration) types.HostCertificateManagerCertificateInfoCertificateStatus {
	const day = 24 * time.Hour
	switch {
	case left <= 0:
		return types.HostCertificateManagerCertificateInfoCertificateStatusExpired
	case left < 30*day:
		return types.HostCertificateManagerCertificateInfoCertificateStatusExpirationImminent
	case left < 60*day:
		return types.HostCertificateManagerCertificateInfoCertificateStatusExpiringShortly
	case left < 240*day:
		return types.HostCertificateManagerCertificateInfoCertificateStatusExpiring
	}
	return types.HostCertificateManagerCertificateInfoCertificateStatusGood
}

// parseCertChain parses the CERTIFICATE blocks of pemBytes, leaf first.
func parseCertChain(pemBytes []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := pemBytes
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM-encoded certificate (-----BEGIN CERTIFICATE-----) found")
	}
	return chain, nil
}

// chainPEM encodes chain in PEM.
func chainPEM(chain []*x509.Certificate) []byte {
	var out []byte
	for _, c := range chain {
		out = append(out, tlsutil.CertPEM(c.Raw)...)
	}
	return out
}

// hostManagementIP returns the address of the host's management VMkernel
// NIC (vmk0), or its simulated address.
func hostManagementIP(h *mo.HostSystem) string {
	if h.Config != nil && h.Config.Network != nil {
		for _, v := range h.Config.Network.Vnic {
			if v.Spec.Ip != nil && v.Spec.Ip.IpAddress != "" && (v.Portgroup == "Management Network" || v.Device == "vmk0") {
				return v.Spec.Ip.IpAddress
			}
		}
	}
	return hostIP(h.Name)
}

// hostFQDN is the host's name when that is a DNS name, else the FQDN of
// its DNS configuration.
func hostFQDN(h *mo.HostSystem) string {
	if net.ParseIP(h.Name) == nil {
		return h.Name
	}
	if h.Config != nil && h.Config.Network != nil {
		if dns, ok := h.Config.Network.DnsConfig.(*types.HostDnsConfig); ok && dns.HostName != "" {
			return strings.TrimSuffix(dns.HostName+"."+dns.DomainName, ".")
		}
	}
	return h.Name
}

// certManagerOf returns the manager ctx.This and its host, which must be
// connected.
func certManagerOf(ctx *soap.Context, r objReader) (*hostCertManager, *mo.HostSystem, error) {
	h, err := hostOfManager(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	m, ok := r.Get(ctx.This).(*hostCertManager)
	if !ok {
		return nil, nil, vim.ManagedObjectNotFound(ctx.This)
	}
	return m, h, nil
}

// saveHostCertStateTxn stores m's own state.
func saveHostCertStateTxn(tx *inventory.Txn, m *hostCertManager) error {
	st := hostCertState{CACert: m.caCerts, CACrl: m.caCrls}
	if m.csrKey != nil {
		kp, err := tlsutil.KeyPEM(m.csrKey)
		if err != nil {
			return err
		}
		st.CSRKey = string(kp)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("api: encode host certificate state: %w", err)
	}
	_, host, _ := strings.Cut(m.Self.Value, "-")
	tx.SetMeta(hostCertMetaPrefix+host, string(raw))
	return nil
}

// installServerCertificate installs a certificate (with its chain) signed
// from the host's last CSR, or re-issued for the host's current key, as
// the host's certificate. Faults: HostConfigFault (not PEM, not a
// certificate, or a public key the host holds no private key for).
func (s *Service) installServerCertificate(ctx *soap.Context, req *types.InstallServerCertificate) (any, error) {
	chain, err := parseCertChain([]byte(req.Cert))
	if err != nil {
		return nil, vim.NewFault(&types.HostConfigFault{},
			"The certificate cannot be installed: %v. Pass the server certificate, optionally followed by its CA chain, in PEM.", err)
	}
	leaf := chain[0]
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		m, h, err := certManagerOf(ctx, tx)
		if err != nil {
			return err
		}
		if h.Config == nil {
			return vim.NewFault(&types.HostConfigFault{}, "The host %s reports no configuration to install a certificate in.", h.Name)
		}
		e := tx.Edit(ctx.This).(*hostCertManager)
		switch {
		case m.csrKey != nil && samePublicKey(m.csrKey.Public(), leaf.PublicKey):
			e.key, e.csrKey = m.csrKey, nil
			if err := saveHostCertStateTxn(tx, e); err != nil {
				return err
			}
		case hasPublicKey(h.Config.Certificate, leaf.PublicKey):
			// Re-issued for the current key: the server holds that key when it
			// holds the current certificate's.
		default:
			return vim.NewFault(&types.HostConfigFault{},
				"The certificate's public key does not match the private key of the host %s. Sign a certificate signing request from GenerateCertificateSigningRequest (govc host.cert.csr) and install the certificate issued for it.", h.Name)
		}
		inventory.Edit[mo.HostSystem](tx, h.Self).Config.Certificate = chainPEM(chain)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &types.InstallServerCertificateResponse{}, nil
}

// notifyAffectedServicesRequest is hostd's internal NotifyAffectedServices,
// which govmomi calls after InstallServerCertificate so that the host's
// services take the new certificate without a restart.
type notifyAffectedServicesRequest struct {
	This types.ManagedObjectReference `xml:"_this"`
}

// notifyAffectedServices makes the services use the installed certificate:
// in ESX mode the server then presents it. Faults: HostConfigFault (the
// server does not hold the certificate's private key).
func (s *Service) notifyAffectedServices(ctx *soap.Context, _ *notifyAffectedServicesRequest) (any, error) {
	m, h, err := certManagerOf(ctx, s.reg)
	if err != nil {
		return nil, err
	}
	if !s.isESX() || s.identity == nil || h.Config == nil {
		return nil, nil
	}
	chain, err := parseCertChain(h.Config.Certificate)
	if err != nil {
		return nil, vim.NewFault(&types.HostConfigFault{}, "The host's certificate is unreadable: %v.", err)
	}
	served := s.identity.Certificate()
	if len(served.Certificate) > 0 && bytes.Equal(served.Certificate[0], chain[0].Raw) {
		return nil, nil
	}
	key := m.key
	if key == nil || !samePublicKey(key.Public(), chain[0].PublicKey) {
		if sk, ok := served.PrivateKey.(crypto.Signer); ok && samePublicKey(sk.Public(), chain[0].PublicKey) {
			key = sk
		} else {
			return nil, vim.NewFault(&types.HostConfigFault{},
				"The host %s does not hold the private key of its certificate; install a certificate issued for a CSR from GenerateCertificateSigningRequest.", h.Name)
		}
	}
	next := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		next.Certificate = append(next.Certificate, c.Raw)
	}
	if err := s.identity.Replace(next); err != nil {
		return nil, vim.NewFault(&types.HostConfigFault{}, "The new certificate cannot be put in service: %v.", err)
	}
	return nil, nil
}

// samePublicKey reports whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// hasPublicKey reports whether the leaf of the PEM chain has public key pub.
func hasPublicKey(pemBytes []byte, pub crypto.PublicKey) bool {
	chain, err := parseCertChain(pemBytes)
	return err == nil && samePublicKey(chain[0].PublicKey, pub)
}

// replaceCACertificates replaces the host's trusted CA certificates and
// CRLs. Faults: HostConfigFault (an entry is not a PEM certificate or CRL).
func (s *Service) replaceCACertificates(ctx *soap.Context, req *types.ReplaceCACertificatesAndCRLs) (any, error) {
	certs, err := normalizePEMList(req.CaCert, "CERTIFICATE", func(der []byte) error { _, err := x509.ParseCertificate(der); return err })
	if err != nil {
		return nil, vim.NewFault(&types.HostConfigFault{}, "caCert: %v. Pass each CA certificate in PEM.", err)
	}
	crls, err := normalizePEMList(req.CaCrl, "X509 CRL", func(der []byte) error { _, err := x509.ParseRevocationList(der); return err })
	if err != nil {
		return nil, vim.NewFault(&types.HostConfigFault{}, "caCrl: %v. Pass each certificate revocation list in PEM.", err)
	}
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if _, _, err := certManagerOf(ctx, tx); err != nil {
			return err
		}
		e := tx.Edit(ctx.This).(*hostCertManager)
		e.caCerts, e.caCrls = certs, crls
		return saveHostCertStateTxn(tx, e)
	})
	if err != nil {
		return nil, err
	}
	return &types.ReplaceCACertificatesAndCRLsResponse{}, nil
}

// normalizePEMList checks that every entry holds PEM blocks of type typ that
// parse, and returns the entries re-encoded one block each.
func normalizePEMList(entries []string, typ string, parse func([]byte) error) ([]string, error) {
	var out []string
	for i, s := range entries {
		rest := []byte(s)
		n := 0
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != typ {
				return nil, fmt.Errorf("entry %d holds a %s block, not %s", i, b.Type, typ)
			}
			if err := parse(b.Bytes); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b.Bytes})))
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("entry %d is not PEM (-----BEGIN %s-----)", i, typ)
		}
	}
	return out, nil
}

func (s *Service) listCACertificates(ctx *soap.Context, _ *types.ListCACertificates) (any, error) {
	m, _, err := certManagerOf(ctx, s.reg)
	if err != nil {
		return nil, err
	}
	return &types.ListCACertificatesResponse{Returnval: m.caCerts}, nil
}

func (s *Service) listCACRLs(ctx *soap.Context, _ *types.ListCACertificateRevocationLists) (any, error) {
	m, _, err := certManagerOf(ctx, s.reg)
	if err != nil {
		return nil, err
	}
	return &types.ListCACertificateRevocationListsResponse{Returnval: m.caCrls}, nil
}

// retrieveCertificateInfoList lists the host's certificates: its machine
// certificate (Vireo models no VASA client certificate).
func (s *Service) retrieveCertificateInfoList(ctx *soap.Context, _ *types.RetrieveCertificateInfoList) (any, error) {
	m, _, err := certManagerOf(ctx, s.reg)
	if err != nil {
		return nil, err
	}
	info := m.CertificateInfo
	info.Kind = string(types.HostCertificateManagerCertificateKindMachine)
	return &types.RetrieveCertificateInfoListResponse{Returnval: []types.HostCertificateManagerCertificateInfo{info}}, nil
}
