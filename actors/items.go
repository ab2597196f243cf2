package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/itemop"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/packedpage"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// RangeRead is one page of a range of a strong table's items: the
// registers of [Lower, Upper) in key order (descending when Reverse), at
// most MaxKeys of them and about MaxBytes.
type RangeRead struct {
	Lower, Upper []byte
	Reverse      bool
	MaxKeys      int
	MaxBytes     int
	// OfTable: the range is a part of one strong table's items
	// (catalog.TableItems, a Scan's), which every partition holds some
	// of, and the read is of those in Partition. Otherwise the range is
	// of one partition key's items (catalog.ItemRange, a Query's), read
	// in the partition that places them.
	OfTable   bool
	Partition int
	// Current, for a read of an eventual table's items, is what a key's
	// merged versions hold (nil: the last writer's; a table of CRDT items
	// renders its state: itemop.CRDTCurrent).
	Current func(key []byte, versions []object.Sibling) (paxos.Value, error)
}

// rangePartition is the partition a range read of a table of consistency
// c reads: the one the read names, for a read of a whole table's items
// (checked against the catalog and the ring), or the one holding its
// lower bound's items.
func (s *System) rangePartition(view *View, r RangeRead, c catalog.Consistency) (int, error) {
	if view.Ring == nil {
		return 0, errors.New("range read: this node has no ring yet")
	}
	if r.OfTable {
		if err := s.tables.Catalog().CheckItemRange(r.Lower, r.Upper, c); err != nil {
			return 0, fmt.Errorf("range read: %w", err)
		}
		if r.Partition < 0 || r.Partition >= view.Ring.Partitions() {
			return 0, fmt.Errorf("range read: no partition %d in a ring of %d", r.Partition, view.Ring.Partitions())
		}
		return r.Partition, nil
	}
	if c == catalog.Strong {
		if !catalog.IsItemKey(r.Lower) {
			return 0, errors.New("range read: the lower bound is not an item's key")
		}
		if err := s.tables.Catalog().CheckStrongKey(r.Lower); err != nil {
			return 0, err
		}
	} else if err := s.tables.Catalog().CheckEventualItemKey(r.Lower); err != nil {
		return 0, fmt.Errorf("range read: %w", err)
	}
	return view.Ring.PartitionForKey(r.Lower), nil
}

// ReadRange reads one page of a range of a strong table's items
// linearizably: each register's value reflects every write acknowledged
// before the read began. The range is one partition key's items, or with
// OfTable a part of one table's items read in one partition. complete
// reports that the range holds nothing more (in that partition) past the
// page.
func (s *System) ReadRange(ctx context.Context, r RangeRead) (entries []itemop.Stored, complete bool, err error) {
	view := s.view.Load()
	if view.Transition == nil {
		return nil, false, errors.New("range read: this node has no ring yet")
	}
	p, err := s.rangePartition(view, r, catalog.Strong)
	if err != nil {
		return nil, false, err
	}
	// One deadline for the whole read: the voters' pages, then the reads
	// that complete registers not known to be committed.
	timeout := s.timeout(ctx, 0)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	voters := view.Transition.Voters(p)
	req := &internalpb.AcceptorRangeRead{Partition: uint32(p), Lower: r.Lower, Upper: r.Upper, Reverse: r.Reverse, OfTable: r.OfTable,
		MaxKeys: uint32(max(r.MaxKeys, 1)), MaxBytes: uint32(max(r.MaxBytes, 1)), Transition: view.Transition.Fingerprint, Sender: view.sender()}
	type answer struct {
		from  string
		reply *internalpb.HandoffBatch
		err   error
	}
	var asked []string
	for _, g := range voters {
		for _, id := range g {
			if !slices.Contains(asked, id) {
				asked = append(asked, id)
			}
		}
	}
	answers := make(chan answer, len(asked))
	for _, id := range asked {
		f := s.actors.Root.RequestFuture(view.vnodePID(id, p), req, timeout)
		go func() {
			res, err := f.Result()
			b, ok := res.(*internalpb.HandoffBatch)
			switch {
			case err != nil:
			case !ok || b.Node != id || !b.OfAcceptorStates:
				err = fmt.Errorf("%s answered a range read with %T", id, res)
			case b.Error != "":
				err = errors.New(b.Error)
			}
			answers <- answer{from: id, reply: b, err: err}
		}()
	}
	var replies []paxos.RangeReply
	got := map[string]bool{}
	var why []string
	for range asked {
		a := <-answers
		if a.err != nil {
			why = append(why, fmt.Sprintf("%s: %v", a.from, a.err))
			continue
		}
		reply, err := rangeReplyOf(a.from, a.reply, r)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		replies = append(replies, reply)
		got[a.from] = true
		if paxos.Quorum(voters, got) {
			break
		}
	}
	if !paxos.Quorum(voters, got) {
		return nil, false, &StrongError{paxos.Result{Outcome: paxos.OutcomeUnavailable,
			Why: fmt.Sprintf("a majority of the voters of partition %d did not answer a range read within %v: %v", p, timeout, why)}}
	}
	merged, complete, err := paxos.MergeRange(voters, replies, r.Reverse)
	if err != nil {
		return nil, false, err
	}
	for _, e := range merged {
		v := e.Value
		if !e.Settled {
			res, err := s.Strong(ctx, e.Key, paxos.Op{Kind: paxos.OpGet})
			if err != nil {
				return nil, false, err
			}
			if res.Outcome != paxos.OutcomeOK {
				return nil, false, &StrongError{res}
			}
			v = res.Value
		}
		entries = append(entries, itemop.Stored{Key: e.Key, Value: v})
	}
	return entries, complete, nil
}

