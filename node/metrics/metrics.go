// Package metrics exposes a node to Prometheus: its client API's traffic,
// counted as calls end, and its state (members, hints, repair, handoff,
// actor failures, pebble), read from the node when scraped. Names follow
// Prometheus conventions: harmonia_..._total for counters, _seconds and
// _bytes for units.
package metrics

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/persistence"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Source is what the state metrics are read from at each scrape.
type Source struct {
	Status        func(context.Context) (*kvpb.StatusResponse, error)
	ActorFailures func() []actors.ActorFailure
	Requests      func() actors.RequestCounts
	Store         func() *pebble.Metrics
	// Presence is what the store's presence filters did; nil: none.
	Presence func() persistence.PresenceStats
	// TLSRefused counts the peer certificates refused, by direction
	// (incoming, outgoing); nil without TLS.
	TLSRefused func() map[string]uint64
	// TLSExpiry is when the node's certificate in use expires; nil without
	// TLS.
	TLSExpiry func() time.Time
}

// Registry holds a node's metrics.
type Registry struct {
	reg      *prometheus.Registry
	requests *Requests
}

// New registers the request metrics, the node's state read from src, and
// Go's and the process's own.
func New(src Source) *Registry {
	reg := prometheus.NewRegistry()
	r := &Registry{reg: reg, requests: newRequests()}
	reg.MustRegister(r.requests.duration, r.requests.calls, r.requests.acks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{src: src})
	return r
}

// Handler serves the metrics in Prometheus's text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Interceptor counts and times every client API call.
func (r *Registry) Interceptor() grpc.UnaryServerInterceptor { return r.requests.intercept }

// Requests are the client API's metrics.
type Requests struct {
	duration *prometheus.HistogramVec
	calls    *prometheus.CounterVec
	acks     *prometheus.CounterVec
}

// requestBuckets span a cached read on loopback (0.1 ms) to a request
// that waited for its timeout (5 s default) and more.
var requestBuckets = prometheus.ExponentialBucketsRange(0.0001, 10, 21)

func newRequests() *Requests {
	return &Requests{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "harmonia_request_duration_seconds", Help: "Client API calls by operation and quorum asked, successful or not.",
			Buckets: requestBuckets,
		}, []string{"op", "quorum"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harmonia_requests_total", Help: "Client API calls by operation, quorum asked and gRPC status code.",
		}, []string{"op", "quorum", "code"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harmonia_write_acks_total", Help: "Replica acks of successful writes: from a primary replica, or from a fallback that keeps a hint.",
		}, []string{"kind"}),
	}
}

func (q *Requests) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	op := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	quorum := ""
	switch r := req.(type) {
	case *kvpb.GetRequest:
		quorum = r.R
	case *kvpb.PutRequest:
		quorum = r.W
	case *kvpb.DeleteRequest:
		quorum = r.W
	default:
		quorum = "-" // not a data operation
	}
	quorum = QuorumLabel(quorum)
	op = strings.ToLower(op)
	q.duration.WithLabelValues(op, quorum).Observe(time.Since(start).Seconds())
	q.calls.WithLabelValues(op, quorum, status.Code(err).String()).Inc()
	var acks, hinted uint32
	switch r := resp.(type) {
	case *kvpb.PutResponse:
		acks, hinted = r.GetAcks(), r.GetHinted()
	case *kvpb.DeleteResponse:
		acks, hinted = r.GetAcks(), r.GetHinted()
	}
	if err == nil && acks > 0 {
		q.acks.WithLabelValues("primary").Add(float64(acks - min(hinted, acks)))
		q.acks.WithLabelValues("fallback").Add(float64(hinted))
	}
	return resp, err
}

// QuorumLabel bounds what a client's quorum text can put in a label:
// default, one, quorum, all, a number up to 16, or other.
func QuorumLabel(q string) string {
	switch strings.ToLower(strings.TrimSpace(q)) {
	case "":
		return "default"
	case "-":
		return "-"
	case "one", "quorum", "all":
		return strings.ToLower(strings.TrimSpace(q))
	}
	if n, err := strconv.Atoi(strings.TrimSpace(q)); err == nil && n >= 1 && n <= 16 {
		return strconv.Itoa(n)
	}
	return "other"
}

// nodeCollector reads the node's state at each scrape.
type nodeCollector struct{ src Source }

// nodeDescs are every descriptor desc made: what nodeCollector describes.
var nodeDescs []*prometheus.Desc

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	nodeDescs = append(nodeDescs, d)
	return d
}

