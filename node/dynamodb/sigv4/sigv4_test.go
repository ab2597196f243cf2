package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	keyID  = "AKIDEXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	body   = `{"TableName":"events","Item":{"user":{"S":"ann"}}}`
)

// now is the verifier's clock in these tests.
var now = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// signed describes a request signed by the AWS SDK's own signer, then
// changed by tamper (after signing) before it is sent.
type signed struct {
	path, query  string            // "" and "": "/" and none
	header       map[string]string // set before signing
	at           time.Duration     // signing time minus now
	keyID        string            // "": keyID
	secret       string            // "": secret
	service      string            // "": Service
	region       string            // "": us-east-1
	sessionToken string
	payloadHash  string // "": the body's
	tamper       func(r *http.Request)
}

// verdict is what the test server's verifier answered.
type verdict struct {
	Key  string
	Kind Kind
	Msg  string
}

// verifyingServer serves a verifier of keyID's signatures at the fixed
// time now, answering each request with its verdict as JSON.
func verifyingServer(t *testing.T) *httptest.Server {
	v := New(Credentials{keyID: {Secret: secret}}, DefaultConfig())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		var out verdict
		out.Key, err = v.Verify(r, b, now)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Errorf("Verify returned %T %v, not an *Error", err, err)
				return
			}
			out.Kind, out.Msg = e.Kind, e.Msg
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// send builds s's request to srv, signs it, tampers with it and returns
// the verdict, and the signature made.
func send(t *testing.T, srv *httptest.Server, s signed) (verdict, string) {
	t.Helper()
	path := cmpOr(s.path, "/")
	u := srv.URL + path
	if s.query != "" {
		u += "?" + s.query
	}
	r, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
	for k, v := range s.header {
		r.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: cmpOr(s.keyID, keyID), SecretAccessKey: cmpOr(s.secret, secret), SessionToken: s.sessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, cmpOr(s.payloadHash, hex.EncodeToString(sum[:])),
		cmpOr(s.service, Service), cmpOr(s.region, "us-east-1"), now.Add(s.at)); err != nil {
		t.Fatal(err)
	}
	auth := r.Header.Get("Authorization")
	sig := auth[strings.LastIndex(auth, "=")+1:]
	if s.tamper != nil {
		s.tamper(r)
	}
	res, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v verdict
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v, sig
}

