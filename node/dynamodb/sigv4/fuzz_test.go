package sigv4

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParseAuthorization: whatever the header, the parser answers without
// panicking, a refusal is an *Error of KindIncomplete, and a header it
// takes says the same once written back and parsed again.
func FuzzParseAuthorization(f *testing.F) {
	const good = Algorithm + " Credential=AKIDEXAMPLE/20250314/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" +
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	for _, seed := range []string{
		good,
		"",
		Algorithm,
		Algorithm + " ",
		Algorithm + " Credential=a/b/c/d/aws4_request",
		Algorithm + " Credential=a/b/c/d/aws4_request,SignedHeaders=host;x-amz-date,Signature=00",
		Algorithm + " Credential=//, SignedHeaders=;;, Signature=zz",
		Algorithm + " Credential=a/b/c/d/aws4_request, Credential=a/b/c/d/aws4_request",
		Algorithm + " SignedHeaders=x-amz-date;host, Signature=, Credential=",
		"AWS4-HMAC-SHA256 Credential=\xff/\x00/c/d/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseAuthorization(header)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindIncomplete || e.Msg == "" {
				t.Fatalf("refusal %#v is not a KindIncomplete *Error with a message", err)
			}
			return
		}
		again, err := parseAuthorization(a.String())
		if err != nil || !reflect.DeepEqual(a, again) {
			t.Fatalf("%q parsed as %+v, written back as %q, parsed again as %+v, %v", header, a, a.String(), again, err)
		}
	})
}
