package testport

import (
	"net"
	"strconv"
	"testing"
)

// Addresses are distinct, bindable, and below the ephemeral range.
func TestAddr(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		a, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		_, p, _ := net.SplitHostPort(a)
		if port, _ := strconv.Atoi(p); port < lowest || port >= highest {
			t.Fatalf("%s outside %d..%d", a, lowest, highest-1)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is not free: %v", a, err)
		}
		l.Close()
	}
}

// A port in use is skipped.
func TestAddrSkipsPortsInUse(t *testing.T) {
	a, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(a)
	port, _ := strconv.Atoi(p)
	next.Store(int64(port - lowest - 1)) // the next try is the port in use
	b, err := Addr()
	if err != nil || b == a {
		t.Fatalf("got %s (%v) while %s is in use", b, err, a)
	}
}
