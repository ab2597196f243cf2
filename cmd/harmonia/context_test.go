package main

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// A context reads back whether get printed it as text (URL alphabet, no
// padding) or with --json (protojson: standard alphabet, padded); garbage
// is a usage error.
func TestDecodeContextTakesBothAlphabets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sawStdOnly := false
	for range 200 {
		b := make([]byte, 1+rng.IntN(80))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		std := base64.StdEncoding.EncodeToString(b)
		sawStdOnly = sawStdOnly || bytes.ContainsAny([]byte(std), "+/")
		for _, s := range []string{encodeContext(b), std, base64.URLEncoding.EncodeToString(b), " " + std + "\n"} {
			got, err := decodeContext(s)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("decodeContext(%q) = %x, %v; want %x", s, got, err, b)
			}
		}
	}
	if !sawStdOnly {
		t.Fatal("no context used the characters only the standard alphabet has")
	}
	if b, err := decodeContext(""); b != nil || err != nil {
		t.Fatalf("no context: %x, %v", b, err)
	}
	for _, bad := range []string{"not base64!", "==", "a"} {
		if _, err := decodeContext(bad); err == nil || !isUsage(err) {
			t.Fatalf("decodeContext(%q): %v, want a usage error", bad, err)
		}
	}
}
