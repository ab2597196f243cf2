// Package node owns a running HarmoniaKV node: it opens the store, starts
// the actor system, and serves the client API (harmonia.v1 KV, Table and
// Admin over gRPC), the DynamoDB-compatible endpoint (node/dynamodb) and
// the HTTP endpoint (metrics, status page, pprof). `harmonia server` is a
// thin shell over it; any program can run a node in its own process with
// Start (after Config.Validate) and Stop.
package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// api implements the gRPC services on top of the node's actors.
type api struct {
	kvpb.UnimplementedKVServer
	kvpb.UnimplementedAdminServer
	kvpb.UnimplementedTableServer
	sys *actors.System
	// items is the table service the Table service's item calls (and
	// CreateTable with a key schema) translate to.
	items tableapi.Service
	// sealer binds the contexts handed to clients to their key and the
	// cluster secret, and checks the ones they send back.
	sealer *causal.Sealer
	// unsafeTestWrites allows WriteReplica.
	unsafeTestWrites bool
	// security is the node's security mode (Security), shown by Status.
	security string
}

// toStatus maps internal errors to gRPC status codes with readable messages.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var qe *request.QuorumError
	switch {
	case errors.As(err, &qe) && qe.TimedOut:
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.As(err, &qe), errors.Is(err, request.ErrNoReplica):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, quorum.ErrInvalid), errors.Is(err, persistence.ErrKeyTooLarge),
		errors.Is(err, persistence.ErrValueTooLarge), errors.Is(err, persistence.ErrEmptyKey):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, actors.ErrOverloaded):
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func timeoutOf(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }

// joined refuses key requests while this node has not heard from the
// cluster since it started (System.Alone), and once it has left the
// cluster or was removed: its data may hold keys deleted since.
func (a *api) joined() error {
	v := a.sys.View()
	if v.Members[v.Self].Status == membership.Left {
		return status.Errorf(codes.FailedPrecondition, "node %s has left the cluster or was removed and serves no keys; to join again, wipe its data directory", v.Self)
	}
	if a.sys.Alone() {
		seeds := ""
		if s := a.sys.Config().Gossip.Seeds; len(s) > 0 {
			seeds = " (seeds " + strings.Join(s, ",") + ")"
		}
		return status.Errorf(codes.Unavailable, "this node has not heard from any other member since it started%s; retry shortly or use another node", seeds)
	}
	return nil
}

func (a *api) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	t, key, err := a.target(ctx, req.Table, req.Key)
	if err != nil {
		return nil, err
	}
	if err := notDatatype(t); err != nil {
		return nil, err
	}
	if t.Consistency == catalog.Strong {
		return a.strongGet(ctx, t, key, req)
	}
	r, err := a.sys.Quorum(req.R, a.sys.Config().R)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := a.sys.Get(ctx, actors.GetRequest{Key: key, R: r, Timeout: timeoutOf(req.TimeoutMs)})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &kvpb.GetResponse{Replied: uint32(res.Replied), Context: a.sealer.SealStamped(key, object.Context(res.Siblings), object.MaxStamp(res.Siblings)), Consistency: string(catalog.Eventual)}
	for _, s := range object.Live(res.Siblings) {
		out.Siblings = append(out.Siblings, &kvpb.Sibling{Value: s.Value, WrittenAtUnixNanos: s.WrittenAt})
	}
	out.Found = len(out.Siblings) > 0
	return out, nil
}

// checkWrite applies the limits to a client's new value and opens the
// causal context it read, which must have been issued for this key by this
// cluster; errors are InvalidArgument statuses. The stamp is the one a
// context of a last-writer-wins key carries.
func (a *api) checkWrite(key, value, rawContext []byte) (vclock.Clock, hlc.Timestamp, error) {
	if err := a.sys.CheckValue(value); err != nil {
		return nil, hlc.Timestamp{}, toStatus(err)
	}
	clock, stamp, err := a.sealer.OpenStamped(key, rawContext)
	if err != nil {
		return nil, hlc.Timestamp{}, status.Errorf(codes.InvalidArgument, "key %s: %v; pass the context a get of this key returned, or none", quoteKey(key), err)
	}
	return clock, stamp, nil
}

