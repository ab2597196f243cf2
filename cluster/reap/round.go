package reap

import (
	"slices"

	"github.com/harmoniakv/harmonia/cluster/paxos"
)

// A reap round goes through the partitions this node holds, each twice:
// its objects' tombstones past grace, then its strong keys' (acceptor
// state of deleted registers, paxos.Droppable). For each pass it has the
// local vnode list candidates, asks every replica whether it holds each
// at the same version (or nothing), and orders the ones all replicas
// agree on deleted, asking again: a replica whose version moved on
// meanwhile keeps its copy. A strong tombstone past grace is first erased
// through consensus (paxos.OpErase, one register at a time); the registers
// erased in earlier rounds are the ones asked about. Every replica runs
// rounds, so a tombstone is reaped even when the replica that lacks it
// would be the one to look. A round cut short leaves every tombstone as
// it was. Round decides; actors/reaper.go asks and answers.

// HeldPartition is a partition this node is a replica of, with its
// replicas (the preference list).
type HeldPartition struct {
	Partition int
	Replicas  []string
}

// Entry is a tombstone at one exact version: an object's (its version
// digest) or a strong register's erased value.
type Entry struct {
	Key, Digest []byte
	// Erased is a strong register's erased ballot (zero for an object's).
	Erased paxos.Ballot
}

// Erasable is a strong register whose settled tombstone of Version is
// past grace.
type Erasable struct {
	Key     []byte
	Version paxos.Ballot
}

// Scan asks the local vnode of Partition for candidates (Acceptors: of
// its strong keys).
type Scan struct {
	Partition int
	Acceptors bool
}

// Ask sends Entries to every one of Replicas: a question, or with Commit
// the order to delete.
type Ask struct {
	Partition int
	Replicas  []string
	Entries   []Entry
	Commit    bool
	Acceptors bool
}

// RoundStep is what the round's actor does next: one of Scan, Ask or
// Erase (report its end to Erased with Attempt), or stop when Done.
type RoundStep struct {
	Scan    *Scan
	Ask     *Ask
	Erase   *Erasable
	Attempt int
	Done    bool
}

type roundPhase int

const (
	scanning roundPhase = iota
	erasing
	asking
	roundDone
)

// Round is one reap round. Use NewRound.
type Round struct {
	partitions []HeldPartition
	i          int
	acceptors  bool // the second pass over partition i
	phase      roundPhase

	entries []Entry
	commit  bool
	replies map[string][]bool // by replica: holds, per entry; nil: it failed

	erase    []Erasable
	drop     []Entry
	attempts int
}

// NewRound starts a round over partitions.
func NewRound(partitions []HeldPartition) (*Round, RoundStep) {
	r := &Round{partitions: partitions}
	return r, r.scan()
}

func (r *Round) scan() RoundStep {
	if r.i >= len(r.partitions) {
		r.phase = roundDone
		return RoundStep{Done: true}
	}
	r.phase = scanning
	return RoundStep{Scan: &Scan{Partition: r.partitions[r.i].Partition, Acceptors: r.acceptors}}
}

// next goes on to the partition's strong keys, or to the next partition.
func (r *Round) next() RoundStep {
	if r.acceptors = !r.acceptors; !r.acceptors {
		r.i++
	}
	return r.scan()
}

// Scanned takes the local vnode's tombstones past grace, in the objects'
// pass.
func (r *Round) Scanned(entries []Entry) RoundStep {
	if r.phase != scanning || r.acceptors {
		return RoundStep{}
	}
	return r.askAbout(entries)
}

// ScannedAcceptors takes the local vnode's strong candidates, in the
// acceptor pass: tombstones to erase first, then erased registers to ask
// about.
func (r *Round) ScannedAcceptors(erase []Erasable, drop []Entry) RoundStep {
	if r.phase != scanning || !r.acceptors {
		return RoundStep{}
	}
	r.erase, r.drop = erase, drop
	return r.eraseNext()
}

// Erased takes the end of erase attempt, whatever its outcome: an erase
// that did not happen is the next round's to find.
func (r *Round) Erased(attempt int) RoundStep {
	if r.phase != erasing || attempt != r.attempts {
		return RoundStep{}
	}
	r.erase = r.erase[1:]
	return r.eraseNext()
}

func (r *Round) eraseNext() RoundStep {
	if len(r.erase) == 0 {
		return r.askAbout(r.drop)
	}
	r.phase = erasing
	r.attempts++
	return RoundStep{Erase: &r.erase[0], Attempt: r.attempts}
}

// askAbout asks every replica about entries, or goes on when there are none.
func (r *Round) askAbout(entries []Entry) RoundStep {
	if len(entries) == 0 {
		return r.next()
	}
	r.commit = false
	return r.ask(entries)
}

func (r *Round) ask(entries []Entry) RoundStep {
	r.phase, r.entries, r.replies = asking, entries, map[string][]bool{}
	hp := r.partitions[r.i]
	return RoundStep{Ask: &Ask{Partition: hp.Partition, Replicas: hp.Replicas, Entries: entries, Commit: r.commit, Acceptors: r.acceptors}}
}

// Replied takes a replica's answer (failed: an error, which holds
// nothing). With every replica's answer to a question, the entries all of
// them hold are ordered deleted; after the order, the round goes on.
// Answers from other nodes, or a second from one, are not counted.
func (r *Round) Replied(node string, holds []bool, failed bool) RoundStep {
	if r.phase != asking {
		return RoundStep{} // a late answer: the partition asked is in the past
	}
	hp := r.partitions[r.i]
	if !slices.Contains(hp.Replicas, node) {
		return RoundStep{}
	}
	if _, dup := r.replies[node]; dup {
		return RoundStep{}
	}
	if failed {
		holds = []bool{}
	}
	r.replies[node] = holds
	if len(r.replies) < len(hp.Replicas) {
		return RoundStep{}
	}
	if r.commit {
		return r.next()
	}
	var agreed []Entry
	for j, e := range r.entries {
		all := map[string]bool{}
		for id, h := range r.replies {
			all[id] = j < len(h) && h[j]
		}
		if Agreed(hp.Replicas, all) {
			agreed = append(agreed, e)
		}
	}
	if len(agreed) == 0 {
		return r.next()
	}
	r.commit = true
	return r.ask(agreed)
}
