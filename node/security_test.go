package node

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeDNS answers from a fixed table; a name not in it does not resolve.
func fakeDNS(ctx context.Context, host string) ([]netip.Addr, error) {
	table := map[string][]string{
		"lo.example":     {"127.0.0.1", "::1"},
		"lo6.example":    {"::1"},
		"mixed.example":  {"127.0.0.1", "10.0.0.5"},
		"public.example": {"203.0.113.7"},
		"empty.example":  {},
	}
	addrs, ok := table[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		rule, addr string
		loopback   bool
		why, err   string
	}{
		{rule: "127.0.0.1 is loopback", addr: "127.0.0.1:7000", loopback: true},
		{rule: "all of 127.0.0.0/8 is loopback", addr: "127.3.2.1:7000", loopback: true},
		{rule: "::1 is loopback", addr: "[::1]:7000", loopback: true},
		{rule: "IPv4-mapped loopback is loopback", addr: "[::ffff:127.0.0.1]:7000", loopback: true},
		{rule: "localhost is loopback without a lookup", addr: "localhost:7000", loopback: true},
		{rule: "localhost in capitals, fully qualified, likewise", addr: "LOCALHOST.:7000", loopback: true},
		{rule: "an empty host binds every interface", addr: ":7000", why: "binds every interface"},
		{rule: "0.0.0.0 binds every interface", addr: "0.0.0.0:7000", why: "binds every interface"},
		{rule: ":: binds every interface", addr: "[::]:7000", why: "binds every interface"},
		{rule: "IPv4-mapped 0.0.0.0 binds every interface", addr: "[::ffff:0.0.0.0]:7000", why: "binds every interface"},
		{rule: "a private address is not loopback", addr: "10.213.0.2:7000", why: "is not a loopback address"},
		{rule: "a link-local address with a zone is not loopback", addr: "[fe80::1%eth0]:7000", why: "is not a loopback address"},
		{rule: "a name whose every address is loopback is loopback", addr: "lo.example:7000", loopback: true},
		{rule: "a name of IPv6 loopback only is loopback", addr: "lo6.example:7000", loopback: true},
		{rule: "a name with one non-loopback address is not loopback", addr: "mixed.example:7000", why: "resolves to 10.0.0.5"},
		{rule: "a name of a public address is not loopback", addr: "public.example:7000", why: "resolves to 203.0.113.7"},
		{rule: "a name that does not resolve is not loopback", addr: "nowhere.example:7000", why: "could not be looked up (no such host)"},
		{rule: "a name with no addresses is not loopback", addr: "empty.example:7000", why: "no addresses"},
		{rule: "an address without a port is an error", addr: "127.0.0.1", err: "missing port"},
	} {
		loopback, why, err := LoopbackOnly(context.Background(), tc.addr, fakeDNS)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %q: error %v, want one containing %q", tc.rule, tc.addr, err, tc.err)
			}
			continue
		}
		if err != nil || loopback != tc.loopback || !strings.Contains(why, tc.why) || (tc.loopback && why != "") {
			t.Errorf("%s: %q: loopback %v, why %q, err %v; want %v, %q", tc.rule, tc.addr, loopback, why, err, tc.loopback, tc.why)
		}
	}
}

func TestSecurity(t *testing.T) {
	lo := []Binding{{"--listen", "127.0.0.1:7001"}, {"--client", "localhost:8001"}}
	wild := []Binding{{"--listen", "0.0.0.0:7000"}, {"--client", "127.0.0.1:8000"}}
	wildClient := []Binding{{"--listen", "127.0.0.1:7000"}, {"--client", "[::]:8000"}}
	both := []Binding{{"--listen", "10.0.0.5:7000"}, {"--client", ":8000"}}
	for _, tc := range []struct {
		rule          string
		binds         []Binding
		tls, insecure bool
		mode          string
		exposed       []string
		refused       string // a SecurityError containing this
	}{
		{rule: "TLS is tls, whatever is bound", binds: both, tls: true, mode: SecurityTLS},
		{rule: "loopback without TLS is loopback", binds: lo, mode: SecurityLoopback},
		{rule: "--insecure on loopback changes nothing: still loopback", binds: lo, insecure: true, mode: SecurityLoopback},
		{rule: "a non-loopback cluster port without TLS is refused, naming the flag and address",
			binds: wild, refused: "--listen 0.0.0.0:7000 binds every interface: without TLS"},
		{rule: "a non-loopback client port without TLS is refused", binds: wildClient, refused: "--client [::]:8000 binds every interface"},
		{rule: "the refusal says what to add", binds: wild, refused: "add --tls-cert, --tls-key and --tls-ca (see `harmonia cert`), or --insecure"},
		{rule: "--insecure allows it, and names what other machines reach",
			binds: both, insecure: true, mode: SecurityInsecure, exposed: []string{"--listen 10.0.0.5:7000", "--client :8000"}},
		{rule: "--insecure with TLS contradicts itself and is refused", binds: lo, tls: true, insecure: true, refused: "--insecure and the --tls-* flags contradict"},
	} {
		mode, exposed, err := Security(context.Background(), tc.binds, tc.tls, tc.insecure, fakeDNS)
		var se *SecurityError
		if tc.refused != "" {
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.refused) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: %v, want a one-line refusal containing %q", tc.rule, err, tc.refused)
			}
			continue
		}
		if err != nil || mode != tc.mode || !slices.Equal(exposed, tc.exposed) {
			t.Errorf("%s: mode %q, exposed %q, err %v; want %q, %q", tc.rule, mode, exposed, err, tc.mode, tc.exposed)
		}
	}
	// A malformed address is an error that names its flag, not a refusal.
	_, _, err := Security(context.Background(), []Binding{{"--client", "nonsense"}}, false, false, fakeDNS)
	var se *SecurityError
	if err == nil || errors.As(err, &se) || !strings.Contains(err.Error(), `--client "nonsense"`) {
		t.Errorf("malformed --client: %v", err)
	}
}

func TestDynamoDBSecurity(t *testing.T) {
	for _, tc := range []struct {
		rule               string
		addr               string
		verified, insecure bool
		refused            string // a SecurityError containing this; "" none
	}{
		{rule: "no endpoint, nothing to check", addr: ""},
		{rule: "loopback without signatures is allowed", addr: "127.0.0.1:8000"},
		{rule: "a name of loopback addresses is loopback", addr: "lo.example:8000"},
		{rule: "every interface without signatures is refused, saying what to give",
			addr: "0.0.0.0:8000", refused: "--dynamodb 0.0.0.0:8000 binds every interface: the DynamoDB endpoint verifies no signatures"},
		{rule: "the refusal offers credentials first", addr: "10.0.0.5:8000", refused: "give --dynamodb-credentials, bind it to loopback, or give --insecure"},
		{rule: "with credentials any address is allowed", addr: "0.0.0.0:8000", verified: true},
		{rule: "with credentials even a name that does not resolve: nothing is looked up", addr: "nowhere.example:8000", verified: true},
		{rule: "--insecure allows any address without signatures", addr: "public.example:8000", insecure: true},
	} {
		err := DynamoDBSecurity(context.Background(), tc.addr, tc.verified, tc.insecure, fakeDNS)
		var se *SecurityError
		if tc.refused != "" {
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.refused) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: %v, want a one-line refusal containing %q", tc.rule, err, tc.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v, want allowed", tc.rule, err)
		}
	}
	if err := DynamoDBSecurity(context.Background(), "nonsense", false, false, fakeDNS); err == nil || !strings.Contains(err.Error(), `--dynamodb "nonsense"`) {
		t.Errorf("malformed --dynamodb: %v", err)
	}
}
