package api

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/tlsutil"
	"github.com/vireo-project/vireo/internal/vim"
)

// Certificate signing requests: each call generates a new RSA key pair, as
// ESXi does, whose private key the manager keeps until a certificate
// signed from it is installed (a later CSR replaces it). The CSR's subject
// alternative name is its common name: the host's management IP address or
// its FQDN.

func (s *Service) generateCSR(ctx *soap.Context, req *types.GenerateCertificateSigningRequest) (any, error) {
	csr, err := s.issueCSR(ctx, req.Spec, func(h *mo.HostSystem) (pkix.Name, error) {
		name := hostSubject(h)
		name.CommonName = hostFQDN(h)
		if req.UseIpAddressAsCommonName {
			name.CommonName = hostManagementIP(h)
		}
		return name, nil
	})
	if err != nil {
		return nil, err
	}
	return &types.GenerateCertificateSigningRequestResponse{Returnval: csr}, nil
}

func (s *Service) generateCSRByDn(ctx *soap.Context, req *types.GenerateCertificateSigningRequestByDn) (any, error) {
	name, err := parseDN(req.DistinguishedName)
	if err != nil {
		return nil, vim.InvalidArgument("distinguishedName",
			"%v. Give the subject as comma-separated attributes, such as CN=esx-01.example.com,O=Example,C=US.", err)
	}
	csr, err := s.issueCSR(ctx, req.Spec, func(*mo.HostSystem) (pkix.Name, error) { return name, nil })
	if err != nil {
		return nil, err
	}
	return &types.GenerateCertificateSigningRequestByDnResponse{Returnval: csr}, nil
}

// issueCSR generates a key pair and a CSR for the subject that subject
// returns for the host, keeps the key as the pending one and returns the
// CSR in PEM. Faults: NotSupported (a certificate kind other than the
// machine certificate), HostNotConnected, HostConfigFault.
func (s *Service) issueCSR(ctx *soap.Context, spec *types.HostCertificateManagerCertificateSpec, subject func(*mo.HostSystem) (pkix.Name, error)) (string, error) {
	if spec != nil && spec.Kind != "" && spec.Kind != string(types.HostCertificateManagerCertificateKindMachine) {
		return "", vim.NotSupported("Vireo hosts have only a %s certificate, not a %s one.", types.HostCertificateManagerCertificateKindMachine, spec.Kind)
	}
	_, h, err := certManagerOf(ctx, s.reg)
	if err != nil {
		return "", err
	}
	name, err := subject(h)
	if err != nil {
		return "", err
	}
	key, err := rsa.GenerateKey(rand.Reader, csrKeyBits)
	if err != nil {
		return "", vim.NewFault(&types.HostConfigFault{}, "Cannot generate a key pair for the CSR: %v.", err)
	}
	tmpl := &x509.CertificateRequest{Subject: name, SignatureAlgorithm: x509.SHA256WithRSA}
	tmpl.DNSNames, tmpl.IPAddresses = tlsutil.SplitNames([]string{name.CommonName})
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", vim.NewFault(&types.HostConfigFault{}, "Cannot generate the CSR for %s: %v.", name.CommonName, err)
	}
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		if _, _, err := certManagerOf(ctx, tx); err != nil {
			return err
		}
		m := tx.Edit(ctx.This).(*hostCertManager)
		m.csrKey = key
		return saveHostCertStateTxn(tx, m)
	})
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// hostSubject returns the subject of the host's certificate without its
// common name: the organization and location a CSR keeps.
func hostSubject(h *mo.HostSystem) pkix.Name {
	var name pkix.Name
	if h.Config == nil {
		return name
	}
	if chain, err := parseCertChain(h.Config.Certificate); err == nil {
		s := chain[0].Subject
		name.Country, name.Province, name.Locality = s.Country, s.Province, s.Locality
		name.Organization, name.OrganizationalUnit = s.Organization, s.OrganizationalUnit
	}
	return name
}

// Object identifiers of DN attributes pkix.Name has no field for.
var (
	oidEmailAddress    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDomainComponent = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
)

// parseDN parses a distinguished name in the RFC 4514 string form
// ("CN=esx-01.example.com,OU=Lab,O=Example,C=US"; a backslash escapes a
// special character) into a subject, which must name a CN.
func parseDN(dn string) (pkix.Name, error) {
	var name pkix.Name
	for _, rdn := range splitUnescaped(dn, ',') {
		attr, value, ok := strings.Cut(rdn, "=")
		attr, value = strings.TrimSpace(attr), unescapeDN(strings.TrimSpace(value))
		if !ok || attr == "" || value == "" {
			return name, fmt.Errorf("%q is not an attribute=value pair", strings.TrimSpace(rdn))
		}
		switch strings.ToUpper(attr) {
		case "CN":
			name.CommonName = value
		case "O":
			name.Organization = append(name.Organization, value)
		case "OU":
			name.OrganizationalUnit = append(name.OrganizationalUnit, value)
		case "L":
			name.Locality = append(name.Locality, value)
		case "ST", "S":
			name.Province = append(name.Province, value)
		case "C":
			name.Country = append(name.Country, value)
		case "STREET":
			name.StreetAddress = append(name.StreetAddress, value)
		case "POSTALCODE":
			name.PostalCode = append(name.PostalCode, value)
		case "SERIALNUMBER":
			name.SerialNumber = value
		case "E", "EMAILADDRESS":
			name.ExtraNames = append(name.ExtraNames, pkix.AttributeTypeAndValue{Type: oidEmailAddress, Value: value})
		case "DC":
			name.ExtraNames = append(name.ExtraNames, pkix.AttributeTypeAndValue{Type: oidDomainComponent, Value: value})
		default:
			return name, fmt.Errorf("unknown attribute %q (known: CN, O, OU, L, ST, C, STREET, POSTALCODE, SERIALNUMBER, E, DC)", attr)
		}
	}
	if name.CommonName == "" {
		return name, fmt.Errorf("the distinguished name %q has no CN", dn)
	}
	if net.ParseIP(name.CommonName) == nil && strings.ContainsAny(name.CommonName, " /") {
		return name, fmt.Errorf("the CN %q is neither an IP address nor a host name", name.CommonName)
	}
	return name, nil
}

// splitUnescaped splits s at each sep not preceded by a backslash.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescapeDN removes the backslashes escaping characters in a DN value.
func unescapeDN(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