func cmpOr(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

func setBody(r *http.Request, b string) {
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
}

// editAuth rewrites the Authorization header the SDK made.
func editAuth(old, new string) func(r *http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
}

func TestVerify(t *testing.T) {
	srv := verifyingServer(t)
	otherBody := strings.Replace(body, "ann", "bob", 1) // as long: only the hash tells
	otherSum := sha256.Sum256([]byte(otherBody))
	for _, tt := range []struct {
		name string
		req  signed
		want Kind // 0: accepted
	}{
		// What the SDK signs is accepted.
		{"a request signed by the SDK", signed{}, 0},
		{"a query string, which the signer sorts and encodes", signed{query: "b=2&a=x%20y&a=1&c=%2F%7E"}, 0},
		{"a path with escaped characters, encoded twice", signed{path: "/a%20b/c%2Fd~"}, 0},
		{"an X-Amz-Content-Sha256 of the body", signed{header: map[string]string{"X-Amz-Content-Sha256": hex.EncodeToString(func() []byte { s := sha256.Sum256([]byte(body)); return s[:] }())}}, 0},
		{"any region", signed{region: "eu-west-3"}, 0},
		{"a signed session token, not checked", signed{sessionToken: "token"}, 0},
		{"a header with runs of spaces", signed{header: map[string]string{"X-Custom": "a   b  c"}}, 0},
		{"a date 14 minutes behind the clock", signed{at: -14 * time.Minute}, 0},
		{"a date 14 minutes ahead of the clock", signed{at: 14 * time.Minute}, 0},
		{"an unsigned header added", signed{tamper: func(r *http.Request) { r.Header.Set("X-Added", "1") }}, 0},

		// Missing or malformed.
		{"no Authorization header", signed{tamper: func(r *http.Request) { r.Header.Del("Authorization") }}, KindMissing},
		{"two Authorization headers", signed{tamper: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }}, KindIncomplete},
		{"another algorithm", signed{tamper: editAuth(Algorithm, "AWS4-HMAC-SHA1")}, KindIncomplete},
		{"a truncated signature", signed{tamper: func(r *http.Request) { a := r.Header.Get("Authorization"); r.Header.Set("Authorization", a[:len(a)-2]) }}, KindIncomplete},
		{"host not signed", signed{tamper: editAuth("SignedHeaders=content-length;content-type;host;", "SignedHeaders=content-length;content-type;")}, KindIncomplete},
		{"x-amz-date not signed", signed{tamper: editAuth(";x-amz-date;", ";")}, KindIncomplete},
		{"no X-Amz-Date", signed{tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") }}, KindIncomplete},
		{"an X-Amz-Date not in ISO 8601 basic form", signed{tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", now.Format(time.RFC1123)) }}, KindIncomplete},

		// Who signed.
		{"an unknown access key", signed{keyID: "AKIDOTHER"}, KindUnknownKey},
		{"a wrong secret", signed{secret: "not-the-secret-of-AKIDEXAMPLE"}, KindInvalid},
		{"another service", signed{service: "sqs"}, KindInvalid},

		// When.
		{"a date 16 minutes behind the clock", signed{at: -16 * time.Minute}, KindInvalid},
		{"a date 16 minutes ahead of the clock", signed{at: 16 * time.Minute}, KindInvalid},
		{"a scope date not X-Amz-Date's", signed{at: -24 * time.Hour, tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", now.Format(amzDateLayout)) }}, KindInvalid},
		{"X-Amz-Date changed after signing", signed{tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", now.Add(time.Minute).Format(amzDateLayout)) }}, KindInvalid},

		// What was signed.
		{"a changed body of the same length", signed{tamper: func(r *http.Request) { setBody(r, otherBody) }}, KindInvalid},
		{"a longer body", signed{tamper: func(r *http.Request) { setBody(r, body+" ") }}, KindInvalid},
		{"an X-Amz-Content-Sha256 of another body", signed{header: map[string]string{"X-Amz-Content-Sha256": hex.EncodeToString(otherSum[:])}, payloadHash: hex.EncodeToString(otherSum[:])}, KindInvalid},
		{"UNSIGNED-PAYLOAD", signed{header: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, payloadHash: "UNSIGNED-PAYLOAD"}, KindInvalid},
		{"a changed signed header", signed{tamper: func(r *http.Request) { r.Header.Set("X-Amz-Target", "DynamoDB_20120810.DeleteTable") }}, KindInvalid},
		{"a signed header removed", signed{tamper: func(r *http.Request) { r.Header.Del("X-Amz-Target") }}, KindInvalid},
		{"a changed Host", signed{tamper: func(r *http.Request) { r.Host = "other.example:8000" }}, KindInvalid},
		{"a changed path", signed{tamper: func(r *http.Request) { r.URL.Path = "/other" }}, KindInvalid},
		{"a changed query", signed{query: "a=1", tamper: func(r *http.Request) { r.URL.RawQuery = "a=2" }}, KindInvalid},
		{"a query added", signed{tamper: func(r *http.Request) { r.URL.RawQuery = "a=1" }}, KindInvalid},
		{"a query that does not parse", signed{tamper: func(r *http.Request) { r.URL.RawQuery = "a=%zz" }}, KindInvalid},
		{"a changed method", signed{tamper: func(r *http.Request) { r.Method = http.MethodPut }}, KindInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := send(t, srv, tt.req)
			if got.Kind != tt.want {
				t.Fatalf("kind %d (%q), want %d", got.Kind, got.Msg, tt.want)
			}
			if tt.want == 0 && got.Key != keyID {
				t.Fatalf("accepted as %q, want %q", got.Key, keyID)
			}
			if tt.want != 0 && got.Msg == "" {
				t.Fatal("refused without a message")
			}
			// The message never gives away the signature expected: the
			// one the right secret makes for the request as received.
			if tt.req.secret != "" {
				right := tt.req
				right.secret = ""
				_, sig := send(t, srv, right)
				if strings.Contains(got.Msg, sig) || strings.Contains(got.Msg, secret) {
					t.Fatalf("the message %q gives away the expected signature or the secret", got.Msg)
				}
			}
		})
	}
}

// TestSkewIsConfigurable: Config.MaxSkew bounds the dates taken, and
// zero means the default.
func TestSkewIsConfigurable(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://db.example/", bytes.NewReader([]byte(body)))
	at := now.Add(-2 * time.Minute)
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, r,
		hex.EncodeToString(sum[:]), Service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		skew time.Duration
		ok   bool
	}{{time.Minute, false}, {3 * time.Minute, true}, {0, true}, {-time.Second, true}} {
		_, err := New(Credentials{keyID: {Secret: secret}}, Config{MaxSkew: tt.skew}).Verify(r, []byte(body), now)
		if (err == nil) != tt.ok {
			t.Errorf("skew %v, signed 2m before: %v, want accepted %v", tt.skew, err, tt.ok)
		}
	}
}

// TestAWSVectorGetVanilla checks the canonical request, the string to
// sign and the key derivation against AWS's published SigV4 test vector
// get-vanilla, independent of the SDK.
func TestAWSVectorGetVanilla(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.amazonaws.com/", nil)
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	auth := authorization{accessKeyID: keyID, date: "20150830", region: "us-east-1", service: "service", signedHeaders: []string{"host", "x-amz-date"}}
	empty := sha256.Sum256(nil)
	canonical, err := canonicalRequest(r, auth.signedHeaders, hex.EncodeToString(empty[:]))
	if err != nil {
		t.Fatal(err)
	}
	want := "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if canonical != want {
		t.Fatalf("canonical request\n%s\nwant\n%s", canonical, want)
	}
	sig := hex.EncodeToString(signature(secret, auth, stringToSign("20150830T123600Z", auth.scope(), canonical)))
	if sig != "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" {
		t.Fatalf("signature %s", sig)
	}
}

func TestCanonicalPieces(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a-b=1&a=2", "a=2&a-b=1"}, // by name first, then value
		{"a=2&a=10", "a=10&a=2"},
		{"k=a+b&k2=%2F", "k=a%20b&k2=%2F"},
		{"empty=&flag", "empty=&flag="},
	} {
		if got, err := canonicalQuery(tt.in); err != nil || got != tt.want {
			t.Errorf("canonicalQuery(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for in, want := range map[string]string{"a": "a", "  a  b   c ": "a b c", "a\tb": "a\tb"} {
		if got := canonicalValue(in); got != want {
			t.Errorf("canonicalValue(%q) = %q, want %q", in, got, want)
		}
	}
}
