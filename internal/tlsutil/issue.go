package tlsutil

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Leaf describes a self-signed end-entity (server) certificate to issue.
type Leaf struct {
	// Subject is the certificate's subject and issuer.
	Subject pkix.Name
	// Names are the subject alternative names: IP addresses become IP SANs,
	// anything else a DNS SAN. Empty names are skipped.
	Names []string
	// NotBefore and NotAfter bound the validity.
	NotBefore, NotAfter time.Time
}

// SelfSigned issues leaf signed by key (an *ecdsa.PrivateKey or
// *rsa.PrivateKey) and returns its DER bytes. It is a TLS server
// certificate, not a CA.
func SelfSigned(key crypto.Signer, leaf Leaf) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               leaf.Subject,
		NotBefore:             leaf.NotBefore,
		NotAfter:              leaf.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	tmpl.DNSNames, tmpl.IPAddresses = SplitNames(leaf.Names)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: certificate for %s: %w", leaf.Subject.CommonName, err)
	}
	return der, nil
}

// SplitNames sorts host names into DNS names and IP addresses, skipping
// empty ones.
func SplitNames(names []string) (dns []string, ips []net.IP) {
	for _, h := range names {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else if h != "" {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// serialNumber returns a random positive certificate serial number.
func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		// crypto/rand does not fail on supported platforms; a fixed serial
		// still yields a valid certificate.
		return big.NewInt(1)
	}
	return n.Add(n, big.NewInt(1))
}

// CertPEM returns der as a PEM "CERTIFICATE" block.
func CertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// KeyPEM returns key as a PEM "PRIVATE KEY" (PKCS #8) block.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKeyPEM returns the private key of the first PEM "PRIVATE KEY"
// (PKCS #8), "EC PRIVATE KEY" or "RSA PRIVATE KEY" block in data.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("tlsutil: no private key in PEM data")
		}
		var (
			key any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tlsutil: parse %s: %w", b.Type, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("tlsutil: unsupported private key type %T", key)
		}
		return s, nil
	}
}

// Identity is the certificate a TLS server presents, which can be replaced
// while it serves (as an ESXi host agent does when a new certificate is
// installed). It is safe for concurrent use.
type Identity struct {
	mu   sync.RWMutex
	cert tls.Certificate
	// certFile and keyFile, when set, receive a replacement so that it
	// survives a restart.
	certFile, keyFile string
}

// NewIdentity returns an Identity serving cert. A Replace writes the new
// certificate and key to certFile and keyFile when both are non-empty (pass
// empty names for files the server does not own, such as ones an
// administrator provided).
func NewIdentity(cert tls.Certificate, certFile, keyFile string) *Identity {
	return &Identity{cert: cert, certFile: certFile, keyFile: keyFile}
}

// Certificate returns the certificate being served.
func (id *Identity) Certificate() tls.Certificate {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.cert
}

// GetCertificate is a tls.Config.GetCertificate returning the certificate
// being served.
func (id *Identity) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := id.Certificate()
	return &c, nil
}

// Replace serves cert from the next TLS handshake on, after writing it to
// the identity's files (if it has them). cert must hold its chain (leaf
// first) and a private key matching the leaf.
func (id *Identity) Replace(cert tls.Certificate) error {
	if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return errors.New("tlsutil: a replacement certificate needs its chain and private key")
	}
	if id.certFile != "" && id.keyFile != "" {
		if err := writeIdentity(id.certFile, id.keyFile, cert); err != nil {
			return err
		}
	}
	id.mu.Lock()
	id.cert = cert
	id.mu.Unlock()
	return nil
}

// writeIdentity writes cert's chain and key in PEM, each file replaced
// atomically.
func writeIdentity(certFile, keyFile string, cert tls.Certificate) error {
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("tlsutil: unsupported private key type %T", cert.PrivateKey)
	}
	kb, err := KeyPEM(signer)
	if err != nil {
		return err
	}
	var cb []byte
	for _, der := range cert.Certificate {
		cb = append(cb, CertPEM(der)...)
	}
	if err := writeAtomic(keyFile, kb, 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, cb, 0o644)
}

func writeAtomic(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsutil: write %s: %w", name, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsutil: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlsutil: write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	return nil
}