var (
	memberState       = desc("harmonia_member_state", "1 for each member's state as this node sees it (up, suspect, down, leaving, left).", "member", "state")
	memberPhi         = desc("harmonia_member_phi", "Phi-accrual suspicion of each member (0 for this node).", "member")
	memberHeartbeat   = desc("harmonia_member_heartbeat_age_seconds", "Time since this node last heard each member's heartbeat.", "member")
	memberDown        = desc("harmonia_member_marked_down_total", "Times this node marked each member down since it started.", "member")
	memberOwned       = desc("harmonia_member_partitions_owned", "Partitions whose first replica each member is.", "member")
	hintsPending      = desc("harmonia_hints_pending", "Hints this node keeps, by target node.", "target")
	hintsBytes        = desc("harmonia_hints_pending_bytes", "Bytes of the hints this node keeps, by target node.", "target")
	hintsOldest       = desc("harmonia_hints_oldest_age_seconds", "Age of the oldest hint kept for each target.", "target")
	hintsReplayed     = desc("harmonia_hints_replayed_total", "Hints delivered to their target by this process.", "target")
	hintsDropped      = desc("harmonia_hints_dropped_total", "Hints not kept (bound reached) or expired.", "target")
	repairExchanges   = desc("harmonia_antientropy_exchanges_total", "Anti-entropy exchanges this node ran.")
	repairRestarted   = desc("harmonia_antientropy_exchanges_restarted_total", "Anti-entropy exchanges started again after a crash.")
	repairKeys        = desc("harmonia_antientropy_keys_repaired_total", "Keys anti-entropy wrote, here or to peers.")
	repairStrong      = desc("harmonia_antientropy_strong_keys_repaired_total", "Strong keys' committed values anti-entropy taught to a replica, here or to peers.")
	repairComplete    = desc("harmonia_antientropy_strong_proposals_completed_total", "Stale strong-key proposals (accepted, known chosen by no replica) anti-entropy completed.")
	repairBytes       = desc("harmonia_antientropy_bytes_sent_total", "Object bytes anti-entropy sent.")
	ringStable        = desc("harmonia_ring_stable", "1 when no member is joining or leaving.")
	ringMoves         = desc("harmonia_ring_moves", "Replicas the ring transition under way still moves, cluster-wide.")
	handoffParts      = desc("harmonia_handoff_partitions", "Partitions this node receives in the transition under way, by state.", "state")
	handoffKeys       = desc("harmonia_handoff_keys_received", "Keys this node has received in the transition under way.")
	actorFailures     = desc("harmonia_actor_failures_total", "Actors that failed, by kind and what their supervisor did.", "kind", "directive")
	tombstones        = desc("harmonia_tombstones", "Tombstones this node's replicas hold.")
	reaped            = desc("harmonia_tombstones_reaped_total", "Tombstones deleted on this node since it started.")
	refused           = desc("harmonia_replica_data_refused_total", "Replica writes, hints and repairs refused from senders that are not members in good standing.")
	compactions       = desc("harmonia_pebble_compactions_total", "Pebble compactions.")
	compactDebt       = desc("harmonia_pebble_compaction_debt_bytes", "Pebble's estimate of the bytes to compact before the LSM is stable.")
	cacheHits         = desc("harmonia_pebble_block_cache_hits_total", "Pebble block cache hits.")
	cacheMisses       = desc("harmonia_pebble_block_cache_misses_total", "Pebble block cache misses.")
	cacheBytes        = desc("harmonia_pebble_block_cache_bytes", "Bytes in pebble's block cache.")
	readsSkipped      = desc("harmonia_store_reads_skipped_total", "Point reads of keys never written, answered by the presence filters without pebble.")
	filterBytes       = desc("harmonia_store_presence_filter_bytes", "Memory the presence filters take.")
	walBytes          = desc("harmonia_pebble_wal_bytes_written_total", "Bytes written to pebble's write-ahead log.")
	walFsync          = desc("harmonia_pebble_wal_fsync_duration_seconds", "Fsyncs of pebble's write-ahead log.")
	diskBytes         = desc("harmonia_pebble_disk_usage_bytes", "Bytes pebble holds on disk.")
	putTimeouts       = desc("harmonia_put_replica_timeouts_total", "Replicas that had not acked a put coordinated here by the replica timeout; each gets a hint.")
	stampsNotFollowed = desc("harmonia_lww_stamps_not_followed_total", "Stamps of last-writer-wins writes this node stored without advancing its clock to them: too far ahead of its own clock (a node's clock is wrong).")
	speculative       = desc("harmonia_get_speculative_asks_total", "Replicas a get asked because the ones it had asked were slow (speculative retry).")
	readRepairs       = desc("harmonia_read_repairs_total", "Replicas a get sent the reconciled object to, because they answered with less.")
	rangeRereads      = desc("harmonia_range_version_rereads_total", "Replicas a Query or Scan of an eventual table read whole because the versions they answered differed from the page of objects read.")
	strongRequests    = desc("harmonia_strong_requests_total", "Requests on strong keys coordinated here, by outcome: ok, condition failed, contention (other proposals kept outbidding it) or unavailable (no majority of the key's replicas in time).", "outcome")
	strongHedges      = desc("harmonia_strong_hedged_asks_total", "Voters a consensus round asked because the majority it asked first had not answered after --strong-hedge.")
	strongReadRounds  = desc("harmonia_strong_read_rounds_total", "Strong gets settled by their read round alone (a majority agreed on a committed value), run without a proposer of their own.")
	strongRounds      = desc("harmonia_strong_rounds_lost_total", "Consensus rounds that requests on strong keys lost (outbid, or refused by a majority) and retried after a backoff.")
	tables            = desc("harmonia_tables", "Tables in the catalog this node holds.")
	tablesPurging     = desc("harmonia_tables_purging", "Deleted tables whose data this node has not removed yet.")
	expiredDeleted    = desc("harmonia_expired_items_deleted_total", "Expired items (TTL) this node deleted since it started.")
	tlsRefused        = desc("harmonia_tls_refused_total", "Peer certificates refused in TLS handshakes: incoming (clients and nodes dialling this one) or outgoing (nodes this one dialled).", "direction")
	tlsExpiry         = desc("harmonia_tls_certificate_expiry_timestamp_seconds", "When the certificate this node presents expires (Unix time); alert well before it.")
	storageErrors     = desc("harmonia_storage_errors_total", "Storage errors since the node started, by kind: commit (a write pebble could not make durable), refused (a write refused after that), full (a write refused below --min-free-disk), background (a flush or compaction failed), statfs (free space unknown). None of these writes was acknowledged.", "op")
	storageFailed     = desc("harmonia_storage_failed", "1 when the storage failed: the node refuses every read and write until it is restarted.")
	storageFull       = desc("harmonia_storage_disk_full", "1 when the data directory's free space is below --min-free-disk, so writes are refused.")
	storageFree       = desc("harmonia_storage_free_bytes", "Free bytes on the data directory's filesystem.")
	scrapeError       = desc("harmonia_metrics_scrape_errors", "1 when this scrape could not read part of the node's state.", "part")
)

