package connlimits

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	if err := Default().Check(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for name, change := range map[string]func(*Limits){
		"no handshake timeout": func(l *Limits) { l.HandshakeTimeout = 0 },
		"negative idle":        func(l *Limits) { l.IdleTimeout = -time.Second },
		"no ping timeout":      func(l *Limits) { l.PingTimeout = 0 },
		"no streams":           func(l *Limits) { l.MaxStreams = 0 },
	} {
		l := Default()
		change(&l)
		if err := l.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(Default().ServerOptions()); n != 3 {
		t.Errorf("%d server options, want handshake, streams and keepalive", n)
	}
}
