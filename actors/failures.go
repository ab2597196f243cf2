package actors

import (
	"slices"
	"strings"
	"sync"
)

// ActorFailure counts the failures of one kind of actor that its
// supervisor answered with one directive (Restart, Stop, ...).
type ActorFailure struct {
	Kind      string // vnode, transfer, put, exchange, ... (see actorKind)
	Directive string // restart, stop, resume or escalate
	Count     uint64
}

// failureTable counts actor failures by kind and directive, for metrics.
type failureTable struct {
	mu sync.Mutex
	m  map[[2]string]uint64
}

func (t *failureTable) add(actorID, directive string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[[2]string]uint64{}
	}
	t.m[[2]string{actorKind(actorID), strings.ToLower(strings.TrimSuffix(directive, "Directive"))}]++
}

func (t *failureTable) snapshot() []ActorFailure {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ActorFailure, 0, len(t.m))
	for k, n := range t.m {
		out = append(out, ActorFailure{Kind: k[0], Directive: k[1], Count: n})
	}
	slices.SortFunc(out, func(a, b ActorFailure) int {
		return strings.Compare(a.Kind+"/"+a.Directive, b.Kind+"/"+b.Directive)
	})
	return out
}

// actorKind names the kind of an actor from its id, the last element of
// its path without the partition, sequence or time that tells apart actors
// of one kind: "node/vnodes/vnode-12" is a vnode, ".../put-8812" a put.
// The result is short and of few values, fit for a metric label.
func actorKind(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	if i := strings.IndexAny(id, "-0123456789$"); i >= 0 {
		id = id[:i]
	}
	if id == "" {
		return "other"
	}
	return id
}
