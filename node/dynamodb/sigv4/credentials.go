package sigv4

import (
	"errors"
	"fmt"
	"strings"
)

// Credentials map an access key ID to its key.
type Credentials map[string]Key

// Key is an access key's secret and what it may do.
type Key struct {
	Secret string
	// Admin: the key may change tables (create, delete, update, TTL), as
	// the admin role on the gRPC API; otherwise it reads and writes items
	// only.
	Admin bool
}

// Roles a credentials line may give its key; a line without one gives
// RoleAdmin, as every key had before roles.
const (
	RoleAdmin  = "admin"
	RoleClient = "client"
)

// MinSecretLen is the shortest secret access key ParseCredentials takes,
// in bytes (AWS's are 40), so that a placeholder such as "secret" is not
// mistaken for one.
const MinSecretLen = 16

// ParseCredentials parses a credentials file: one ACCESS_KEY_ID
// SECRET_ACCESS_KEY [ROLE] line a key, separated by spaces or tabs, where
// ROLE is RoleAdmin (the default) or RoleClient; blank lines
// and lines whose first non-blank character is '#' are skipped (a '#'
// later in a line is part of it). An access key ID is letters, digits,
// '-', '_' and '.', and is given once; a secret is at least MinSecretLen
// bytes without blanks. A file with no pair is refused. An error names
// the line and never shows a secret.
func ParseCredentials(text []byte) (Credentials, error) {
	creds := Credentials{}
	lineOf := map[string]int{}
	for i, line := range strings.Split(string(text), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 && len(fields) != 3 {
			return nil, fmt.Errorf("line %d: want ACCESS_KEY_ID SECRET_ACCESS_KEY [ROLE] (two or three fields), found %d", n, len(fields))
		}
		id, secret := fields[0], fields[1]
		admin := true
		if len(fields) == 3 {
			switch fields[2] {
			case RoleAdmin:
			case RoleClient:
				admin = false
			default:
				return nil, fmt.Errorf("line %d: role %.32q: use %s or %s", n, fields[2], RoleAdmin, RoleClient)
			}
		}
		if !validKeyID(id) {
			return nil, fmt.Errorf("line %d: an access key ID is letters, digits, '-', '_' and '.' only", n)
		}
		if len(secret) < MinSecretLen {
			return nil, fmt.Errorf("line %d: a secret access key of %d bytes; at least %d are needed", n, len(secret), MinSecretLen)
		}
		if first, twice := lineOf[id]; twice {
			return nil, fmt.Errorf("line %d: access key ID %s is already on line %d", n, id, first)
		}
		creds[id], lineOf[id] = Key{Secret: secret, Admin: admin}, n
	}
	if len(creds) == 0 {
		return nil, errors.New("no ACCESS_KEY_ID SECRET_ACCESS_KEY line")
	}
	return creds, nil
}

func validKeyID(id string) bool {
	for i := range len(id) {
		if c := id[i]; !unreserved(c) || c == '~' {
			return false
		}
	}
	return id != ""
}
