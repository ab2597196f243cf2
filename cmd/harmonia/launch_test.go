package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/harmoniakv/harmonia/internal/certs"
)

// launch --tls makes a CA, a node certificate per node for 127.0.0.1 and
// an admin certificate, and keeps them across launches.
func TestLaunchCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := ensureLaunchCerts(dir, 2); err != nil {
		t.Fatal(err)
	}
	read := func(name string) *x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pool := x509.NewCertPool()
	pool.AddCert(read("ca"))
	for name, role := range map[string]string{"n1": certs.RoleNode, "n2": certs.RoleNode, "admin": certs.RoleAdmin} {
		c := read(name)
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || certs.Role(c) != role {
			t.Errorf("%s: %v, role %q (want %q)", name, err, certs.Role(c), role)
		}
		if role == certs.RoleNode && c.VerifyHostname("127.0.0.1") != nil {
			t.Errorf("%s is not valid for 127.0.0.1", name)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "n1.pem"))
	if err := ensureLaunchCerts(dir, 3); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "n1.pem"))
	if !bytes.Equal(before, after) {
		t.Error("a second launch replaced n1's certificate")
	}
	if _, err := os.Stat(filepath.Join(dir, "n3.pem")); err != nil {
		t.Errorf("a launch with a third node made no certificate for it: %v", err)
	}
}