// rangeReplyOf decodes a voter's page of read, refusing one whose
// registers are outside the range, out of the read's order, or more than
// it asked for: the merge counts on each page being what was asked.
func rangeReplyOf(from string, b *internalpb.HandoffBatch, read RangeRead) (paxos.RangeReply, error) {
	r := paxos.RangeReply{From: from, More: !b.Done}
	if len(b.AcceptorStates) > max(read.MaxKeys, 1) {
		return paxos.RangeReply{}, fmt.Errorf("%s: %d registers for a read of at most %d", from, len(b.AcceptorStates), max(read.MaxKeys, 1))
	}
	for i, e := range b.AcceptorStates {
		if bytes.Compare(e.Key, read.Lower) < 0 || bytes.Compare(e.Key, read.Upper) >= 0 {
			return paxos.RangeReply{}, fmt.Errorf("%s: register %.64q is outside the range read", from, e.Key)
		}
		if i > 0 {
			if c := bytes.Compare(e.Key, r.Keys[i-1]); c == 0 || (c < 0) != read.Reverse {
				return paxos.RangeReply{}, fmt.Errorf("%s: register %.64q is out of order", from, e.Key)
			}
		}
		st, err := paxospb.StateFromProto(e.State)
		if err != nil {
			return paxos.RangeReply{}, fmt.Errorf("%s: register %.64q: %w", from, e.Key, err)
		}
		r.Keys, r.States = append(r.Keys, e.Key), append(r.States, st)
	}
	return r, nil
}

