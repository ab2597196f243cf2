package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// op is one client operation as the history records it: once when invoked
// and once when it completed (ok), certainly failed (fail), or ended in a
// way that leaves its effect unknown (unknown: a write that timed out or
// missed its quorum may still be on some replicas).
type op struct {
	Time     time.Time `json:"time"`
	Worker   int       `json:"worker"`
	Kind     string    `json:"kind"` // add, write, delete, read
	Key      string    `json:"key"`
	Value    string    `json:"value,omitempty"`
	Status   string    `json:"status"` // invoke, ok, fail, unknown
	Node     string    `json:"node,omitempty"`
	Context  []byte    `json:"context,omitempty"`
	Siblings int       `json:"siblings,omitempty"` // a read's live siblings
	Err      string    `json:"error,omitempty"`
}

// history is the record of every client operation of a run, kept in memory
// for the checkers and written as JSON lines to a file.
type history struct {
	mu  sync.Mutex
	ops []op
	f   *os.File
	enc *json.Encoder
}

func newHistory(path string) (*history, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("history file: %w", err)
	}
	return &history{f: f, enc: json.NewEncoder(f)}, nil
}

func (h *history) record(o op) {
	o.Time = time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, o)
	h.enc.Encode(o)
}

func (h *history) close() error { return h.f.Close() }

// completions returns the completed operations (not the invocations).
func (h *history) completions() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(h.ops), func(o op) bool { return o.Status == "invoke" })
}

// summary counts a run's operations.
type summary struct {
	Ops, OK, Fail, Unknown int
	// Lost counts acknowledged writes (adds, unique writes) missing from the
	// final reads; Resurrected, keys whose last operation was an
	// acknowledged delete but that were found at the end.
	Lost, Resurrected int
	// MaxSiblings is the most siblings a read saw under faults;
	// CalmSiblings, in the calm phase once the key had an add there.
	MaxSiblings, CalmSiblings int
	Converged                 time.Duration
	problems                  []string
}

func (s *summary) problem(format string, args ...any) {
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *summary) count(ops []op) {
	for _, o := range ops {
		s.Ops++
		switch o.Status {
		case "ok":
			s.OK++
		case "fail":
			s.Fail++
		case "unknown":
			s.Unknown++
		}
		if o.Kind == "read" && o.Siblings > s.MaxSiblings {
			s.MaxSiblings = o.Siblings
		}
	}
}

// checkCalmSiblings finds the most siblings a read saw after from, once an
// add to the same key had been acknowledged after from.
func (s *summary) checkCalmSiblings(ops []op, from time.Time) {
	collapsed := map[string]bool{}
	for _, o := range ops {
		if o.Time.Before(from) {
			continue
		}
		switch {
		case o.Kind == "add" && o.Status == "ok":
			collapsed[o.Key] = true
		case o.Kind == "read" && o.Status == "ok" && collapsed[o.Key]:
			s.CalmSiblings = max(s.CalmSiblings, o.Siblings)
		}
	}
}

// checkSets checks the set-add workload: every acknowledged add is in the
// final value of its set (the union of its siblings).
func (s *summary) checkSets(ops []op, final map[string][]string) {
	for _, o := range ops {
		if o.Kind != "add" || o.Status != "ok" {
			continue
		}
		if !slices.Contains(final[o.Key], o.Value) {
			s.Lost++
			s.problem("acknowledged add %s to %s is lost", o.Value, o.Key)
		}
	}
}

// checkUnique checks the blind-write workload: every acknowledged key is
// found at the end with its value.
func (s *summary) checkUnique(ops []op, final map[string][]string) {
	for _, o := range ops {
		if o.Kind != "write" || o.Status != "ok" || !strings.HasPrefix(o.Key, "u-") {
			continue
		}
		if !slices.Contains(final[o.Key], o.Value) {
			s.Lost++
			s.problem("acknowledged write of %s is lost (final %v)", o.Key, final[o.Key])
		}
	}
}

// checkDeletes checks the register workload, where each key has one
// writer: a key whose last operation is an acknowledged delete must not be
// found at the end.
func (s *summary) checkDeletes(ops []op, final map[string][]string) {
	last := map[string]op{}
	for _, o := range ops {
		if strings.HasPrefix(o.Key, "r-") && (o.Kind == "write" || o.Kind == "delete") {
			last[o.Key] = o
		}
	}
	for key, o := range last {
		if o.Kind == "delete" && o.Status == "ok" && len(final[key]) > 0 {
			s.Resurrected++
			s.problem("%s was deleted (acknowledged) and came back as %v", key, final[key])
		}
	}
}

// markdownRow renders the summary as a row of docs/reliability.md's table.
func (s *summary) markdownRow(nodes int, kinds string, d time.Duration, seed uint64) string {
	return fmt.Sprintf("| %d | %s | %v | %d | %d | %d | %d | %d | %d | %d | %d / %d | %v |",
		nodes, kinds, d, seed, s.Ops, s.OK, s.Unknown, s.Fail, s.Lost, s.Resurrected, s.MaxSiblings, s.CalmSiblings, s.Converged.Round(100*time.Millisecond))
}
