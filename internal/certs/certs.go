// Package certs makes and loads the certificates that secure HarmoniaKV's
// ports: a cluster CA, node certificates, and client certificates that
// carry a role.
//
// The role of a certificate is its subject's organizational unit (OU):
// "node" for a node, "admin" for a client that may run the admin calls
// (leave, remove, repair, ...), "client" for any other client. Node
// certificates are for TLS servers and clients both (a node dials its
// peers); client certificates only for TLS clients.
//
// Loaded certificates are read again when their files change (checked at
// most once a second, when a handshake needs them), so a rotation needs no
// restart. Refused peers and files that fail to load are logged, at most
// one line a second (a peer that keeps dialling cannot flood the log).
package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Roles, as the OU of a certificate's subject.
const (
	RoleNode   = "node"
	RoleAdmin  = "admin"
	RoleClient = "client"
)

// Issued is a certificate and its private key, PEM-encoded.
type Issued struct {
	CertPEM, KeyPEM []byte
}

// NewCA makes a self-signed CA certificate (ECDSA P-256) valid for validity.
func NewCA(name string, validity time.Duration) (Issued, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"HarmoniaKV"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	return issue(tmpl, nil, nil, validity)
}

// Issue makes a certificate of role for name, signed by the CA. hosts (IP
// addresses or DNS names) become its subject alternative names; a node
// certificate needs the addresses its peers and clients dial.
func Issue(ca Issued, role, name string, hosts []string, validity time.Duration) (Issued, error) {
	if !slices.Contains([]string{RoleNode, RoleAdmin, RoleClient}, role) {
		return Issued{}, fmt.Errorf("role %q: must be node, admin or client", role)
	}
	caPair, err := tls.X509KeyPair(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		return Issued{}, fmt.Errorf("CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caPair.Certificate[0])
	if err != nil {
		return Issued{}, fmt.Errorf("CA: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"HarmoniaKV"}, OrganizationalUnit: []string{role}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if role == RoleNode {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(tmpl, caCert, caPair.PrivateKey, validity)
}

func issue(tmpl *x509.Certificate, parent *x509.Certificate, parentKey any, validity time.Duration) (Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Issued{}, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Minute) // clocks of peers differ a little
	tmpl.NotAfter = time.Now().Add(validity)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return Issued{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Role is the role a verified certificate carries ("" for none).
func Role(cert *x509.Certificate) string {
	for _, ou := range cert.Subject.OrganizationalUnit {
		if slices.Contains([]string{RoleNode, RoleAdmin, RoleClient}, ou) {
			return ou
		}
	}
	return ""
}

// Files names a certificate, its key and the CA that signs its peers.
type Files struct {
	Cert, Key, CA string
}

// Enabled reports whether TLS is asked for; Check, whether all three are.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Check refuses a partial set: TLS needs the certificate, its key and the CA.
func (f Files) Check() error {
	if f.Enabled() && (f.Cert == "" || f.Key == "" || f.CA == "") {
		return errors.New("TLS needs all three of --tls-cert, --tls-key and --tls-ca")
	}
	return nil
}

// reloader holds a key pair and a CA pool read from Files, read again when
// a file's modification time or size changes.
type reloader struct {
	files Files
	log   *throttledLog
	mu    sync.Mutex
	seen  string // the files' stamps when last read
	check time.Time
	pair  *tls.Certificate
	pool  *x509.CertPool
}

// reloadEvery bounds how often the files are looked at.
const reloadEvery = time.Second

func newReloader(f Files, log *slog.Logger) (*reloader, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	r := &reloader{files: f, log: newThrottledLog(log)}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reloader) stamps() string {
	var b bytes.Buffer
	for _, p := range []string{r.files.Cert, r.files.Key, r.files.CA} {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
		}
	}
	return b.String()
}

func (r *reloader) load() error {
	stamps := r.stamps()
	pair, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", r.files.Cert, r.files.Key, err)
	}
	caPEM, err := os.ReadFile(r.files.CA)
	if err != nil {
		return fmt.Errorf("TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("TLS CA %s: no PEM certificate in it", r.files.CA)
	}
	r.pair, r.pool, r.seen = &pair, pool, stamps
	return nil
}

// current returns the key pair and pool, read again if the files changed;
// a failed reload keeps the last good ones.
func (r *reloader) current() (*tls.Certificate, *x509.CertPool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.check) >= reloadEvery {
		r.check = now
		if r.stamps() != r.seen {
			if err := r.load(); err != nil {
				r.log.warn("TLS files changed but do not load; the certificates in use stay", "err", err)
			} else {
				r.log.info("TLS files changed; reloaded", "cert", r.files.Cert)
			}
		}
	}
	return r.pair, r.pool
}

// Reload reads the files again now (on SIGHUP), and reports a failure; the
// last good certificates stay in use.
func (r *reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check = time.Now()
	return r.load()
}

// side is what a server and a client share: the files, read again when
// they change, and the count of peer certificates refused.
type side struct {
	r       *reloader
	refused atomic.Uint64
}

func newSide(f Files, log *slog.Logger) (*side, error) {
	r, err := newReloader(f, log)
	if err != nil {
		return nil, err
	}
	return &side{r: r}, nil
}

// Reload reads the files again now.
func (s *side) Reload() error { return s.r.Reload() }

// Refused counts the peer certificates refused so far.
func (s *side) Refused() uint64 { return s.refused.Load() }

// NotAfter is when the certificate in use expires (zero if it does not
// parse, which loading already refused).
func (s *side) NotAfter() time.Time {
	pair, _ := s.r.current()
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return time.Time{}
	}
	return leaf.NotAfter
}

// refusal counts and logs err, a refused peer certificate, and returns it.
func (s *side) refusal(err error, whose string) error {
	if err != nil {
		s.refused.Add(1)
		s.r.log.warn("TLS: refused a "+whose+" certificate", "err", err)
	}
	return err
}

// Server is the TLS side of a server whose clients must present a
// certificate of the CA.
type Server struct{ *side }

// NewServer loads f. Refused clients are logged to log (nil: not logged).
func NewServer(f Files, log *slog.Logger) (*Server, error) {
	s, err := newSide(f, log)
	if err != nil {
		return nil, err
	}
	return &Server{s}, nil
}

// Config is the server's tls.Config: it presents the current certificate
// and requires a client certificate that the current CA signed and that
// has not expired.
func (s *Server) Config() *tls.Config { return s.config("") }

// NodeConfig is Config for the cluster port: the peer's certificate must
// also carry the node role, so a client certificate cannot act as a node.
func (s *Server) NodeConfig() *tls.Config { return s.config(RoleNode) }

func (s *Server) config(role string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAnyClientCert, // verified below, against the current CA
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			pair, _ := s.r.current()
			return pair, nil
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, pool := s.r.current()
			return s.refusal(verify(raw, pool, x509.ExtKeyUsageClientAuth, role), "client's")
		},
	}
}

