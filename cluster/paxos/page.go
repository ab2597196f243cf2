package paxos

import (
	"bytes"
	"fmt"
	"math"
	"time"
)

// How a voter takes a peer's page of one partition's acceptor states: a
// transfer's to a new replica, a rebuild's to an acceptor that lost its
// state, an anti-entropy exchange's. The page comes from a peer, so what
// it says is checked before any of it is kept; a register that does not
// check refuses the whole page (a transfer must not skip a register, and
// an exchange is redone from fresh reads anyway).

// PageKind is whose page of acceptor states a node takes: it decides what
// of each register is carried (CarryOf), what refuses the page, and how
// the acceptor takes what is carried (State.Take).
type PageKind int

const (
	// TransferPage is a transfer's page to a new replica: the peer's
	// floor is taken (unless too far ahead of the clock), a settled value
	// is carried as a commit, an unsettled one is completed, and a
	// register of no live strong table is skipped.
	TransferPage PageKind = iota
	// RebuildPage is a rebuild's page: a TransferPage whose promises are
	// carried too, which the rebuilt acceptor raises its own to.
	RebuildPage
	// ExchangePage is an anti-entropy exchange's page to a voter of the
	// partition: it carries only values known chosen, as commits, and
	// anything not settled refuses it. It names no floor, and no register
	// is skipped (the vnode drops a deleted table's when it applies it).
	ExchangePage
)

// Page is a peer's page of acceptor states, decoded.
type Page struct {
	// Floor is the peer's acceptor floor (a transfer's or a rebuild's
	// page; an exchange's names none).
	Floor     Ballot
	Registers []PageRegister
}

// PageRegister is one register's state in a Page. StateErr is why the
// peer's state did not decode; it refuses the page only once the register
// is reached and not skipped, as a state decoded there would.
type PageRegister struct {
	Key      []byte
	State    State
	StateErr error
}

// PageRules are what a page is checked against: the receiving node's
// partition, ring, store, catalog and clock, as plain values and
// functions.
type PageRules struct {
	// Partition is the partition the page is of; PartitionOf is the
	// partition of a key in the node's ring.
	Partition   int
	PartitionOf func(key []byte) int
	// CheckKey is the store's key limit.
	CheckKey func(key []byte) error
	// Live refuses a register of no live strong table: one of a deleted
	// table (its data is being removed) or of no strong table (no
	// proposer may step it). Nil: every register is live. Only a
	// transfer's and a rebuild's page skip such a register.
	Live func(key []byte) error
	// Now is the node's clock reading, and MaxFloorAhead how far ahead of
	// it a peer's floor may be: a floor's round is a proposer's clock
	// reading, so one far ahead is a bug or a lie, and taking it would
	// leave the partition's proposers chasing it.
	Now           time.Time
	MaxFloorAhead time.Duration
}

// RegisterCarry is what a page carries of one register.
type RegisterCarry struct {
	Key   []byte
	Carry Carry
}

// PageCarry is what a node takes of a page.
type PageCarry struct {
	// Carried are the registers to apply, in key order: each Carry's
	// commit, and for a rebuild its promise.
	Carried []RegisterCarry
	// Complete are the registers to complete, in key order.
	Complete [][]byte
	// Skipped counts the registers of no live strong table passed over,
	// SkipWhy the last one's reason: they are reported, not carried. They
	// are counted up to a refusal too.
	Skipped int
	SkipWhy error
}

// CheckPage decides what a node takes of a peer's page of partition
// rules.Partition's acceptor states, or why it refuses the page: a floor
// too far ahead of rules.Now (transfer and rebuild), a register key over
// the store's limit, of another partition or not after the one before it
// (a page is in key order, each key once), a state that did not decode, a
// committed value no proposer makes, or (exchange) a state not settled.
// Errors name the register, not the peer: the caller says who sent it.
// On an error only Skipped and SkipWhy are meaningful.
func CheckPage(kind PageKind, page Page, rules PageRules) (PageCarry, error) {
	var out PageCarry
	// Rounds are clock readings: one this far ahead is not one. Compared
	// unsigned, so a round past the top of a signed reading is ahead too.
	if kind != ExchangePage && page.Floor.Round > uint64(rules.Now.Add(rules.MaxFloorAhead).UnixMicro()) {
		ahead := time.Duration(min(page.Floor.Round-uint64(rules.Now.UnixMicro()), math.MaxInt64/uint64(time.Microsecond))) * time.Microsecond
		return out, fmt.Errorf("floor %s, %v ahead of this node's clock", page.Floor, ahead)
	}
	var prev []byte
	for _, r := range page.Registers {
		if err := checkRegisterKey(rules, r.Key, prev); err != nil {
			return out, err
		}
		prev = r.Key
		if kind != ExchangePage && rules.Live != nil {
			if err := rules.Live(r.Key); err != nil {
				// Nothing to carry, and a completing read would
				// be refused for good.
				out.Skipped++
				out.SkipWhy = err
				continue
			}
		}
		if r.StateErr != nil {
			return out, fmt.Errorf("register %.64q: %w", r.Key, r.StateErr)
		}
		c := CarryOf(r.State)
		if kind == ExchangePage && !c.Commit {
			return out, fmt.Errorf("register %.64q is not settled there: only values known chosen are carried", r.Key)
		}
		if c.Commit {
			switch checkValue(c.Ballot, c.Value) {
			case versionMissing:
				return out, fmt.Errorf("register %.64q: %w", r.Key, errValueWithoutVersion)
			case versionAboveBallot:
				return out, fmt.Errorf("register %.64q: value version %s above its committed ballot %s", r.Key, c.Value.Version, c.Ballot)
			}
		}
		switch {
		case kind == ExchangePage:
			out.Carried = append(out.Carried, RegisterCarry{Key: r.Key, Carry: Carry{Commit: true, Ballot: c.Ballot, Value: c.Value}})
		case c.Commit || kind == RebuildPage && !c.Promised.IsZero():
			out.Carried = append(out.Carried, RegisterCarry{Key: r.Key, Carry: c})
		}
		if c.Complete {
			out.Complete = append(out.Complete, r.Key)
		}
	}
	return out, nil
}

// checkRegisterKey checks a register key of a page: within the store's key
// limit, of the partition, and after prev.
func checkRegisterKey(rules PageRules, key, prev []byte) error {
	if err := rules.CheckKey(key); err != nil {
		return fmt.Errorf("register %.64q: %w", key, err)
	}
	if p := rules.PartitionOf(key); p != rules.Partition {
		return fmt.Errorf("register %.64q: it is in partition %d, not %d", key, p, rules.Partition)
	}
	if prev != nil && bytes.Compare(key, prev) <= 0 {
		return fmt.Errorf("register %.64q after %.64q: out of order", key, prev)
	}
	return nil
}
