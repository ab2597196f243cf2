package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/node/dynamodb/sigv4"
)

func TestReadDynamoCredentials(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		err           string // substring of the usage error; "" means none
		warn          bool
	}{
		{"a private file", "# ops\nAKID1 " + secret + "\n", 0o600, "", false},
		{"a world-readable file is taken, with a warning", "AKID1 " + secret + "\n", 0o644, "", true},
		{"a malformed line names the file and the line", "AKID1 " + secret + "\n\nAKID2 short\n", 0o600, "credentials, line 3: a secret access key of 5 bytes", false},
		{"an empty file", "", 0o600, "no ACCESS_KEY_ID SECRET_ACCESS_KEY line", false},
	} {
		path := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		creds, warning, err := readDynamoCredentials(path)
		if tc.err != "" {
			if !isUsage(err) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: err %v, want a one-line usage error naming %s with %q", tc.name, err, path, tc.err)
			}
			continue
		}
		if err != nil || creds["AKID1"] != (sigv4.Key{Secret: secret, Admin: true}) {
			t.Errorf("%s: %v, %v", tc.name, creds, err)
		}
		if (warning != "") != tc.warn || (tc.warn && (!strings.Contains(warning, path) || !strings.Contains(warning, "chmod 600"))) {
			t.Errorf("%s: warning %q, want one: %v", tc.name, warning, tc.warn)
		}
		if strings.Contains(warning, secret) {
			t.Errorf("%s: the warning shows the secret", tc.name)
		}
	}
	if _, _, err := readDynamoCredentials(filepath.Join(t.TempDir(), "missing")); !isUsage(err) {
		t.Errorf("missing file: %v, want a usage error", err)
	}
}
