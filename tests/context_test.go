package tests

import (
	"bytes"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// The defect: forged, corrupted and borrowed contexts were accepted
// and made acknowledged writes vanish. A node now refuses every context it
// did not issue for that key, and a correct client sees no difference.
func TestContextIsBoundToKeyAndCluster(t *testing.T) {
	secret := crand.Text()
	secretFile := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 3, "--cluster-secret-file", secretFile, "--hint-replay=false", "--repair-interval", "0")
	n1, n2 := c.nodes[0], c.nodes[1]
	all := client.Options{Quorum: "all"}
	byID := map[string]*node{}
	for _, nd := range c.nodes {
		byID[nd.id] = nd
	}
	// put and get fail the test unless the request succeeds.
	put := func(t *testing.T, nd *node, key, value string, causal []byte) []byte {
		t.Helper()
		out, err := nd.client.Put(ctxT(t), []byte(key), []byte(value), causal, all)
		if err != nil {
			t.Fatalf("put %s=%s via %s: %v", key, value, nd.id, err)
		}
		return out
	}
	get := func(t *testing.T, nd *node, key string) *client.Result {
		t.Helper()
		res, err := nd.client.Get(ctxT(t), []byte(key), all)
		if err != nil {
			t.Fatalf("get %s via %s: %v", key, nd.id, err)
		}
		return res
	}
	refused := func(t *testing.T, what, key string, causal []byte) {
		t.Helper()
		_, err := n1.client.Put(ctxT(t), []byte(key), []byte("intruder"), causal, all)
		if client.Code(err) != codes.InvalidArgument || (!strings.Contains(err.Error(), "not issued by this cluster") && !strings.Contains(err.Error(), "malformed context")) {
			t.Fatalf("%s: put %s: %v, want InvalidArgument", what, key, err)
		}
	}
	// writer is the actor of the one version of key, as its replicas hold it.
	writer := func(t *testing.T, key string) vclock.Dot {
		t.Helper()
		rep, err := n1.client.Replicas(ctxT(t), []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Replicas {
			if len(r.Siblings) == 1 {
				d := r.Siblings[0].Dot
				return vclock.Dot{Actor: vclock.Actor{Node: d.Node, Incarnation: d.Incarnation}, Counter: d.Counter}
			}
		}
		t.Fatalf("no replica of %s holds one version: %v", key, rep)
		return vclock.Dot{}
	}
	only := func(t *testing.T, key string, want ...string) {
		t.Helper()
		if got := sorted(get(t, n1, key).Siblings); !slices.Equal(got, want) {
			t.Fatalf("%s at R=all: siblings %v, want %v", key, got, want)
		}
	}

	t.Run("a context forged with counter 2^40 is refused and loses no write", func(t *testing.T) {
		const key = "forged"
		put(t, n1, key, "acked", nil)
		// The dot of the acknowledged write names a real node and incarnation.
		dot := writer(t, key)
		forgedClock := vclock.New(vclock.Entry{Actor: dot.Actor, Counter: 1 << 40})
		raw, err := proto.Marshal(object.ClockToProto(forgedClock))
		if err != nil {
			t.Fatal(err)
		}
		refused(t, "raw clock proto, the old format", key, raw)
		// The new framing with a guessed tag.
		framed := append(append([]byte{1}, raw...), make([]byte, 16)...)
		refused(t, "framed clock with a zero tag", key, framed)
		// Sealed correctly, but with the built-in secret anyone can read.
		builtin, err := causal.NewSealer([][]byte{[]byte(causal.DefaultSecret)})
		if err != nil {
			t.Fatal(err)
		}
		refused(t, "sealed with the built-in secret", key, builtin.Seal([]byte(key), forgedClock))
		only(t, key, "acked")
		// The sequence: a blind put through the forged node after
		// the forgery. It must stay, as a sibling of the first.
		put(t, byID[dot.Node], key, "blind-after", nil)
		only(t, key, "acked", "blind-after")
	})

	t.Run("a context read from key A is refused for key B", func(t *testing.T) {
		put(t, n1, "ctx-a", "a1", nil)
		put(t, n2, "ctx-b", "b1", nil)
		ctxA := get(t, n1, "ctx-a").Context
		refused(t, "context of ctx-a", "ctx-b", ctxA)
		if err := n1.client.Delete(ctxT(t), []byte("ctx-b"), ctxA, all); client.Code(err) != codes.InvalidArgument {
			t.Fatalf("delete ctx-b with the context of ctx-a: %v, want InvalidArgument", err)
		}
		only(t, "ctx-b", "b1")
		only(t, "ctx-a", "a1")
	})

	t.Run("single-bit flips of a real context are refused", func(t *testing.T) {
		const key = "flips"
		put(t, n1, key, "v1", nil)
		real := get(t, n1, key).Context
		var bits []int
		for i := range 64 {
			bits = append(bits, i, len(real)*8-1-i)
		}
		r := rand.New(rand.NewPCG(7, uint64(len(real))))
		for range 50 {
			bits = append(bits, r.IntN(len(real)*8))
		}
		for _, bit := range bits {
			flipped := bytes.Clone(real)
			flipped[bit/8] ^= 1 << (bit % 8)
			_, err := n1.client.Put(ctxT(t), []byte(key), []byte("flipped"), flipped, all)
			if client.Code(err) != codes.InvalidArgument {
				t.Fatalf("bit %d of %d flipped: %v, want InvalidArgument", bit, len(real)*8, err)
			}
		}
		only(t, key, "v1")
	})

	t.Run("a context read through n1 supersedes when written through n2", func(t *testing.T) {
		const key = "round-trip"
		put(t, n1, key, "x", nil)
		put(t, n2, key, "y", nil) // blind: a sibling of x
		only(t, key, "x", "y")
		res := get(t, n1, key)
		next := put(t, n2, key, "x+y", res.Context)
		only(t, key, "x+y")
		// The context a put returns is as good as a get's.
		put(t, c.nodes[2], key, "z", next)
		only(t, key, "z")
	})

	t.Run("the secret file replaces the built-in secret", func(t *testing.T) {
		b, err := os.ReadFile(n1.log.Name())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "built-in secret") {
			t.Fatalf("n1 warns about the built-in secret though it has a secret file:\n%s", tail(string(b), 2000))
		}
		// A context sealed with the file's secret, as another node of this
		// cluster would seal it, is accepted.
		s, err := causal.NewSealer([][]byte{[]byte(secret)})
		if err != nil {
			t.Fatal(err)
		}
		const key = "sealed-elsewhere"
		put(t, n1, key, "old", nil)
		dot := writer(t, key)
		clock := vclock.New(vclock.Entry{Actor: dot.Actor, Counter: dot.Counter})
		put(t, n2, key, "new", s.Seal([]byte(key), clock))
		only(t, key, "new")
	})

	t.Run("a bad secret file is a usage error", func(t *testing.T) {
		short := filepath.Join(t.TempDir(), "short")
		if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := cli(t, "server", "--node-id", "x", "--data-dir", t.TempDir(), "--cluster-secret-file", short)
		if code != 2 || !strings.Contains(stderr, "at least 16") {
			t.Fatalf("server with a 9-byte secret: exit %d, %q", code, stderr)
		}
	})
}

