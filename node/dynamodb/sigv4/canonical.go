package sigv4

import (
	"cmp"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// canonicalRequest is r's canonical request as SigV4 defines it, over the
// headers signed, with the payload hash given:
//
//	METHOD \n URI \n QUERY \n name:value \n ... \n \n h1;h2;... \n PAYLOAD_HASH
func canonicalRequest(r *http.Request, signed []string, payloadHash string) (string, error) {
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range signed {
		values, ok := headerValues(r, name)
		if !ok {
			return "", errorf(KindInvalid, "The header %.64q is signed but not in the request", name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(canonicalValue(v))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// canonicalURI is the path as sent, URI-encoded once more (every service
// but S3 encodes it twice), '/' kept; an empty path is "/". The path is
// not normalized: the AWS SDKs sign it as it is sent.
func canonicalURI(u *url.URL) string {
	path := u.EscapedPath()
	if path == "" {
		return "/"
	}
	return uriEncode(path, true)
}

// canonicalQuery is the query's parameters, each name and value
// URI-encoded, sorted by name then value after encoding. A query that
// does not parse is refused rather than signed in part.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return "", errorf(KindInvalid, "The query string does not parse: %v", err)
	}
	type pair struct{ name, value string }
	var pairs []pair
	for name, vs := range values {
		for _, v := range vs {
			pairs = append(pairs, pair{uriEncode(name, false), uriEncode(v, false)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.value, b.value))
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name + "=" + p.value)
	}
	return b.String(), nil
}

// headerValues are the values of the header name (lower case) that r was
// sent with. Go's server keeps Host in r.Host, and may take
// Content-Length out of the headers into r.ContentLength.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		return []string{r.Host}, r.Host != ""
	case "content-length":
		if _, ok := r.Header["Content-Length"]; !ok && r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}, true
		}
	}
	values, ok := r.Header[textproto.CanonicalMIMEHeaderKey(name)]
	return values, ok
}

// canonicalValue is a header value trimmed, with each run of spaces made
// one space.
func canonicalValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	for i := range len(v) {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// uriEncode percent-encodes every byte of s but the unreserved characters
// (A-Z a-z 0-9 - . _ ~), and '/' when keepSlash, in upper-case hex.
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if unreserved(c) || (c == '/' && keepSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
