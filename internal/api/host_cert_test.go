package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/api"
	"github.com/vireo-project/vireo/internal/app"
	"github.com/vireo-project/vireo/internal/model"
	"github.com/vireo-project/vireo/internal/testserver"
)

// certManager returns the host's certificate manager as the client finds it.
func certManager(t *testing.T, f *invFixture, host types.ManagedObjectReference) *object.HostCertificateManager {
	t.Helper()
	m, err := object.NewHostSystem(f.c, host).ConfigManager().CertificateManager(f.ctx)
	if err != nil {
		t.Fatalf("certificate manager of %s: %v", host, err)
	}
	return m
}

// hostCert returns the leaf of the host's config.certificate.
func hostCert(t *testing.T, f *invFixture, host types.ManagedObjectReference) (*x509.Certificate, []byte) {
	t.Helper()
	var h mo.HostSystem
	f.props(host, &h, "config.certificate")
	return parsePEMCert(t, h.Config.Certificate), h.Config.Certificate
}

func parsePEMCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemBytes)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", pemBytes)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseCSR(t *testing.T, s string) *x509.CertificateRequest {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("not a PEM CSR: %q", s)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	return csr
}

// testCA signs certificates for CSRs.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca", Organization: []string{"Test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// sign issues a certificate for csr, valid for days, in PEM.
func (ca *testCA) sign(t *testing.T, csr *x509.CertificateRequest, days int) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject,
		DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().AddDate(0, 0, days),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestHostCertificateIssuedAtAdd(t *testing.T) {
	f, host := hostCfgFixture(t)
	cert, _ := hostCert(t, f, host.Reference())
	if cert.Subject.CommonName != "esx-01.example.com" || !slices.Contains(cert.DNSNames, "esx-01.example.com") {
		t.Errorf("certificate subject %s, DNS SANs %v; want the host's name", cert.Subject, cert.DNSNames)
	}
	if len(cert.IPAddresses) != 1 {
		t.Errorf("IP SANs %v, want the management address", cert.IPAddresses)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || cert.IsCA {
		t.Errorf("key %T, CA %v; want an ECDSA server certificate", cert.PublicKey, cert.IsCA)
	}

	info, err := certManager(t, f, host.Reference()).CertificateInfo(f.ctx)
	mustOK(t, err)
	if info.Status != "good" || !strings.Contains(info.Subject, "CN=esx-01.example.com") || info.Issuer != info.Subject {
		t.Errorf("certificateInfo = %+v, want a good self-signed certificate for the host", info.HostCertificateManagerCertificateInfo)
	}
	if info.NotAfter == nil || !info.NotAfter.Equal(cert.NotAfter) {
		t.Errorf("notAfter %v, want the certificate's %v", info.NotAfter, cert.NotAfter)
	}

	other := f.host(hostParentOf(t, f, host.Reference()), "esx-02.example.com")
	if c2, _ := hostCert(t, f, other); c2.Equal(cert) {
		t.Error("two hosts share a certificate")
	}
}

// hostParentOf returns the compute resource a host is in.
func hostParentOf(t *testing.T, f *invFixture, host types.ManagedObjectReference) types.ManagedObjectReference {
	t.Helper()
	var h mo.HostSystem
	f.props(host, &h, "parent")
	return *h.Parent
}

func TestHostCertificateCSR(t *testing.T) {
	f, host := hostCfgFixture(t)
	m := certManager(t, f, host.Reference())
	tests := []struct {
		name   string
		csr    func() (string, error)
		wantCN string
		wantIP bool
	}{
		{"fqdn", func() (string, error) { return m.GenerateCertificateSigningRequest(f.ctx, false) }, "esx-01.example.com", false},
		{"ip", func() (string, error) { return m.GenerateCertificateSigningRequest(f.ctx, true) }, "127.0.0.1", true},
		{"dn", func() (string, error) {
			return m.GenerateCertificateSigningRequestByDn(f.ctx, `CN=esx-01.lab,OU=Lab\, West,O=Example,C=US`)
		}, "esx-01.lab", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.csr()
			mustOK(t, err)
			csr := parseCSR(t, s)
			if csr.Subject.CommonName != tc.wantCN {
				t.Errorf("CN %q, want %q", csr.Subject.CommonName, tc.wantCN)
			}
			if got := len(csr.IPAddresses) > 0; got != tc.wantIP || got == (len(csr.DNSNames) > 0) {
				t.Errorf("SANs: IP %v, DNS %v; want only an IP SAN: %v", csr.IPAddresses, csr.DNSNames, tc.wantIP)
			}
			if _, ok := csr.PublicKey.(*rsa.PublicKey); !ok {
				t.Errorf("CSR key %T, want RSA", csr.PublicKey)
			}
		})
	}
	s, err := m.GenerateCertificateSigningRequestByDn(f.ctx, `CN=esx-01.lab,OU=Lab\, West,O=Example,C=US`)
	mustOK(t, err)
	csr := parseCSR(t, s)
	if ou := csr.Subject.OrganizationalUnit; len(ou) != 1 || ou[0] != "Lab, West" {
		t.Errorf("OU %q, want the escaped comma kept", ou)
	}
	for _, dn := range []string{"", "O=Example", "CN=", "XX=1,CN=a", "garbage"} {
		_, err := m.GenerateCertificateSigningRequestByDn(f.ctx, dn)
		wantFault(t, err, &types.InvalidArgument{})
	}
}