// ReadEventualRange reads one page of a range of an eventual table's items
// at read quorum rq: it asks rq of the partition's replicas that are up
// (the primaries of the current ring), its own first, and one more when
// one fails or after Coordinator.SpeculativeRetry (all at once with
// Coordinator.AskAllReplicas), as a get does; it merges the pages of the
// first rq to answer item by item (itemop.MergeEventualRange: the
// newest write any of them took wins), and returns each key's merged
// value, items deleted included (without a value). complete reports that
// the range holds nothing more (in that partition) past the page.
func (s *System) ReadEventualRange(ctx context.Context, r RangeRead, rq int) (entries []itemop.Stored, complete bool, err error) {
	view := s.view.Load()
	p, err := s.rangePartition(view, r, catalog.Eventual)
	if err != nil {
		return nil, false, err
	}
	timeout := s.timeout(ctx, 0)
	deadline := time.Now().Add(timeout)
	pref := view.Ring.PreferenceListForPartition(p, view.N)
	tally := quorum.NewTallyOver(pref, max(min(rq, len(pref)), 1))
	for _, id := range pref {
		if !view.Up(id) {
			tally.Fail(id, errors.New("down"))
		}
	}
	// R replicas first, this node's own first, as a get
	// (request.RangeAsks): another one when one fails or those asked are
	// slow.
	cc := s.cfg.Coordinator
	asks, first := request.NewRangeAsks(view.placement(p, pref, nil), rq, cc.AskAllReplicas)
	sender := view.sender()
	newReq := func(versions bool) *internalpb.ObjectRangeRead {
		return &internalpb.ObjectRangeRead{Partition: uint32(p), Lower: r.Lower, Upper: r.Upper, Reverse: r.Reverse, OfTable: r.OfTable,
			MaxKeys: uint32(max(r.MaxKeys, 1)), MaxBytes: uint32(max(r.MaxBytes, 1)), Sender: sender, Versions: versions}
	}
	req, versionsReq := newReq(false), newReq(true)
	type answer struct {
		from     string
		versions bool // asked for versions
		page     itemop.ReplicaPage
		err      error
	}
	// read asks replica id for its page (of versions) into answers.
	read := func(id string, versions bool, left time.Duration, answers chan<- answer) {
		m := req
		if versions {
			m = versionsReq
		}
		f := s.actors.Root.RequestFuture(view.vnodePID(id, p), m, left)
		go func() {
			res, err := f.Result()
			a := answer{from: id, versions: versions, err: err}
			if err == nil {
				a.page, a.err = objectPageOf(id, res, r, versions)
			}
			answers <- a
		}()
	}
	answers := make(chan answer, len(pref))
	// One replica answers with its objects (the first asked: this node's
	// own, as a rule), the others with their versions (WholeRangeReads
	// aside). A replica asked later, because one failed or was slow, is
	// asked for its objects until a page of objects has come: the one
	// asked for them may be the one that failed or is slow.
	asked, gotObjects := 0, false
	ask := func(id string, versions bool) {
		left := time.Until(deadline)
		if left <= 0 {
			tally.Fail(id, errors.New("not asked: the read's time is up"))
			return
		}
		asked++
		read(id, versions && !cc.WholeRangeReads, left, answers)
	}
	for i, id := range first {
		ask(id, i > 0)
	}
	var speculate <-chan time.Time
	var retry *time.Timer
	if asks.Left() && cc.SpeculativeRetry > 0 {
		retry = time.NewTimer(cc.SpeculativeRetry)
		defer retry.Stop()
		speculate = retry.C
	}
	pages := make([]itemop.ReplicaPage, 0, len(first))
	for asked > 0 && !tally.Done() {
		select {
		case a := <-answers:
			asked--
			if a.err == nil {
				tally.Ack(a.from)
				pages = append(pages, a.page)
				gotObjects = gotObjects || !a.versions
				continue
			}
			tally.Fail(a.from, a.err)
			if id, ok := asks.Next(); ok {
				ask(id, gotObjects)
			}
		case <-speculate:
			if id, ok := asks.Next(); ok {
				s.requests.speculativeAsks.Add(1)
				ask(id, gotObjects)
			}
			if asks.Left() {
				retry.Reset(cc.SpeculativeRetry)
			} else {
				speculate = nil
			}
		}
	}
	if !tally.Met() {
		return nil, false, &request.QuorumError{Op: "range read", Summary: tally.Summary(), TimedOut: !tally.Impossible()}
	}
	// Replicas whose versions differ from the page of objects (or all that
	// answered versions, if the one asked for objects was not among the
	// first R to answer) are read whole, so that the merge and its read
	// repairs see what each holds.
	pages, reread := itemop.ResolveVersions(pages)
	if len(reread) > 0 {
		s.requests.rangeRereads.Add(uint64(len(reread)))
		// A replica that cannot answer now leaves the read short of R
		// pages it can merge: a quorum error, as one that never answered.
		left := time.Until(deadline)
		if left <= 0 {
			return nil, false, &request.QuorumError{Op: "range read", TimedOut: true,
				Summary: fmt.Sprintf("the read's time was up before it could read %v whole, whose versions differ from the page read", reread)}
		}
		whole := make(chan answer, len(reread))
		for _, id := range reread {
			read(id, false, left, whole)
		}
		for range reread {
			a := <-whole
			if a.err != nil {
				return nil, false, &request.QuorumError{Op: "range read", TimedOut: errors.Is(a.err, actor.ErrTimeout),
					Summary: fmt.Sprintf("%s answered versions that differ from the page read, and then not its page: %v", a.from, a.err)}
			}
			pages = append(pages, a.page)
		}
	}
	now := wallclock.Now()
	entries, repairs, complete, err := itemop.MergeEventualRange(pages, r.Reverse, r.Current, func(merged, held []object.Sibling) bool {
		return s.cfg.Reap.Spread(merged, held, now)
	})
	if err != nil {
		return nil, false, err
	}
	// Read repair, as a get's: the replicas that answered with less get
	// the merge, without waiting (anti-entropy covers a lost one).
	s.requests.readRepairs.Add(uint64(len(repairs)))
	for _, rp := range repairs {
		s.actors.Root.Send(view.vnodePID(rp.To, p), &internalpb.ReplicaPut{Partition: uint32(p), Key: rp.Key, Object: object.ToProto(rp.Versions), Sender: view.sender()})
	}
	return entries, complete, nil
}

// objectPageOf takes a replica's page of read (of versions, when asked
// for them), refusing one that is not an answer to it: keys outside the
// range, more than it asked for, or versions where its objects were asked
// (the merge checks the order and decodes the objects).
func objectPageOf(from string, res any, read RangeRead, versions bool) (itemop.ReplicaPage, error) {
	b, ok := res.(*internalpb.ObjectRangePage)
	switch {
	case !ok || b.Node != from:
		return itemop.ReplicaPage{}, fmt.Errorf("%s answered a range read with %T", from, res)
	case b.Error != "":
		return itemop.ReplicaPage{}, errors.New(b.Error)
	case int(b.Count) > max(read.MaxKeys, 1):
		return itemop.ReplicaPage{}, fmt.Errorf("%s: %d keys for a read of at most %d", from, b.Count, max(read.MaxKeys, 1))
	case b.Versions && !versions:
		// (A page of objects for a read of versions is an answer, only
		// larger: a node that does not know the field, an older version
		// mid-upgrade, sends its objects.)
		return itemop.ReplicaPage{}, fmt.Errorf("%s: a page of versions for a read of its objects", from)
	}
	keys, objects, err := packedpage.Entries(b.Entries, int(b.Count))
	if err != nil {
		return itemop.ReplicaPage{}, fmt.Errorf("%s: %w", from, err)
	}
	for _, k := range keys {
		if bytes.Compare(k, read.Lower) < 0 || bytes.Compare(k, read.Upper) >= 0 {
			return itemop.ReplicaPage{}, fmt.Errorf("%s: key %.64q is outside the range read", from, k)
		}
	}
	return itemop.ReplicaPage{From: from, More: !b.Done, Keys: keys, Objects: objects, Versions: b.Versions}, nil
}
