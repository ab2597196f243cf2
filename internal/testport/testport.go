// Package testport hands out loopback TCP addresses for tests that start
// servers which bind them later, in this process or in a child process.
//
// Asking the kernel for port 0 and closing the listener leaves a window in
// which the kernel can hand the same port to anyone else (every outgoing
// connection takes an ephemeral port). Ports here come from below the
// kernel's ephemeral range instead, which the kernel never hands out by
// itself; each process starts at its own offset, so that test binaries run
// in parallel rarely try the same port, and a port is checked free before
// it is handed out.
package testport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// lowest is the first port handed out; the range ends below the ephemeral
// range (32768 on a default Linux).
const lowest = 10000

var (
	highest = ephemeralLow()
	next    atomic.Int64
)

func init() { next.Store(int64(os.Getpid()) * 7919) }

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > lowest+1000 {
				return lo
			}
		}
	}
	return 32768
}

// Addr returns a free 127.0.0.1:port below the ephemeral range.
func Addr() (string, error) {
	span := int64(highest - lowest)
	for range span {
		port := lowest + next.Add(1)%span
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			return "", err
		}
		return addr, nil
	}
	return "", errors.New("testport: no free port below the ephemeral range")
}

// For is Addr for a test, which it fails when no port is free.
func For(t testing.TB) string {
	t.Helper()
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
