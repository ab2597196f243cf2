package main

import (
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
