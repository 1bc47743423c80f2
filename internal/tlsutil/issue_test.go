package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestSelfSigned(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := SelfSigned(key, Leaf{
		Subject: pkix.Name{CommonName: "esx-01"}, Names: []string{"esx-01", "10.0.0.5", ""},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if c.IsCA || c.Subject.CommonName != "esx-01" || len(c.DNSNames) != 1 || c.DNSNames[0] != "esx-01" ||
		len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.5")) {
		t.Errorf("certificate %s, CA %v, DNS %v, IP %v", c.Subject, c.IsCA, c.DNSNames, c.IPAddresses)
	}
	if err := c.VerifyHostname("esx-01"); err != nil {
		t.Error(err)
	}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, key := range []crypto.Signer{ec, rk} {
		p, err := KeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseKeyPEM(append([]byte("junk\n"), p...))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
			t.Errorf("%T did not survive PEM", key)
		}
	}
	if _, err := ParseKeyPEM([]byte("no key")); err == nil {
		t.Error("ParseKeyPEM accepted data without a key")
	}
}

func TestIdentityReplace(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	first, err := LoadOrCreate(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := NewIdentity(first, certFile, keyFile)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := SelfSigned(key, Leaf{Subject: pkix.Name{CommonName: "next"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Replace(tls.Certificate{Certificate: [][]byte{der}}); err == nil {
		t.Error("Replace accepted a certificate without its key")
	}
	if err := id.Replace(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	served, _ := id.GetCertificate(nil)
	if string(served.Certificate[0]) != string(der) {
		t.Error("the identity does not serve the replacement")
	}
	reloaded, err := LoadOrCreate(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(reloaded.Certificate[0]) != string(der) {
		t.Error("the replacement was not written to the identity's files")
	}
}
