package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustCA(t *testing.T) Issued {
	t.Helper()
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca Issued, role, name string, validity time.Duration) Issued {
	t.Helper()
	c, err := Issue(ca, role, name, []string{"127.0.0.1", "localhost"}, validity)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func write(t *testing.T, dir string, ca, c Issued) Files {
	t.Helper()
	f := Files{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), CA: filepath.Join(dir, "ca.pem")}
	for p, b := range map[string][]byte{f.Cert: c.CertPEM, f.Key: c.KeyPEM, f.CA: ca.CertPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// handshake runs one TLS handshake between a server and a client made from
// the given files, over a pipe, and returns the client's and server's errors.
func handshake(t *testing.T, server, client Files) (clientErr, serverErr error, peer *x509.Certificate) {
	t.Helper()
	return handshakeAs(t, server, client, false)
}

// handshakeAs is handshake with the cluster port's configs when nodes is
// set: both sides must then present node certificates.
func handshakeAs(t *testing.T, server, client Files, nodes bool) (clientErr, serverErr error, peer *x509.Certificate) {
	t.Helper()
	s, err := NewServer(server, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Loopback TCP, whose buffers let each side finish its handshake
	// without the other reading.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	type result struct {
		err  error
		peer *x509.Certificate
	}
	done := make(chan result, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		cfg := s.Config()
		if nodes {
			cfg = s.NodeConfig()
		}
		srv := tls.Server(conn, cfg)
		err = srv.Handshake()
		var peer *x509.Certificate
		if err == nil && len(srv.ConnectionState().PeerCertificates) > 0 {
			peer = srv.ConnectionState().PeerCertificates[0]
		}
		done <- result{err, peer}
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := c.Config()
	if nodes {
		cfg = c.NodeConfig()
	}
	cfg.ServerName = "127.0.0.1"
	tc := tls.Client(conn, cfg)
	clientErr = tc.Handshake()
	if clientErr == nil {
		// TLS 1.3: the server checks the client's certificate after the
		// client is done; a read shows whether it was refused.
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = tc.Read(make([]byte, 1))
	}
	r := <-done
	serverErr, peer = r.err, r.peer
	return clientErr, serverErr, peer
}

func TestMutualTLS(t *testing.T) {
	ca, rogueCA := mustCA(t), mustCA(t)
	node := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleNode, "n1", time.Hour))
	admin := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleAdmin, "alice", time.Hour))
	rogue := write(t, t.TempDir(), rogueCA, mustIssue(t, rogueCA, RoleAdmin, "mallory", time.Hour))
	expired := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleClient, "old", -time.Minute))
	asServer := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleClient, "bob", time.Hour))

	cErr, sErr, peer := handshake(t, node, admin)
	if cErr != nil || sErr != nil || Role(peer) != RoleAdmin || peer.Subject.CommonName != "alice" {
		t.Fatalf("node and admin: %v / %v, peer role %q", cErr, sErr, Role(peer))
	}
	if _, sErr, _ := handshake(t, node, Files{Cert: rogue.Cert, Key: rogue.Key, CA: node.CA}); sErr == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	if cErr, _, _ := handshake(t, Files{Cert: rogue.Cert, Key: rogue.Key, CA: rogue.CA}, admin); cErr == nil {
		t.Error("a server certificate of another CA was accepted")
	}
	if _, sErr, _ := handshake(t, node, expired); sErr == nil || !strings.Contains(sErr.Error(), "expired") {
		t.Errorf("an expired client certificate: %v, want refused as expired", sErr)
	}
	if cErr, _, _ := handshake(t, asServer, admin); cErr == nil {
		t.Error("a client certificate served as a node's")
	}
}

