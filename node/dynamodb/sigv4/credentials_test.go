package sigv4

import (
	"maps"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	const s1, s2 = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "0123456789abcdef#not-a-comment"
	for _, tt := range []struct {
		name, text string
		want       Credentials
		err        string // substring of the error; "" means none
	}{
		{"one pair", "AKID1 " + s1 + "\n", Credentials{"AKID1": {Secret: s1, Admin: true}}, ""},
		{"comments, blank lines, tabs, CRLF, a '#' inside a secret", "# keys\r\n\n  AKID1\t" + s1 + "  \r\n  # old: AKID0 x\nAKID.2-x_y " + s2, Credentials{"AKID1": {Secret: s1, Admin: true}, "AKID.2-x_y": {Secret: s2, Admin: true}}, ""},
		{"empty file", "", nil, "no ACCESS_KEY_ID SECRET_ACCESS_KEY line"},
		{"comments only", "# nothing\n", nil, "no ACCESS_KEY_ID SECRET_ACCESS_KEY line"},
		{"a key without a secret, line 2", "AKID1 " + s1 + "\nAKID2\n", nil, "line 2: want ACCESS_KEY_ID SECRET_ACCESS_KEY [ROLE] (two or three fields), found 1"},
		{"roles: admin, client, none (admin)", "AKID1 " + s1 + " client\nAKID2 " + s2 + " admin\nAKID3 " + s1, Credentials{"AKID1": {Secret: s1}, "AKID2": {Secret: s2, Admin: true}, "AKID3": {Secret: s1, Admin: true}}, ""},
		{"an unknown role, line 1", "AKID1 " + s1 + " extra\n", nil, "line 1: role \"extra\": use admin or client"},
		{"four fields, line 1", "AKID1 " + s1 + " client more\n", nil, "line 1: want ACCESS_KEY_ID SECRET_ACCESS_KEY [ROLE] (two or three fields), found 4"},
		{"a '/' in a key ID, line 3", "\n\nAK/ID " + s1, nil, "line 3: an access key ID is letters"},
		{"a short secret, line 1", "AKID1 tiny-secret!\n", nil, "line 1: a secret access key of 12 bytes; at least 16"},
		{"a key ID twice", "AKID1 " + s1 + "\nAKID1 " + s2 + "\n", nil, "line 2: access key ID AKID1 is already on line 1"},
	} {
		got, err := ParseCredentials([]byte(tt.text))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want one with %q", tt.name, err, tt.err)
			}
			if err != nil && (strings.Contains(err.Error(), "tiny-secret") || strings.Contains(err.Error(), s1) || strings.Contains(err.Error(), "\n")) {
				t.Errorf("%s: the error shows a secret or is not one line: %v", tt.name, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// New copies the credentials: changing the map afterwards changes
// nothing.
func TestNewCopiesCredentials(t *testing.T) {
	creds := Credentials{keyID: {Secret: secret}}
	v := New(creds, Config{})
	delete(creds, keyID)
	if _, ok := v.creds[keyID]; !ok || v.maxSkew != DefaultMaxSkew {
		t.Fatalf("verifier %+v after its credentials map changed", v)
	}
}
