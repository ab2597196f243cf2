// Package sigv4 owns the verification of AWS Signature Version 4
// (AWS4-HMAC-SHA256, in the Authorization header) on requests to the
// DynamoDB-compatible endpoint, and the format of the file of credentials
// it verifies them against. It rebuilds the canonical request and the
// string to sign from the request as received, derives the signing key
// from the secret of the access key the request names, and compares
// signatures in constant time. It does no I/O: the caller reads the body,
// within its own size limit, and gives the time of its clock.
//
// A request is accepted only if all of these hold:
//   - its Authorization header is one well-formed AWS4-HMAC-SHA256
//     header whose credential scope is DATE/REGION/dynamodb/aws4_request
//     (any region: the endpoint is not in one);
//   - it signs at least the headers host and x-amz-date, and has every
//     header it signs;
//   - its X-Amz-Date is within Config.MaxSkew of the clock (15 minutes
//     by default, as AWS), and its date is the scope's;
//   - its access key is one of the Credentials;
//   - X-Amz-Content-Sha256, if present, is the SHA-256 of the body (a
//     signature must cover the body: UNSIGNED-PAYLOAD is refused);
//   - its signature is the one the access key's secret makes.
//
// Presigned URLs (the signature in the query), chunked payload signing
// and SigV4a are not supported; a session token (X-Amz-Security-Token)
// is covered by the signature when signed but is not checked, as the
// credentials have none. A signature does not prevent a replay within the
// skew allowed.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// The protocol's constants.
const (
	// Algorithm starts the Authorization header.
	Algorithm = "AWS4-HMAC-SHA256"
	// Service is the service a credential scope must name.
	Service = "dynamodb"
	// terminator ends a credential scope.
	terminator = "aws4_request"
	// amzDateLayout is X-Amz-Date's format (ISO 8601 basic, UTC).
	amzDateLayout = "20060102T150405Z"
	// scopeDateLayout is the credential scope's date.
	scopeDateLayout = "20060102"
	// secretPrefix is put before a secret to derive the signing key.
	secretPrefix = "AWS4"
)

// Config is the verification's configuration.
type Config struct {
	// MaxSkew is how far a request's X-Amz-Date may be from the
	// verifier's clock, either way. Default 15 minutes, as AWS; zero or
	// less means the default.
	MaxSkew time.Duration
}

// DefaultMaxSkew is Config.MaxSkew's default.
const DefaultMaxSkew = 15 * time.Minute

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{MaxSkew: DefaultMaxSkew} }

// Kind is what is wrong with a refused request, which decides the error
// DynamoDB would answer.
type Kind int

const (
	// KindMissing: no Authorization header.
	KindMissing Kind = iota + 1
	// KindIncomplete: the Authorization header or X-Amz-Date is
	// malformed, or host or x-amz-date is not signed.
	KindIncomplete
	// KindUnknownKey: the access key is not one of the credentials.
	KindUnknownKey
	// KindInvalid: the signature does not match, or the request's date,
	// scope or payload hash is not acceptable.
	KindInvalid
)

// Error is a refused request. Its message may be shown to the client:
// it never holds a secret or the signature the verifier expected.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Verifier checks requests' signatures against a set of credentials.
type Verifier struct {
	creds   Credentials
	maxSkew time.Duration
}

// New returns a verifier of signatures made with creds (copied).
func New(creds Credentials, cfg Config) *Verifier {
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	return &Verifier{creds: maps.Clone(creds), maxSkew: cfg.MaxSkew}
}

// Verify checks r, whose body is body, at the time now, and returns the
// access key that signed it, or an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte, now time.Time) (accessKeyID string, err error) {
	auth, err := authorizationOf(r.Header)
	if err != nil {
		return "", err
	}
	amzDate, at, err := dateOf(r.Header)
	if err != nil {
		return "", err
	}
	if day := at.Format(scopeDateLayout); auth.date != day {
		return "", errorf(KindInvalid, "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: %q != %q", auth.date, day)
	}
	if auth.service != Service {
		return "", errorf(KindInvalid, "Credential should be scoped to the correct service: %q", Service)
	}
	key, ok := v.creds[auth.accessKeyID]
	if !ok {
		return "", errorf(KindUnknownKey, "The security token included in the request is invalid: unknown access key %.128q", auth.accessKeyID)
	}
	if skew := now.Sub(at); skew > v.maxSkew {
		return "", errorf(KindInvalid, "Signature expired: X-Amz-Date %s is more than %v before the server's time %s", amzDate, v.maxSkew, now.UTC().Format(amzDateLayout))
	} else if skew < -v.maxSkew {
		return "", errorf(KindInvalid, "Signature not yet current: X-Amz-Date %s is more than %v after the server's time %s", amzDate, v.maxSkew, now.UTC().Format(amzDateLayout))
	}
	payload, err := payloadHash(r.Header, body)
	if err != nil {
		return "", err
	}
	canonical, err := canonicalRequest(r, auth.signedHeaders, payload)
	if err != nil {
		return "", err
	}
	want := signature(key.Secret, auth, stringToSign(amzDate, auth.scope(), canonical))
	if !hmac.Equal(want, auth.signature) {
		return "", errorf(KindInvalid, "The request signature we calculated does not match the signature you provided: check the secret access key and the signing method")
	}
	return auth.accessKeyID, nil
}

// authorizationOf parses r's one Authorization header.
func authorizationOf(h http.Header) (authorization, error) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return authorization{}, errorf(KindMissing, "Request is missing Authentication Token: sign it with AWS Signature Version 4")
	case len(values) > 1:
		return authorization{}, errorf(KindIncomplete, "The request has %d Authorization headers; one is expected", len(values))
	}
	return parseAuthorization(values[0])
}

// dateOf returns the request's one X-Amz-Date as given and as a time.
func dateOf(h http.Header) (string, time.Time, error) {
	values := h.Values("X-Amz-Date")
	if len(values) != 1 {
		return "", time.Time{}, errorf(KindIncomplete, "The request must have one X-Amz-Date header, not %d", len(values))
	}
	at, err := time.Parse(amzDateLayout, values[0])
	if err != nil {
		return "", time.Time{}, errorf(KindIncomplete, "X-Amz-Date %.32q is not of the form YYYYMMDDTHHMMSSZ", values[0])
	}
	return values[0], at, nil
}

// payloadHash is the hex SHA-256 of body as the canonical request holds
// it; a request's X-Amz-Content-Sha256 must be that hash.
func payloadHash(h http.Header, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	values := h.Values("X-Amz-Content-Sha256")
	switch {
	case len(values) == 0:
		return hash, nil
	case len(values) > 1:
		return "", errorf(KindIncomplete, "The request has %d X-Amz-Content-Sha256 headers; one at most is expected", len(values))
	case !strings.EqualFold(values[0], hash):
		return "", errorf(KindInvalid, "X-Amz-Content-Sha256 is not the SHA-256 of the body; the body must be signed")
	}
	// What the client signed, in its own case.
	return values[0], nil
}

// stringToSign is the string whose HMAC is the signature.
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signature derives the signing key of secret for auth's scope and signs
// s with it.
func signature(secret string, auth authorization, s string) []byte {
	key := hmacSHA256([]byte(secretPrefix+secret), auth.date)
	for _, part := range []string{auth.region, auth.service, terminator} {
		key = hmacSHA256(key, part)
	}
	return hmacSHA256(key, s)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