// quoteKey shows a key in an error message, cut short: keys may be up to
// the key size limit and binary. A created table's key is shown without
// its table prefix.
func quoteKey(key []byte) string {
	const shown = 64
	if info, err := catalog.ParseKey(key); err == nil {
		key = info.Key
	}
	if len(key) <= shown {
		return strconv.Quote(string(key))
	}
	return fmt.Sprintf("%q... (%d bytes)", key[:shown], len(key))
}

// eventualWrite is a put or delete on the eventual path.
type eventualWrite struct {
	key, value, context []byte
	deleted             bool
	w, pw               string
	timeoutMs           uint32
}

func (a *api) write(ctx context.Context, wr eventualWrite) (*actors.PutResult, error) {
	clock, stamp, err := a.checkWrite(wr.key, wr.value, wr.context)
	if err != nil {
		return nil, err
	}
	wq, err := a.sys.Quorum(wr.w, a.sys.Config().W)
	if err != nil {
		return nil, toStatus(err)
	}
	pwq := 0
	if strings.TrimSpace(wr.pw) != "" { // quorum.Parse ignores surrounding spaces
		if pwq, err = a.sys.Quorum(wr.pw, 0); err != nil {
			return nil, toStatus(err)
		}
	}
	res, err := a.sys.Put(ctx, actors.PutRequest{Key: wr.key, Value: wr.value, Deleted: wr.deleted, Context: clock, After: stamp, W: max(wq, pwq), PW: pwq, Timeout: timeoutOf(wr.timeoutMs)})
	if err != nil {
		return nil, toStatus(err)
	}
	return res, nil
}

func (a *api) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	t, key, err := a.target(ctx, req.Table, req.Key)
	if err != nil {
		return nil, err
	}
	if err := notDatatype(t); err != nil {
		return nil, err
	}
	if t.Consistency == catalog.Strong {
		return a.strongPut(ctx, t, key, req)
	}
	if req.IfAbsent || len(req.IfVersion) > 0 {
		return nil, eventualCondition(t)
	}
	res, err := a.write(ctx, eventualWrite{key: key, value: req.Value, context: req.Context, w: req.W, pw: req.Pw, timeoutMs: req.TimeoutMs})
	if err != nil {
		return nil, err
	}
	return &kvpb.PutResponse{Acks: uint32(res.Acks), Hinted: uint32(res.Hinted), Context: a.sealer.SealStamped(key, res.Context, res.Stamp), Consistency: string(catalog.Eventual)}, nil
}

func (a *api) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	t, key, err := a.target(ctx, req.Table, req.Key)
	if err != nil {
		return nil, err
	}
	if err := notDatatype(t); err != nil {
		return nil, err
	}
	if t.Consistency == catalog.Strong {
		return a.strongDelete(ctx, t, key, req)
	}
	if len(req.IfVersion) > 0 {
		return nil, eventualCondition(t)
	}
	res, err := a.write(ctx, eventualWrite{key: key, context: req.Context, deleted: true, w: req.W, pw: req.Pw, timeoutMs: req.TimeoutMs})
	if err != nil {
		return nil, err
	}
	out := &kvpb.DeleteResponse{Acks: uint32(res.Acks), Hinted: uint32(res.Hinted), Consistency: string(catalog.Eventual)}
	if !res.Stamp.IsZero() {
		// A last-writer-wins key: the client's next write with this
		// context wins over the delete, whatever the clocks.
		out.Context = a.sealer.SealStamped(key, res.Context, res.Stamp)
	}
	return out, nil
}

