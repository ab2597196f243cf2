package node

import (
	"fmt"
	"net"
	"strconv"
)

// Advertised decides the addresses a node gives its peers: the cluster
// address (in every message it sends, so it must reach this node from
// every other) and the client address (shown by status and used by
// `harmonia cluster` commands). An explicit advertise address wins; else
// the bind address is advertised, unless it binds every interface
// (0.0.0.0, ::), which no peer can dial: then the cluster address needs
// --advertise, and the client address takes the advertised cluster host
// with the client port. Host names are allowed.
func Advertised(listen, advertise, client, advertiseClient string) (cluster, clientAddr string, err error) {
	if cluster, err = advertisedOne("--listen", listen, "--advertise", advertise); err != nil {
		return "", "", err
	}
	if advertiseClient != "" {
		if err := checkAdvertise("--advertise-client", advertiseClient); err != nil {
			return "", "", err
		}
		return cluster, advertiseClient, nil
	}
	host, port, err := net.SplitHostPort(client)
	if err != nil {
		return "", "", fmt.Errorf("--client %q: %w", client, err)
	}
	if unspecified(host) {
		chost, _, _ := net.SplitHostPort(cluster)
		return cluster, net.JoinHostPort(chost, port), nil
	}
	return cluster, client, nil
}

func advertisedOne(bindFlag, bind, advFlag, adv string) (string, error) {
	if adv != "" {
		return adv, checkAdvertise(advFlag, adv)
	}
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", bindFlag, bind, err)
	}
	if unspecified(host) {
		return "", fmt.Errorf("%s %s binds every interface, which peers cannot dial: give %s host:port, the address they reach this node at", bindFlag, bind, advFlag)
	}
	return bind, nil
}

func checkAdvertise(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s %q: the port must be 1 to 65535", flag, addr)
	}
	if unspecified(host) {
		return fmt.Errorf("%s %q: advertise an address peers can dial, not one that binds every interface", flag, addr)
	}
	return nil
}

func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