// Client is the TLS side of a client: it presents its certificate and
// accepts servers the CA signed.
type Client struct{ *side }

// NewClient loads f. Refused servers are logged to log (nil: not logged).
func NewClient(f Files, log *slog.Logger) (*Client, error) {
	s, err := newSide(f, log)
	if err != nil {
		return nil, err
	}
	return &Client{s}, nil
}

// Config is the client's tls.Config for a server at serverName's host
// (verified against the certificate's names).
func (c *Client) Config() *tls.Config { return c.config("") }

// NodeConfig is Config for dialling a peer node: the server's certificate
// must also carry the node role.
func (c *Client) NodeConfig() *tls.Config { return c.config(RoleNode) }

func (c *Client) config(role string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below, against the current CA and the name dialled
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			pair, _ := c.r.current()
			return pair, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool := c.r.current()
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, pc := range cs.PeerCertificates {
				raw[i] = pc.Raw
			}
			err := verify(raw, pool, x509.ExtKeyUsageServerAuth, role)
			if err == nil && cs.ServerName != "" {
				err = cs.PeerCertificates[0].VerifyHostname(cs.ServerName)
			}
			return c.refusal(err, "server's")
		},
	}
}

// verify checks a peer's chain against pool, for usage, now, and its role
// when role is not empty; an expired certificate is refused saying so.
func verify(raw [][]byte, pool *x509.CertPool, usage x509.ExtKeyUsage, role string) error {
	if len(raw) == 0 {
		return errors.New("no certificate presented")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	if now := time.Now(); now.After(leaf.NotAfter) {
		return fmt.Errorf("certificate %q expired at %s", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("certificate %q: %w", leaf.Subject.CommonName, err)
	}
	if role != "" && Role(leaf) != role {
		return fmt.Errorf("certificate %q has the role %q, not %q", leaf.Subject.CommonName, Role(leaf), role)
	}
	return nil
}

// throttledLog writes at most one line of each message per logEvery and
// counts the lines it drops, so a peer that keeps dialling with a bad
// certificate cannot flood the log, nor hide a different message.
type throttledLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	msgs map[string]*throttled
}

type throttled struct {
	next    time.Time // lines before it are dropped
	dropped int
}

// logEvery is the least time between two lines of one message.
const logEvery = time.Second

func newThrottledLog(log *slog.Logger) *throttledLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &throttledLog{log: log, msgs: map[string]*throttled{}}
}

func (l *throttledLog) warn(msg string, args ...any) { l.emit(slog.LevelWarn, msg, args) }
func (l *throttledLog) info(msg string, args ...any) { l.emit(slog.LevelInfo, msg, args) }

func (l *throttledLog) emit(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.mu.Lock()
	m := l.msgs[msg]
	if m == nil {
		m = &throttled{}
		l.msgs[msg] = m
	}
	now := time.Now()
	if now.Before(m.next) {
		m.dropped++
		l.mu.Unlock()
		return
	}
	m.next = now.Add(logEvery)
	dropped := m.dropped
	m.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "dropped_before", dropped)
	}
	l.log.Log(ctx, level, msg, args...)
}
