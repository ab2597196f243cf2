// Package crdt owns the conflict-free replicated data types of `conflict =
// crdt` tables (issue 23): their states, the operations clients send, the
// deltas those operations produce, how states and deltas merge, the values an
// API renders, and a binary encoding of all of it. It does no I/O and keeps
// no clock: actors and timestamps come in as arguments.
//
// # Model
//
// Every type is a dot store in the sense of delta-state CRDTs (Almeida,
// Shoker, Baquero): a State is a store whose entries are tagged with dots,
// plus a Context, the set of dots the replica has seen. An entry whose dot
// the other side has seen but does not hold was removed there, so a merge
// drops it; an entry the other side has not seen survives. That one rule
// gives observed-remove, add-wins semantics to every type and lets a map hold
// any type, nested maps included, under one shared context, with no
// tombstones.
//
//   - Counter: per actor, its increments and decrements, tagged with the dot
//     of its latest update. The value is their sum.
//   - Set: add-wins set of byte strings (ORSWOT); each element keeps the dots
//     of its live adds.
//   - Flag: enable-wins; enabled while it holds a dot.
//   - MVRegister: keeps every concurrently assigned value, like siblings.
//   - LWWRegister: the value with the highest timestamp wins, ties broken by
//     dot (actor, then counter). A merge keeps concurrent assignments (it
//     must, to stay a join under field removal); the view picks the winner
//     and the next assignment replaces them all.
//   - Map: fields keyed by (name, kind), each holding a value of that kind.
//
// # Updates and contexts
//
// Apply runs a client's operations on a replica's state and returns the new
// state and a delta: a small State of the same kind such that the new state
// is the old one merged with the delta. A delta merges into any replica, in
// any order, any number of times; shipping every delta gives the same state
// as shipping full states.
//
// The replica issues each operation's dot: one past the highest dot of that
// actor its context holds. An actor must therefore apply every update of a
// value to a state that holds all of its own earlier updates of that value
// (its own replica; a wiped node comes back as a new incarnation, a new
// actor), or it would issue a dot twice.
//
// A client reads a value with its Context and sends the context back with
// its update. Operations that take something away (Remove, RemoveField,
// Disable, Assign) take away only the dots that context covers, so they
// never undo a write the client did not see. Two refusals keep that rule
// honest:
//   - ErrUnseenContext: the client's context has dots this replica has not
//     seen, so the replica cannot know everything the client meant to
//     remove. The coordinator should merge more replicas and retry.
//   - ErrNotObserved: Remove of an element or RemoveField of a field the
//     context saw none of. (Disable of a flag the context never saw enabled
//     is a no-op: the flag is already off as far as the client knows.)
//
// # Removing a map field
//
// RemoveField removes the dots the context saw anywhere under the field,
// recursively (the delta-CRDT observed-remove map, which is also riak_dt's
// reset-remove). An update made concurrently with the removal survives, and
// only it: a concurrently added set element comes back alone, not the
// elements the remover saw. Counters are the one coarse case: an actor's
// contribution to a counter is one entry (its running total) under one dot,
// so an actor that incremented concurrently with the removal brings back its
// whole total on that field, not just the concurrent increment. Keeping a
// dot per increment would make that exact at the cost of a counter that
// grows with every update; riak_dt_map made the same trade.
//
// # Encoding
//
// Encode writes a canonical, versioned binary form. Decode accepts exactly
// the bytes Encode produces and never panics: anything else is ErrMalformed,
// and input past Limits is ErrLimit.
package crdt
