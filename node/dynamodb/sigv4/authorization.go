package sigv4

import (
	"encoding/hex"
	"slices"
	"strings"
)

// requiredSigned are the headers every signature must cover: without
// host a request could be sent to another endpoint that knows the key,
// and without x-amz-date it could be replayed at any time.
var requiredSigned = []string{"host", "x-amz-date"}

// authorization is a parsed Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=h1;h2, Signature=HEX
type authorization struct {
	accessKeyID, date, region, service string
	// signedHeaders are lower case, strictly increasing.
	signedHeaders []string
	signature     []byte
}

// scope is the credential scope, as the string to sign holds it.
func (a authorization) scope() string {
	return a.date + "/" + a.region + "/" + a.service + "/" + terminator
}

// String is the header a's fields make.
func (a authorization) String() string {
	return Algorithm + " Credential=" + a.accessKeyID + "/" + a.scope() +
		", SignedHeaders=" + strings.Join(a.signedHeaders, ";") + ", Signature=" + hex.EncodeToString(a.signature)
}

// The Authorization header's parameters.
const (
	paramCredential    = "Credential"
	paramSignedHeaders = "SignedHeaders"
	paramSignature     = "Signature"
)

// parseAuthorization parses an Authorization header; the errors are
// KindIncomplete. Nothing the header holds is trusted: it is checked
// against the request afterwards.
func parseAuthorization(header string) (authorization, error) {
	alg, rest, _ := strings.Cut(header, " ")
	if alg != Algorithm {
		return authorization{}, errorf(KindIncomplete, "Unsupported authorization algorithm %.32q: only %s is", alg, Algorithm)
	}
	params := map[string]string{}
	for param := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(param), "=")
		switch {
		case !ok:
			return authorization{}, errorf(KindIncomplete, "Authorization parameter %.32q is not of the form Name=Value", param)
		case name != paramCredential && name != paramSignedHeaders && name != paramSignature:
			return authorization{}, errorf(KindIncomplete, "Unknown Authorization parameter %.32q", name)
		}
		if _, twice := params[name]; twice {
			return authorization{}, errorf(KindIncomplete, "Authorization parameter %s given twice", name)
		}
		params[name] = value
	}
	for _, name := range []string{paramCredential, paramSignedHeaders, paramSignature} {
		if _, ok := params[name]; !ok {
			return authorization{}, errorf(KindIncomplete, "Authorization header requires the %s parameter", name)
		}
	}
	var a authorization
	if err := a.parseCredential(params[paramCredential]); err != nil {
		return authorization{}, err
	}
	if err := a.parseSignedHeaders(params[paramSignedHeaders]); err != nil {
		return authorization{}, err
	}
	sig, err := hex.DecodeString(params[paramSignature])
	if err != nil || len(sig) != signatureLen {
		return authorization{}, errorf(KindIncomplete, "Signature must be %d hexadecimal digits", 2*signatureLen)
	}
	a.signature = sig
	return a, nil
}

// signatureLen is an HMAC-SHA256's length in bytes.
const signatureLen = 32

// parseCredential parses AKID/DATE/REGION/SERVICE/aws4_request. The date
// and service are checked against the request by Verify.
func (a *authorization) parseCredential(s string) error {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[4] != terminator {
		return errorf(KindIncomplete, "Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/%s", terminator)
	}
	for _, p := range parts {
		if p == "" {
			return errorf(KindIncomplete, "Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/%s, each part not empty", terminator)
		}
	}
	a.accessKeyID, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// parseSignedHeaders parses h1;h2;...: lower-case names in increasing
// order, host and x-amz-date among them.
func (a *authorization) parseSignedHeaders(s string) error {
	names := strings.Split(s, ";")
	for i, name := range names {
		if !isLowerToken(name) {
			return errorf(KindIncomplete, "SignedHeaders must list lower-case header names separated by ';', not %.32q", name)
		}
		if i > 0 && names[i-1] >= name {
			return errorf(KindIncomplete, "SignedHeaders must list each header once, in increasing order")
		}
	}
	for _, need := range requiredSigned {
		if !slices.Contains(names, need) {
			return errorf(KindIncomplete, "SignedHeaders must include %s", need)
		}
	}
	a.signedHeaders = names
	return nil
}

// isLowerToken reports whether s is a header name (an HTTP token)
// without upper-case letters.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
