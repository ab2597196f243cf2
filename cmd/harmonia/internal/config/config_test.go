package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type settings struct {
	id       string
	parts    int
	phi      float64
	sync     bool
	interval time.Duration
	bytes    int64
}

func flags(s *settings) *pflag.FlagSet {
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	fs.StringVar(&s.id, "node-id", "", "")
	fs.IntVar(&s.parts, "partitions", 64, "")
	fs.Float64Var(&s.phi, "phi-threshold", 8, "")
	fs.BoolVar(&s.sync, "sync", true, "")
	fs.DurationVar(&s.interval, "repair-interval", 10*time.Minute, "")
	fs.Int64Var(&s.bytes, "block-cache-bytes", 32<<20, "")
	fs.String("config", "", "")
	return fs
}

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "harmonia.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// File, then command line over it, then environment over both.
func TestPrecedence(t *testing.T) {
	var s settings
	fs := flags(&s)
	if err := fs.Parse([]string{"--partitions", "16", "--node-id", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	file := write(t, "node-id = \"from-file\"\npartitions = 128\nphi-threshold = 9.5\nsync = false\nrepair-interval = \"1m\"\n")
	env := []string{"HARMONIA_NODE_ID=from-env", "HARMONIA_BINARY=/elsewhere", "PATH=/bin", "HARMONIA_BLOCK_CACHE_BYTES=1024"}
	if err := Apply(fs, file, env); err != nil {
		t.Fatal(err)
	}
	want := settings{id: "from-env", parts: 16, phi: 9.5, sync: false, interval: time.Minute, bytes: 1024}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct{ file, env, want string }{
		{file: "node-idd = \"x\"\n", want: `unknown key "node-idd"`},
		{file: "config = \"other.toml\"\n", want: `unknown key "config"`},
		{file: "partitions = \"many\"\n", want: "partitions = many"},
		{file: "repair-interval = \"soon\"\n", want: "repair-interval = soon"},
		{file: "node-id = [\"a\"]\n", want: "node-id: a []interface {} is not a setting"},
		{file: "node-id = \n", want: "config file"},
		{env: "HARMONIA_PARTITIONS=x", want: `HARMONIA_PARTITIONS="x"`},
	} {
		var s settings
		fs := flags(&s)
		file := ""
		if tc.file != "" {
			file = write(t, tc.file)
		}
		err := Apply(fs, file, []string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("file %q env %q: %v, want an error containing %q", tc.file, tc.env, err, tc.want)
		}
	}
	if err := Apply(flags(&settings{}), filepath.Join(t.TempDir(), "missing.toml"), nil); err == nil {
		t.Error("a missing file was accepted")
	}
}

// What Print writes, Apply accepts back, to the same settings.
func TestPrintRoundTrip(t *testing.T) {
	var a settings
	fa := flags(&a)
	if err := fa.Parse([]string{"--node-id", `n"1\`, "--phi-threshold", "7.25", "--sync=false", "--repair-interval", "90s"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Print(&out, fa); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "config") {
		t.Errorf("printed the config flag itself:\n%s", out.String())
	}
	var b settings
	if err := Apply(flags(&b), write(t, out.String()), nil); err != nil {
		t.Fatalf("%v; file:\n%s", err, out.String())
	}
	if a != b {
		t.Fatalf("printed %+v, read back %+v; file:\n%s", a, b, out.String())
	}
}

// A config file is bytes from outside: whatever it holds, Apply refuses it
// or takes it, never panics, and what it took prints and reads back.
func FuzzApply(f *testing.F) {
	f.Add([]byte("node-id = 'n1'\npartitions = 8\n"))
	f.Add([]byte("repair-interval = '1m'\nsync = false\nphi-threshold = 9.5\n"))
	f.Add([]byte("[table]\nx = 1\n"))
	f.Add([]byte("node-id = \"\\u0000\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "f.toml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var a settings
		fa := flags(&a)
		if err := Apply(fa, p, nil); err != nil {
			return
		}
		var out bytes.Buffer
		if err := Print(&out, fa); err != nil {
			t.Fatalf("took %q but cannot print it: %v", data, err)
		}
		if err := os.WriteFile(p, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		var b settings
		if err := Apply(flags(&b), p, nil); err != nil || a != b {
			t.Fatalf("took %q; printed\n%s\nread back %+v (%v), want %+v", data, out.String(), b, err, a)
		}
	})
}
