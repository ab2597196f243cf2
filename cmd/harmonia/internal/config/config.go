// Package config gives a command's flags two more sources, a TOML file and
// HARMONIA_* environment variables, and prints the effective settings back
// as a file the command accepts.
//
// The flags are the one list of settings: a file's keys are the flags'
// names (node-id = "n1", repair-interval = "10m0s") and an environment
// variable is the name in capitals with '_' for '-' (HARMONIA_NODE_ID).
// A flag given on the command line overrides the file; the environment
// overrides both. A key of the file that names no flag is an error that
// names it; environment variables that name no flag are ignored, as other
// programs' may share the prefix.
package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
)

// EnvPrefix starts every environment variable that sets a flag.
const EnvPrefix = "HARMONIA_"

// Skip are flags that are not settings: the file's own flag and help.
var Skip = []string{"config", "help"}

// EnvName is the environment variable of a flag.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets fs's flags from file (none if empty) where the command line
// did not, then from environ (os.Environ's form) over both.
func Apply(fs *pflag.FlagSet, file string, environ []string) error {
	if file != "" {
		if err := applyFile(fs, file); err != nil {
			return err
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		v, ok := env[EnvName(f.Name)]
		if !ok || err != nil || slices.Contains(Skip, f.Name) {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, e)
		}
	})
	return err
}

func applyFile(fs *pflag.FlagSet, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("config file %s: %w", file, err)
	}
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		f := fs.Lookup(key)
		if f == nil || slices.Contains(Skip, key) {
			return fmt.Errorf("config file %s: unknown key %q (keys are the flags' names, as `harmonia config print` shows)", file, key)
		}
		if f.Changed {
			continue // the command line wins
		}
		v, err := valueText(m[key])
		if err != nil {
			return fmt.Errorf("config file %s: %s: %w", file, key, err)
		}
		if err := fs.Set(key, v); err != nil {
			return fmt.Errorf("config file %s: %s = %s: %w", file, key, v, err)
		}
	}
	return nil
}

// valueText is a TOML value as flag text.
func valueText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("a %T is not a setting: use a string, a number or a boolean", v)
}

// Print writes every setting of fs with its effective value as a TOML
// file that Apply accepts back, in name order.
func Print(w io.Writer, fs *pflag.FlagSet) error {
	m := map[string]any{}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(Skip, f.Name) || err != nil {
			return
		}
		s := f.Value.String()
		switch f.Value.Type() {
		case "int", "int64", "int32", "uint", "uint32", "uint64":
			var n int64
			n, err = strconv.ParseInt(s, 10, 64)
			m[f.Name] = n
		case "float64", "float32":
			var x float64
			x, err = strconv.ParseFloat(s, 64)
			m[f.Name] = x
		case "bool":
			var b bool
			b, err = strconv.ParseBool(s)
			m[f.Name] = b
		default: // string, duration: their text
			m[f.Name] = s
		}
	})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	if err := enc.Encode(m); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}
