package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadSecrets(t *testing.T) {
	const a, b = "0123456789abcdef0123", "fedcba9876543210"
	for _, tc := range []struct {
		name, content string
		want          []string
		err           string // substring of the usage error; "" means none
	}{
		{"one line, trailing newline", a + "\n", []string{a}, ""},
		{"rotation, CRLF, spaces and blank lines", "\r\n  " + a + " \r\n\n" + b + "\r\n", []string{a, b}, ""},
		{"empty file", "", nil, "holds no secret"},
		{"blank lines only", "\n \n\t\n", nil, "holds no secret"},
		{"short second secret on line 3", a + "\n\ntiny!\n", nil, "line 3: a secret of 5 bytes; at least 16"},
	} {
		path := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readSecrets(path)
		if tc.err != "" {
			if !isUsage(err) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want a usage error with %q", tc.name, err, tc.err)
			}
			if strings.Contains(err.Error(), "tiny!") {
				t.Errorf("%s: the error shows the secret: %v", tc.name, err)
			}
			continue
		}
		if err != nil || !slices.EqualFunc(got, tc.want, func(g []byte, w string) bool { return string(g) == w }) {
			t.Errorf("%s: readSecrets = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := readSecrets(filepath.Join(t.TempDir(), "missing")); !isUsage(err) {
		t.Errorf("missing file: %v, want a usage error", err)
	}
}

func TestEnsureSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "launch")
	path, err := ensureSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %s: %v, %v; want mode 0600", path, st, err)
	}
	secrets, err := readSecrets(path)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("launch's secret does not read back: %q, %v", secrets, err)
	}
	if raw, err := hex.DecodeString(string(secrets[0])); err != nil || len(raw) != 32 {
		t.Errorf("secret %d chars, want 32 random bytes in hex: %v", len(secrets[0]), err)
	}
	again, err := ensureSecret(dir)
	if err != nil || again != path {
		t.Fatalf("second launch: %s, %v", again, err)
	}
	if kept, err := readSecrets(path); err != nil || !slices.EqualFunc(kept, secrets, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Errorf("second launch replaced the secret: %v", err)
	}
}
