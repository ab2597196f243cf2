package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A negative --min-free-disk is a usage error, not a silent "no check".
func TestNegativeMinFreeDiskIsUsageError(t *testing.T) {
	c := serverCmd()
	c.SetArgs([]string{"--node-id", "n1", "--data-dir", filepath.Join(t.TempDir(), "n1"), "--min-free-disk", "-1"})
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.Execute()
	if !isUsage(err) || !strings.Contains(err.Error(), "--min-free-disk") {
		t.Fatalf("--min-free-disk -1: %v, want a usage error naming the flag", err)
	}
}

// --dynamodb-credentials without --dynamodb would verify nothing: a
// usage error, as is a malformed file, named with its line.
func TestDynamoDBCredentialsUsageErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(bad, []byte("# keys\nAKID1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"credentials without an endpoint", []string{"--dynamodb-credentials", bad}, "--dynamodb-credentials needs --dynamodb"},
		{"a malformed file", []string{"--dynamodb", "127.0.0.1:0", "--dynamodb-credentials", bad}, bad + ", line 2: want ACCESS_KEY_ID SECRET_ACCESS_KEY"},
	} {
		c := serverCmd()
		c.SetArgs(append([]string{"--node-id", "n1", "--data-dir", filepath.Join(t.TempDir(), "n1")}, tc.args...))
		c.SilenceUsage, c.SilenceErrors = true, true
		err := c.Execute()
		if !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a usage error with %q", tc.name, err, tc.want)
		}
	}
}
