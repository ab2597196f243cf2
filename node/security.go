package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// A node's security mode, as status shows it.
const (
	// SecurityTLS: mutual TLS on the cluster and client ports.
	SecurityTLS = "tls"
	// SecurityInsecure: no TLS, and a port other machines can reach
	// (allowed only with --insecure). Every caller is trusted.
	SecurityInsecure = "insecure"
	// SecurityLoopback: no TLS, but both ports bind loopback only, so
	// every process on this machine is trusted and no other machine is.
	SecurityLoopback = "loopback"
)

// Binding is an address a node binds, named by the flag that sets it.
type Binding struct{ Flag, Addr string }

// Resolver looks a host name up (net.DefaultResolver.LookupNetIP's form,
// network "ip").
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// SecurityError refuses a start: the node would be reachable from other
// machines without TLS, or its flags contradict each other. Its text is
// one line that names the flag and says what to do.
type SecurityError struct{ msg string }

func (e *SecurityError) Error() string { return e.msg }

// Security decides a node's security mode from what it binds and whether
// it has TLS files (tls) and --insecure (insecure); an error refuses the
// start. The cluster and client ports are what count: they take writes
// and admin calls. The HTTP port only shows, is plain even with TLS, and
// is not among binds (see README, Security).
//
// It returns, for the caller's warning, the bindings other machines can
// reach when the mode is insecure.
func Security(ctx context.Context, binds []Binding, tls, insecure bool, resolve Resolver) (mode string, exposed []string, err error) {
	if tls && insecure {
		// Which one did the operator mean? Refuse rather than guess, as
		// CockroachDB does.
		return "", nil, &SecurityError{"--insecure and the --tls-* flags contradict each other: give the TLS files or --insecure, not both"}
	}
	if tls {
		return SecurityTLS, nil, nil
	}
	for _, b := range binds {
		loopback, why, err := LoopbackOnly(ctx, b.Addr, resolve)
		if err != nil {
			return "", nil, fmt.Errorf("%s %q: %w", b.Flag, b.Addr, err)
		}
		if loopback {
			continue
		}
		if !insecure {
			return "", nil, &SecurityError{fmt.Sprintf(
				"%s %s %s: without TLS every caller that reaches it would be trusted, admin calls included; add --tls-cert, --tls-key and --tls-ca (see `harmonia cert`), or --insecure to run that way knowingly",
				b.Flag, b.Addr, why)}
		}
		exposed = append(exposed, fmt.Sprintf("%s %s", b.Flag, b.Addr))
	}
	if len(exposed) > 0 {
		return SecurityInsecure, exposed, nil
	}
	return SecurityLoopback, nil, nil
}

// DynamoDBSecurity decides whether the DynamoDB endpoint may bind addr
// ("" is none): anywhere when it verifies signatures (verified) or with
// --insecure; else only loopback, for anyone who reaches it may create,
// delete, read and write tables. TLS on the other ports does not count:
// the endpoint authenticates by signatures, not certificates.
func DynamoDBSecurity(ctx context.Context, addr string, verified, insecure bool, resolve Resolver) error {
	if addr == "" || verified || insecure {
		return nil
	}
	loopback, why, err := LoopbackOnly(ctx, addr, resolve)
	if err != nil {
		return fmt.Errorf("--dynamodb %q: %w", addr, err)
	}
	if !loopback {
		return &SecurityError{fmt.Sprintf("--dynamodb %s %s: the DynamoDB endpoint verifies no signatures, so anyone who reaches it may create, delete, read and write tables; give --dynamodb-credentials, bind it to loopback, or give --insecure on a trusted network", addr, why)}
	}
	return nil
}

// lookupTimeout bounds the name lookup of a bind address.
const lookupTimeout = 5 * time.Second

// LoopbackOnly reports whether binding addr (host:port) can only take
// connections from this machine; why says otherwise, in words that follow
// the address ("binds every interface"). The rules:
//   - an empty host (":7000") and 0.0.0.0 or :: bind every interface;
//   - an IP is loopback if it is in 127.0.0.0/8 or is ::1 (IPv4-mapped too);
//   - "localhost" is loopback without a lookup;
//   - any other name is looked up, and is loopback only if every address
//     it has is: Listen binds one of them, so one that is not could be the
//     one bound. A name that does not resolve is not loopback.
func LoopbackOnly(ctx context.Context, addr string, resolve Resolver) (loopback bool, why string, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, "", err
	}
	if host == "" {
		return false, "binds every interface", nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		switch {
		case ip.Unmap().IsUnspecified():
			return false, "binds every interface", nil
		case ip.IsLoopback():
			return true, "", nil
		}
		return false, "is not a loopback address", nil
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true, "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ips, err := resolve(ctx, host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			err = errors.New(dnsErr.Err) // the host is named already
		}
		return false, fmt.Sprintf("names a host that could not be looked up (%v)", err), nil
	}
	if len(ips) == 0 {
		return false, "names a host with no addresses", nil
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false, fmt.Sprintf("resolves to %s, not a loopback address", ip), nil
		}
	}
	return true, "", nil
}

// DefaultResolver looks names up with the system's resolver.
func DefaultResolver(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