// A certificate rewritten on disk is the one the next handshake presents.
func TestRotation(t *testing.T) {
	ca := mustCA(t)
	dir := t.TempDir()
	files := write(t, dir, ca, mustIssue(t, ca, RoleNode, "before", time.Hour))
	s, err := NewServer(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := func() string {
		pair, err := s.Config().GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(pair.Certificate[0])
		return c.Subject.CommonName
	}
	if got := name(); got != "before" {
		t.Fatalf("presents %q", got)
	}
	write(t, dir, ca, mustIssue(t, ca, RoleNode, "after", 24*time.Hour))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := name(); got != "after" {
		t.Fatalf("after a reload presents %q, want after", got)
	}
	if left := time.Until(s.NotAfter()); left < 23*time.Hour || left > 25*time.Hour {
		t.Errorf("the rotated certificate expires in %s, want its 24 h", left)
	}
	// A broken file keeps the last good certificate.
	if err := os.WriteFile(files.Key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Error("a garbage key reloaded without error")
	}
	if got := name(); got != "after" {
		t.Fatalf("after a failed reload presents %q, want after", got)
	}
}

func TestIssue(t *testing.T) {
	ca := mustCA(t)
	if _, err := Issue(ca, "root", "x", nil, time.Hour); err == nil {
		t.Error("role root accepted")
	}
	c := mustIssue(t, ca, RoleNode, "n1", time.Hour)
	block, _ := pem.Decode(c.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if Role(cert) != RoleNode || len(cert.IPAddresses) != 1 || cert.DNSNames[0] != "localhost" {
		t.Fatalf("role %q, IPs %v, names %v", Role(cert), cert.IPAddresses, cert.DNSNames)
	}
	if err := (Files{Cert: "a"}).Check(); err == nil {
		t.Error("a partial set of files accepted")
	}
}

// On the cluster port only node certificates pass, both ways.
func TestNodeConfigsNeedTheNodeRole(t *testing.T) {
	ca := mustCA(t)
	n1 := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleNode, "n1", time.Hour))
	n2 := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleNode, "n2", time.Hour))
	admin := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleAdmin, "alice", time.Hour))
	if cErr, sErr, peer := handshakeAs(t, n1, n2, true); cErr != nil || sErr != nil || Role(peer) != RoleNode {
		t.Fatalf("two nodes: %v / %v", cErr, sErr)
	}
	if _, sErr, _ := handshakeAs(t, n1, admin, true); sErr == nil || !strings.Contains(sErr.Error(), `role "admin", not "node"`) {
		t.Errorf("an admin certificate dialled the cluster port: %v", sErr)
	}
}

// Refusals are logged, but a burst of them gives one line, and the next
// line counts what was dropped.
func TestRefusalsAreLoggedThrottled(t *testing.T) {
	var buf strings.Builder
	l := newThrottledLog(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 100 {
		l.warn("TLS: refused", "err", "certificate \"old\" expired")
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), "expired") {
		t.Fatalf("100 refusals in a burst logged %d lines:\n%s", n, buf.String())
	}
	l.warn("TLS files do not load", "err", "bad key")
	if !strings.Contains(buf.String(), "bad key") {
		t.Fatalf("another message was dropped with the burst:\n%s", buf.String())
	}
	l.msgs["TLS: refused"].next = time.Time{} // as if logEvery had passed
	l.warn("TLS: refused", "err", "again")
	if !strings.Contains(buf.String(), "dropped_before=99") {
		t.Fatalf("the next line does not count the 99 dropped:\n%s", buf.String())
	}
}

// A CA file holding the old and the new CA accepts certificates of both:
// the middle step of changing a cluster's CA.
func TestCABundleDuringCAChange(t *testing.T) {
	oldCA, newCA := mustCA(t), mustCA(t)
	dir := t.TempDir()
	server := write(t, dir, newCA, mustIssue(t, newCA, RoleNode, "n1", time.Hour))
	bundle := append(append([]byte{}, oldCA.CertPEM...), newCA.CertPEM...)
	if err := os.WriteFile(server.CA, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, ca := range map[string]Issued{"old": oldCA, "new": newCA} {
		client := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleClient, "app-"+name, time.Hour))
		if err := os.WriteFile(client.CA, bundle, 0o600); err != nil {
			t.Fatal(err)
		}
		if cErr, sErr, _ := handshake(t, server, client); cErr != nil || sErr != nil {
			t.Errorf("a client of the %s CA: %v / %v", name, cErr, sErr)
		}
	}
	other := mustCA(t)
	stranger := write(t, t.TempDir(), other, mustIssue(t, other, RoleClient, "stranger", time.Hour))
	if _, sErr, _ := handshake(t, server, Files{Cert: stranger.Cert, Key: stranger.Key, CA: server.CA}); sErr == nil {
		t.Error("a client of a third CA was accepted")
	}
}

// Every refused peer certificate is counted, on both sides.
func TestRefusalsAreCounted(t *testing.T) {
	ca, other := mustCA(t), mustCA(t)
	node := write(t, t.TempDir(), ca, mustIssue(t, ca, RoleNode, "n1", time.Hour))
	s, err := NewServer(node, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(node, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(i Issued) *x509.Certificate {
		block, _ := pem.Decode(i.CertPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	good, expired, stranger := leaf(mustIssue(t, ca, RoleNode, "n2", time.Hour)), leaf(mustIssue(t, ca, RoleNode, "old", -time.Minute)), leaf(mustIssue(t, other, RoleNode, "x", time.Hour))
	for _, cert := range []*x509.Certificate{good, expired, stranger} {
		s.NodeConfig().VerifyPeerCertificate([][]byte{cert.Raw}, nil)
		c.NodeConfig().VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}})
	}
	if s.Refused() != 2 || c.Refused() != 2 {
		t.Fatalf("refused %d as a server and %d as a client; want 2 and 2 (expired, other CA)", s.Refused(), c.Refused())
	}
}