var stateNames = []string{"up", "suspect", "down", "leaving", "left"}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeDescs {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := c.src.Status(ctx); err != nil {
		gauge(scrapeError, 1, "status")
	} else {
		for _, m := range st.Members {
			for _, s := range stateNames {
				v := 0.0
				if m.State == s {
					v = 1
				}
				gauge(memberState, v, m.Id, s)
			}
			gauge(memberPhi, m.Phi, m.Id)
			if m.LastHeartbeatAgeMs >= 0 {
				gauge(memberHeartbeat, float64(m.LastHeartbeatAgeMs)/1000, m.Id)
			}
			counter(memberDown, float64(m.TimesDown), m.Id)
			gauge(memberOwned, float64(m.PartitionsOwned), m.Id)
		}
		for _, h := range st.Hints {
			gauge(hintsPending, float64(h.Count), h.Target)
			gauge(hintsBytes, float64(h.Bytes), h.Target)
			if h.OldestAgeMs >= 0 {
				gauge(hintsOldest, float64(h.OldestAgeMs)/1000, h.Target)
			}
			counter(hintsReplayed, float64(h.Replayed), h.Target)
			counter(hintsDropped, float64(h.Dropped), h.Target)
		}
		r := st.Repair
		counter(repairExchanges, float64(r.GetExchanges()))
		counter(repairRestarted, float64(r.GetExchangesRestarted()))
		counter(repairKeys, float64(r.GetKeysRepaired()))
		counter(repairBytes, float64(r.GetBytes()))
		counter(repairStrong, float64(r.GetAcceptorsRepaired()))
		counter(repairComplete, float64(r.GetAcceptorsCompleted()))
		stable := 0.0
		if st.Ring == "stable" {
			stable = 1
		}
		gauge(ringStable, stable)
		gauge(ringMoves, float64(st.MovesTotal))
		var done, running, keys float64
		if st.TransfersTransition == st.Ring && st.Ring != "stable" {
			for _, t := range st.Transfers {
				if t.Done {
					done++
				} else {
					running++
				}
				keys += float64(t.Keys)
			}
		}
		gauge(handoffParts, done, "done")
		gauge(handoffParts, running, "pending")
		gauge(handoffKeys, keys)
		gauge(tombstones, float64(st.Tombstones.GetHeld()))
		counter(reaped, float64(st.Tombstones.GetReaped()))
		counter(refused, float64(st.ReplicaDataRefused))
		gauge(tables, float64(st.Tables.GetTables()))
		gauge(tablesPurging, float64(len(st.Tables.GetPurging())))
		counter(expiredDeleted, float64(st.Tables.GetExpiredItemsDeleted()))
		if d := st.Disk; d != nil {
			// Every kind from the start (0), so that a rate or an alert on
			// one has a series before its first error.
			ops := persistence.ErrorKinds()
			for _, op := range slices.Sorted(maps.Keys(d.Errors)) {
				if !slices.Contains(ops, op) {
					ops = append(ops, op)
				}
			}
			for _, op := range ops {
				counter(storageErrors, float64(d.Errors[op]), op)
			}
			gauge(storageFailed, boolValue(d.Failed != ""))
			gauge(storageFull, boolValue(d.Full))
			if d.TotalBytes > 0 {
				gauge(storageFree, float64(d.FreeBytes))
			}
		}
	}
	rc := c.src.Requests()
	counter(putTimeouts, float64(rc.PutReplicaTimeouts))
	counter(speculative, float64(rc.SpeculativeAsks))
	counter(readRepairs, float64(rc.ReadRepairs))
	counter(rangeRereads, float64(rc.RangeRereads))
	for _, o := range slices.Sorted(maps.Keys(rc.Strong)) {
		counter(strongRequests, float64(rc.Strong[o]), strings.ReplaceAll(o, " ", "_"))
	}
	counter(strongRounds, float64(rc.StrongRoundsLost))
	counter(strongHedges, float64(rc.StrongHedges))
	counter(strongReadRounds, float64(rc.StrongReadRounds))
	counter(stampsNotFollowed, float64(rc.StampsNotFollowed))
	for _, f := range c.src.ActorFailures() {
		counter(actorFailures, float64(f.Count), f.Kind, f.Directive)
	}
	if c.src.TLSRefused != nil {
		for direction, n := range c.src.TLSRefused() {
			counter(tlsRefused, float64(n), direction)
		}
	}
	if c.src.TLSExpiry != nil {
		gauge(tlsExpiry, float64(c.src.TLSExpiry().Unix()))
	}
	if c.src.Presence != nil {
		ps := c.src.Presence()
		counter(readsSkipped, float64(ps.ReadsSkipped))
		gauge(filterBytes, float64(ps.FilterBytes))
	}
	m := c.src.Store()
	counter(compactions, float64(m.Compact.Count))
	gauge(compactDebt, float64(m.Compact.EstimatedDebt))
	counter(cacheHits, float64(m.BlockCache.Hits))
	counter(cacheMisses, float64(m.BlockCache.Misses))
	gauge(cacheBytes, float64(m.BlockCache.Size))
	counter(walBytes, float64(m.WAL.BytesWritten))
	gauge(diskBytes, float64(m.DiskSpaceUsage()))
	if h := m.LogWriter.FsyncLatency; h != nil {
		if hist, err := secondsHistogram(h); err == nil {
			ch <- hist
		} else {
			gauge(scrapeError, 1, "wal_fsync")
		}
	}
}

// secondsHistogram re-exports pebble's fsync histogram, kept in
// nanoseconds and without a name, in seconds under our name.
func secondsHistogram(h prometheus.Histogram) (prometheus.Metric, error) {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		return nil, err
	}
	ph := m.GetHistogram()
	buckets := make(map[float64]uint64, len(ph.GetBucket()))
	for _, b := range ph.GetBucket() {
		buckets[b.GetUpperBound()/1e9] = b.GetCumulativeCount()
	}
	return prometheus.NewConstHistogram(walFsync, ph.GetSampleCount(), ph.GetSampleSum()/1e9, buckets)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