// newCSR has the host generate a CSR and returns it parsed.
func newCSR(t *testing.T, f *invFixture, m *object.HostCertificateManager, useIP bool) *x509.CertificateRequest {
	t.Helper()
	s, err := m.GenerateCertificateSigningRequest(f.ctx, useIP)
	mustOK(t, err)
	return parseCSR(t, s)
}

func TestHostCertificateInstall(t *testing.T) {
	f, host := hostCfgFixture(t)
	m := certManager(t, f, host.Reference())
	ca := newTestCA(t)
	_, before := hostCert(t, f, host.Reference())

	t.Run("garbage", func(t *testing.T) {
		for _, bad := range []string{"", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
			wantFault(t, m.InstallServerCertificate(f.ctx, bad), &types.HostConfigFault{})
		}
	})
	t.Run("foreign key", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}
		der, _ := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		foreign, _ := x509.ParseCertificateRequest(der)
		wantFault(t, m.InstallServerCertificate(f.ctx, ca.sign(t, foreign, 30)), &types.HostConfigFault{})
	})
	if _, now := hostCert(t, f, host.Reference()); string(now) != string(before) {
		t.Fatal("a refused certificate changed the host's")
	}

	csr := newCSR(t, f, m, false)
	signed := ca.sign(t, csr, 45)
	mustOK(t, m.InstallServerCertificate(f.ctx, signed+ca.pem()))
	cert, chain := hostCert(t, f, host.Reference())
	if cert.Issuer.CommonName != "test-ca" || strings.Count(string(chain), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("host certificate issued by %s with %d certificates, want the CA's with its chain", cert.Issuer, strings.Count(string(chain), "BEGIN"))
	}
	info, err := m.CertificateInfo(f.ctx)
	mustOK(t, err)
	if !strings.Contains(info.Issuer, "CN=test-ca") || info.Status != "expiringShortly" {
		t.Errorf("certificateInfo %+v, want issuer test-ca, status expiringShortly (45 days left)", info.HostCertificateManagerCertificateInfo)
	}
	// A certificate re-issued for the same key installs too.
	mustOK(t, m.InstallServerCertificate(f.ctx, ca.sign(t, csr, 400)))
	if info, _ := m.CertificateInfo(f.ctx); info.Status != "good" {
		t.Errorf("status %q after renewal, want good", info.Status)
	}
}

func TestHostCertificateCAListsAndRestart(t *testing.T) {
	f, host := hostCfgFixture(t)
	m := certManager(t, f, host.Reference())
	ca := newTestCA(t)
	list, err := m.ListCACertificates(f.ctx)
	mustOK(t, err)
	if len(list) != 0 {
		t.Fatalf("new host trusts %d CAs, want none", len(list))
	}
	wantFault(t, m.ReplaceCACertificatesAndCRLs(f.ctx, []string{"junk"}, nil), &types.HostConfigFault{})
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().AddDate(0, 1, 0)}, ca.cert, ca.key)
	mustOK(t, err)
	crl := string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crlDER}))
	mustOK(t, m.ReplaceCACertificatesAndCRLs(f.ctx, []string{ca.pem()}, []string{crl}))
	csr := newCSR(t, f, m, true)
	_, certBefore := hostCert(t, f, host.Reference())

	dir := f.srv.DataDir
	f.srv.Close()
	g := newInv(t, testserver.WithDataDir(dir))
	m = certManager(t, g, host.Reference())
	if _, c := hostCert(t, g, host.Reference()); string(c) != string(certBefore) {
		t.Error("the host's certificate changed across a restart")
	}
	certs, err := m.ListCACertificates(g.ctx)
	mustOK(t, err)
	crls, err := m.ListCACertificateRevocationLists(g.ctx)
	mustOK(t, err)
	if len(certs) != 1 || parsePEMCert(t, []byte(certs[0])).Subject.CommonName != "test-ca" || len(crls) != 1 {
		t.Errorf("after restart: CA certificates %d, CRLs %d; want the ones replaced", len(certs), len(crls))
	}
	// The CSR's key survived: its certificate installs.
	mustOK(t, m.InstallServerCertificate(g.ctx, ca.sign(t, csr, 365)))
}