// What get prints with --json is accepted back by put --context: the
// context is protojson's standard base64 there (+, /, =), URL-safe base64 in
// text. The write supersedes what was read.
func TestCLIJSONContextRoundTrip(t *testing.T) {
	c := startCluster(t, 3)
	addr := c.nodes[0].clientAddr
	stdOnly := 0
	for i := range 12 {
		key := fmt.Sprintf("json-ctx-%d", i)
		for _, v := range []string{"a", "b"} { // two blind writes: two siblings
			if _, stderr, code := cli(t, "put", key, v, "--addr", addr); code != 0 {
				t.Fatalf("put: exit %d: %s", code, stderr)
			}
		}
		out, stderr, code := cli(t, "get", key, "--json", "--addr", addr)
		if code != 0 {
			t.Fatalf("get --json: exit %d: %s", code, stderr)
		}
		var got struct {
			Context string `json:"context"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Context == "" {
			t.Fatalf("get --json printed %q: %v", out, err)
		}
		if strings.ContainsAny(got.Context, "+/=") {
			stdOnly++
		}
		if _, stderr, code := cli(t, "put", key, "merged", "--context", got.Context, "--addr", addr); code != 0 {
			t.Fatalf("put --context %s (from get --json): exit %d: %s", got.Context, code, stderr)
		}
		res, err := c.nodes[1].client.Get(ctxT(t), []byte(key), client.Options{Quorum: "all"})
		if err != nil || len(res.Siblings) != 1 || string(res.Siblings[0]) != "merged" {
			t.Fatalf("%s after the put with the context read: %v, %v", key, res, err)
		}
	}
	if stdOnly == 0 {
		t.Fatal("no context printed by --json used +, / or =: the test proved nothing")
	}
}