func (a *api) Status(context.Context, *kvpb.StatusRequest) (*kvpb.StatusResponse, error) {
	v := a.sys.View()
	cfg := a.sys.Config()
	out := &kvpb.StatusResponse{Node: v.Self, Fenced: v.Fenced, Partitions: uint32(cfg.Partitions), N: uint32(cfg.N), Owners: v.Ring.Owners(), Security: a.security, ClockOffset: durationpb.New(wallclock.Offset())}
	tables := a.sys.Tables().Catalog()
	out.Tables = &kvpb.TableStats{CatalogRevision: tables.Revision, Tables: uint32(len(tables.Tables)), Purging: a.sys.Tables().Purging(),
		ExpiredItemsDeleted: a.sys.ExpiredItemsDeleted()}
	held := map[string]uint32{}
	for p := 0; p < v.Ring.Partitions(); p++ {
		for _, id := range v.Ring.PreferenceListForPartition(p, cfg.N) {
			held[id]++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(v.Members)) {
		m := v.Members[id]
		age := int64(-1)
		if m.HeartbeatAge >= 0 {
			age = m.HeartbeatAge.Milliseconds()
		}
		out.Members = append(out.Members, &kvpb.MemberStatus{
			Id: id, ClusterAddr: m.ClusterAddr, ClientAddr: m.ClientAddr, State: string(m.Status), Incarnation: m.Incarnation,
			PartitionsOwned: uint32(len(v.Ring.OwnedBy(id))), PartitionsHeld: held[id], LastHeartbeatAgeMs: age,
			Generation: m.Generation, Phi: finite(m.Phi), Protocol: uint32(m.Protocol), TimesDown: uint32(m.TimesDown),
		})
	}
	if v.Transition.Stable() {
		out.Ring = "stable"
	} else {
		out.Ring = v.Transition.Key
		out.MovesTotal = uint32(len(v.Transition.Moves))
		out.TransitionDone = v.TransitionDone
	}
	out.ActorRestarts = a.sys.Restarts()
	rt := a.sys.RepairTotals()
	out.Repair = &kvpb.RepairStats{Exchanges: rt.Exchanges, KeysRepaired: rt.KeysRepaired, Bytes: rt.Bytes, Hashes: rt.Hashes, ExchangesRestarted: rt.Restarted,
		AcceptorsRepaired: rt.AcceptorsRepaired, AcceptorsCompleted: rt.AcceptorsCompleted}
	rs := a.sys.Reaping()
	out.Tombstones = &kvpb.TombstoneStats{Held: uint64(max(rs.TombstonesHeld, 0)), Reaped: rs.Reaped, Blocked: rs.Blocked, PartitionsDropped: rs.PartitionsDropped,
		AcceptorStatesDropped: rs.AcceptorStatesDropped}
	out.ReplicaDataRefused = a.sys.ReplicaDataRefused()
	out.Process = processStats()
	out.Disk = diskHealth(a.sys.StorageHealth())
	replayed := a.sys.HintsReplayed()
	hints := a.sys.HintStats()
	for _, target := range slices.Sorted(maps.Keys(hints)) {
		st := hints[target]
		q := &kvpb.HintQueue{Target: target, Count: st.Count, Bytes: st.Bytes, Dropped: st.Dropped, Replayed: replayed[target], OldestAgeMs: -1}
		if oldest, ok := a.sys.OldestHint(target); ok {
			q.OldestAgeMs = wallclock.Now().Sub(oldest).Milliseconds() // stamped by this node's wall clock
		}
		out.Hints = append(out.Hints, q)
	}
	key, transfers := a.sys.Transfers()
	out.TransfersTransition = key
	for _, t := range transfers {
		out.Transfers = append(out.Transfers, &kvpb.Transfer{Partition: uint32(t.Partition), From: t.From, To: v.Self,
			Keys: t.Keys, Batches: t.Batches, Done: t.Done, BatchesThisRun: t.BatchesThisRun, SourcesDone: t.SourcesDone,
			AcceptorStates: t.AcceptorStates, LastError: t.LastError})
	}
	return out, nil
}

func (a *api) Leave(context.Context, *kvpb.LeaveRequest) (*kvpb.LeaveResponse, error) {
	v := a.sys.View()
	done, err := membership.AdmitLeave(memberStatuses(v), v.Self)
	if err != nil {
		return nil, admissionStatus(err)
	}
	if !done {
		a.sys.Leave()
	}
	return &kvpb.LeaveResponse{Node: v.Self}, nil
}

func (a *api) Remove(_ context.Context, req *kvpb.RemoveRequest) (*kvpb.RemoveResponse, error) {
	v := a.sys.View()
	done, err := membership.AdmitRemove(memberStatuses(v), v.Self, req.Node)
	if err != nil {
		return nil, admissionStatus(err)
	}
	if !done {
		a.sys.Remove(req.Node)
	}
	return &kvpb.RemoveResponse{Node: req.Node}, nil
}

// memberStatuses is each member's status in view v.
func memberStatuses(v *actors.View) map[string]membership.Status {
	out := make(map[string]membership.Status, len(v.Members))
	for id, m := range v.Members {
		out[id] = m.Status
	}
	return out
}

// admissionStatus is the gRPC status of a refused leave or remove.
func admissionStatus(err error) error {
	code := codes.FailedPrecondition
	if errors.Is(err, membership.ErrNotMember) {
		code = codes.InvalidArgument
	}
	return status.Error(code, err.Error())
}

func (a *api) Repair(ctx context.Context, req *kvpb.RepairRequest) (*kvpb.RepairResponse, error) {
	if req.Partition >= int32(a.sys.Config().Partitions) || req.Partition < -1 {
		return nil, status.Errorf(codes.InvalidArgument, "partition %d out of range -1..%d", req.Partition, a.sys.Config().Partitions-1)
	}
	timeout := 10 * time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	results, err := a.sys.Repair(int(req.Partition), req.Peer, timeout)
	if err != nil {
		return nil, status.Error(codes.DeadlineExceeded, err.Error())
	}
	out := &kvpb.RepairResponse{}
	for _, r := range results {
		x := &kvpb.Exchange{Partition: uint32(r.Partition), Peer: r.Peer, Hashes: r.Hashes, KeysLocal: r.KeysLocal, KeysRemote: r.KeysRemote, Bytes: r.Bytes,
			AcceptorsLocal: r.AcceptorsLocal, AcceptorsRemote: r.AcceptorsRemote, AcceptorsCompleted: r.AcceptorsCompleted}
		if r.Err != nil {
			x.Error = r.Err.Error()
		}
		out.Exchanges = append(out.Exchanges, x)
	}
	return out, nil
}

func (a *api) Plan(_ context.Context, req *kvpb.PlanRequest) (*kvpb.PlanResponse, error) {
	// The ring statuses the gossiper computed, not liveness: a removed or
	// joining member that is down keeps its place in the plan.
	statuses := maps.Clone(a.sys.View().RingStatuses)
	for _, id := range req.Join {
		if _, ok := statuses[id]; ok && statuses[id] != ring.StatusLeft {
			return nil, status.Errorf(codes.InvalidArgument, "%s is already a member", id)
		}
		statuses[id] = ring.StatusJoining
	}
	for _, id := range req.Leave {
		if _, ok := statuses[id]; !ok {
			return nil, status.Errorf(codes.InvalidArgument, "%s is not a member", id)
		}
		statuses[id] = ring.StatusLeaving
	}
	t, err := ring.NewTransition(statuses, a.sys.Config().Partitions, a.sys.Config().N)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out := &kvpb.PlanResponse{Current: t.Current.Members(), Next: t.Next.Members(), OwnedAfter: map[string]uint32{}}
	for _, m := range t.Moves {
		out.Moves = append(out.Moves, &kvpb.PlanMove{Partition: uint32(m.Partition), To: m.To, From: m.From})
	}
	for _, id := range t.Next.Members() {
		out.OwnedAfter[id] = uint32(len(t.Next.OwnedBy(id)))
	}
	return out, nil
}

// finite caps phi for JSON, which has no infinity.
func finite(phi float64) float64 {
	const maxPhi = 1e6
	return min(phi, maxPhi)
}

func (a *api) Replicas(ctx context.Context, req *kvpb.ReplicasRequest) (*kvpb.ReplicasResponse, error) {
	t, key, err := a.target(ctx, req.Table, req.Key)
	if err != nil {
		return nil, err
	}
	if t.Consistency == catalog.Strong {
		return nil, status.Errorf(codes.InvalidArgument, "table %q is strong: its keys are consensus registers, not replica objects", t.Name)
	}
	res, err := a.sys.Replicas(ctx, key)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &kvpb.ReplicasResponse{Partition: uint32(res.Partition)}
	for _, r := range res.Replicas {
		view := &kvpb.ReplicaView{Node: r.Node, Answered: r.Answered, Error: r.Err}
		for _, s := range r.Siblings {
			rs := &kvpb.ReplicaSibling{Value: s.Value, Deleted: s.Deleted, WrittenAtUnixNanos: s.WrittenAt,
				Dot: &kvpb.ClockEntry{Node: s.Dot.Node, Incarnation: s.Dot.Incarnation, Counter: s.Dot.Counter}}
			if !s.Stamp.IsZero() {
				rs.Stamp = s.Stamp.String()
			}
			for _, e := range s.Context {
				rs.Context = append(rs.Context, &kvpb.ClockEntry{Node: e.Node, Incarnation: e.Incarnation, Counter: e.Counter})
			}
			view.Siblings = append(view.Siblings, rs)
		}
		out.Replicas = append(out.Replicas, view)
	}
	return out, nil
}

func (a *api) CrashVnode(_ context.Context, req *kvpb.CrashVnodeRequest) (*kvpb.CrashVnodeResponse, error) {
	if !a.unsafeTestWrites {
		return nil, status.Error(codes.FailedPrecondition, "CrashVnode is for tests; start the server with --unsafe-test-writes to allow it")
	}
	if p := a.sys.Config().Partitions; int(req.Partition) >= p {
		return nil, status.Errorf(codes.InvalidArgument, "partition %d out of range 0..%d", req.Partition, p-1)
	}
	a.sys.CrashVnode(int(req.Partition))
	return &kvpb.CrashVnodeResponse{}, nil
}

// maxClockOffset bounds a test clock offset: a day either way covers every
// skew a test needs and keeps times far from the edges of int64 nanoseconds.
const maxClockOffset = 24 * time.Hour

func (a *api) SetClockOffset(_ context.Context, req *kvpb.SetClockOffsetRequest) (*kvpb.SetClockOffsetResponse, error) {
	if !a.unsafeTestWrites {
		return nil, status.Error(codes.FailedPrecondition, "SetClockOffset is for tests; start the server with --unsafe-test-writes to allow it")
	}
	// Bounded in milliseconds first: a huge count would overflow as a
	// Duration.
	limit := maxClockOffset.Milliseconds()
	if req.OffsetMs > limit || req.OffsetMs < -limit {
		return nil, status.Errorf(codes.InvalidArgument, "clock offset %d ms: at most %v either way", req.OffsetMs, maxClockOffset)
	}
	prev := wallclock.Offset()
	wallclock.SetOffset(time.Duration(req.OffsetMs) * time.Millisecond)
	return &kvpb.SetClockOffsetResponse{PreviousOffsetMs: prev.Milliseconds()}, nil
}

// CheckClockOffset refuses a test clock offset beyond a day either way.
func CheckClockOffset(d time.Duration) error {
	if d > maxClockOffset || d < -maxClockOffset {
		return fmt.Errorf("--unsafe-test-clock-offset %v: at most %v either way", d, maxClockOffset)
	}
	return nil
}

func (a *api) WriteReplica(_ context.Context, req *kvpb.WriteReplicaRequest) (*kvpb.WriteReplicaResponse, error) {
	if !a.unsafeTestWrites {
		return nil, status.Error(codes.FailedPrecondition, "WriteReplica makes replicas diverge and is for tests; start the server with --unsafe-test-writes to allow it")
	}
	if _, _, err := a.target(context.Background(), "", req.Key); err != nil {
		return nil, err
	}
	clock, _, err := a.checkWrite(req.Key, req.Value, req.Context)
	if err != nil {
		return nil, err
	}
	written, err := a.sys.WriteReplica(req.Key, req.Value, clock, req.Delete)
	if err != nil {
		return nil, toStatus(err)
	}
	return &kvpb.WriteReplicaResponse{Context: a.sealer.Seal(req.Key, written)}, nil
}

func diskHealth(h persistence.Health) *kvpb.DiskHealth {
	out := &kvpb.DiskHealth{Failed: h.Failed, Full: h.Full, FreeBytes: h.FreeBytes, TotalBytes: h.TotalBytes,
		LastError: h.LastError, FailedWrites: h.FailedWrites, Errors: h.Errors}
	if !h.LastErrorAt.IsZero() {
		out.LastErrorUnixNanos = h.LastErrorAt.UnixNano()
	}
	return out
}