func TestHostCertificateManagerGone(t *testing.T) {
	f, host := hostCfgFixture(t)
	m := certManager(t, f, host.Reference())
	mustOK(t, f.wait(host.EnterMaintenanceMode(f.ctx, 0, false, nil)))
	mustOK(t, f.wait(host.Destroy(f.ctx)))
	if f.exists(m.Reference()) {
		t.Error("the certificate manager outlived its host")
	}
}

// esxFixture is a server in ESX mode (vcsim -esx) with its model built.
func esxFixture(t *testing.T) (*invFixture, types.ManagedObjectReference) {
	t.Helper()
	f := newInv(t, func(c *app.Config) { c.Sim = &app.SimOptions{ESX: true} })
	mustOK(t, model.Build(f.ctx, f.svc, model.ESX()))
	var hosts []types.ManagedObjectReference
	f.svc.Registry().Each("HostSystem", func(o mo.Reference) bool { hosts = append(hosts, o.Reference()); return true })
	if len(hosts) != 1 {
		t.Fatalf("ESX model has %d hosts, want 1", len(hosts))
	}
	return f, hosts[0]
}

// servedCert returns the certificate the server presents.
func servedCert(t *testing.T, f *invFixture) *x509.Certificate {
	t.Helper()
	u, err := url.Parse(f.srv.URL())
	mustOK(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	mustOK(t, err)
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

func TestESXHostCertificateIsServers(t *testing.T) {
	f, host := esxFixture(t)
	cert, _ := hostCert(t, f, host)
	if !cert.Equal(servedCert(t, f)) {
		t.Fatal("in ESX mode the host's certificate is not the one the server presents")
	}
	m := certManager(t, f, host)
	info, err := m.CertificateInfo(f.ctx)
	mustOK(t, err)
	if info.Status != "unknown" || !info.NotAfter.Equal(cert.NotAfter) {
		t.Errorf("certificateInfo %+v, want status unknown (an ESX host does not judge it) and the served notAfter", info.HostCertificateManagerCertificateInfo)
	}

	// Install through govmomi (which calls NotifyAffectedServices): the
	// server then presents the new certificate.
	ca := newTestCA(t)
	csr := newCSR(t, f, m, true)
	mustOK(t, m.InstallServerCertificate(f.ctx, ca.sign(t, csr, 365)))
	served := servedCert(t, f)
	if served.Issuer.CommonName != "test-ca" || !served.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("server presents %s issued by %s, want the installed certificate", served.Subject, served.Issuer)
	}
	if now, _ := hostCert(t, f, host); !now.Equal(served) {
		t.Error("host and server certificates differ after the install")
	}
}

func TestHostCertificateGiven(t *testing.T) {
	f := newInv(t)
	dc := f.datacenter("DC1")
	ca := newTestCA(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "agent-01"}}, key)
	csr, _ := x509.ParseCertificateRequest(der)
	given := ca.sign(t, csr, 365)

	ref, err := f.svc.AddHost(f.ctx, testUser, dc.HostFolder, api.HostSpec{Name: "agent-01", Certificate: []byte(given)})
	mustOK(t, err)
	if _, got := hostCert(t, f, ref); string(got) != given {
		t.Error("the host does not keep the certificate it was added with")
	}
	_, err = f.svc.AddHost(f.ctx, testUser, dc.HostFolder, api.HostSpec{Name: "agent-02", Certificate: []byte("junk")})
	wantFault(t, err, &types.InvalidArgument{})
	f.svc.Registry().Each("HostSystem", func(o mo.Reference) bool {
		if o.(*mo.HostSystem).Name == "agent-02" {
			t.Error("a host with an unusable certificate was added")
		}
		return true
	})
}

func TestHostSSLThumbprint(t *testing.T) {
	f, host := hostCfgFixture(t)
	thumb := func() string {
		var h mo.HostSystem
		f.props(host.Reference(), &h, "summary.config.sslThumbprint")
		return h.Summary.Config.SslThumbprint
	}
	cert, _ := hostCert(t, f, host.Reference())
	if got, want := thumb(), soap.ThumbprintSHA1(cert); got != want {
		t.Fatalf("sslThumbprint %q, want the certificate's %q", got, want)
	}
	m := certManager(t, f, host.Reference())
	mustOK(t, m.InstallServerCertificate(f.ctx, newTestCA(t).sign(t, newCSR(t, f, m, false), 90)))
	cert, _ = hostCert(t, f, host.Reference())
	if got, want := thumb(), soap.ThumbprintSHA1(cert); got != want {
		t.Errorf("after install sslThumbprint %q, want the new certificate's %q", got, want)
	}
}
