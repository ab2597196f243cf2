package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/persistence"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestQuorumLabel(t *testing.T) {
	for in, want := range map[string]string{
		"": "default", "one": "one", "QUORUM": "quorum", " all ": "all", "2": "2", "16": "16",
		"17": "other", "0": "other", "-1": "other", "majority": "other", strings.Repeat("x", 1000): "other",
	} {
		if got := QuorumLabel(in); got != want {
			t.Errorf("QuorumLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func fakeSource() Source {
	return Source{
		Status: func(context.Context) (*kvpb.StatusResponse, error) {
			return &kvpb.StatusResponse{Ring: "stable",
				Members: []*kvpb.MemberStatus{{Id: "n1", State: "up"}, {Id: "n2", State: "down", Phi: 12.5, LastHeartbeatAgeMs: 4000, TimesDown: 1}},
				Hints:   []*kvpb.HintQueue{{Target: "n2", Count: 7, Bytes: 700, OldestAgeMs: 2000, Replayed: 3}},
				Repair:  &kvpb.RepairStats{Exchanges: 5, KeysRepaired: 9},
				Disk:    &kvpb.DiskHealth{Errors: map[string]uint64{"full": 2}},
				Tables:  &kvpb.TableStats{Tables: 2, Purging: []uint32{5}, ExpiredItemsDeleted: 7},
			}, nil
		},
		ActorFailures: func() []actors.ActorFailure {
			return []actors.ActorFailure{{Kind: "vnode", Directive: "restart", Count: 2}}
		},
		Requests: func() actors.RequestCounts {
			return actors.RequestCounts{PutReplicaTimeouts: 4, ReadRepairs: 6,
				Strong: map[string]uint64{"ok": 9, "condition failed": 2}, StrongRoundsLost: 3, StrongHedges: 5, StrongReadRounds: 8, StampsNotFollowed: 4}
		},
		Store: func() *pebble.Metrics { return &pebble.Metrics{} },
		Presence: func() persistence.PresenceStats {
			return persistence.PresenceStats{ReadsSkipped: 11, FilterBytes: 5120}
		},
	}
}

// The interceptor counts calls by operation, quorum and code, and the acks
// of writes by kind.
func TestInterceptorCountsCalls(t *testing.T) {
	r := New(fakeSource())
	ic := r.Interceptor()
	call := func(method string, req, resp any, err error) {
		_, _ = ic(context.Background(), req, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) { return resp, err })
	}
	call("/harmonia.v1.KV/Put", &kvpb.PutRequest{W: "2"}, &kvpb.PutResponse{Acks: 2, Hinted: 1}, nil)
	call("/harmonia.v1.KV/Put", &kvpb.PutRequest{W: "2"}, &kvpb.PutResponse{Acks: 3}, nil)
	call("/harmonia.v1.KV/Get", &kvpb.GetRequest{}, nil, status.Error(codes.DeadlineExceeded, "slow"))
	call("/harmonia.v1.Admin/Status", &kvpb.StatusRequest{}, &kvpb.StatusResponse{}, nil)
	rq := r.requests
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(rq.calls.WithLabelValues("put", "2", "OK")), 2, "puts at W=2"},
		{testutil.ToFloat64(rq.calls.WithLabelValues("get", "default", "DeadlineExceeded")), 1, "gets that timed out"},
		{testutil.ToFloat64(rq.calls.WithLabelValues("status", "-", "OK")), 1, "status calls"},
		{testutil.ToFloat64(rq.acks.WithLabelValues("primary")), 4, "primary acks"},
		{testutil.ToFloat64(rq.acks.WithLabelValues("fallback")), 1, "fallback acks"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(rq.duration); n != 3 {
		t.Errorf("%d duration series, want 3 (put/2, get/default, status/-)", n)
	}
}

// The state is read at scrape time; a failed status read is reported, not
// hidden, and the rest is still served.
func TestScrape(t *testing.T) {
	src := fakeSource()
	plain := httptest.NewServer(New(src).Handler())
	defer plain.Close()
	if body := scrape(t, plain.URL); strings.Contains(body, "harmonia_tls_refused_total{") || strings.Contains(body, "harmonia_tls_certificate_expiry_timestamp_seconds ") {
		t.Error("TLS refusals served by a node without TLS")
	}
	src.TLSRefused = func() map[string]uint64 { return map[string]uint64{"incoming": 3, "outgoing": 1} }
	src.TLSExpiry = func() time.Time { return time.Unix(1_900_000_000, 0) }
	srv := httptest.NewServer(New(src).Handler())
	defer srv.Close()
	body := scrape(t, srv.URL)
	for _, want := range []string{
		`harmonia_member_state{member="n2",state="down"} 1`,
		`harmonia_member_state{member="n2",state="up"} 0`,
		`harmonia_member_phi{member="n2"} 12.5`,
		`harmonia_member_heartbeat_age_seconds{member="n2"} 4`,
		`harmonia_hints_pending{target="n2"} 7`,
		`harmonia_hints_replayed_total{target="n2"} 3`,
		`harmonia_antientropy_exchanges_total 5`,
		`harmonia_ring_stable 1`,
		`harmonia_actor_failures_total{directive="restart",kind="vnode"} 2`,
		`harmonia_pebble_compactions_total 0`,
		`harmonia_store_reads_skipped_total 11`,
		`harmonia_store_presence_filter_bytes 5120`,
		`harmonia_put_replica_timeouts_total 4`,
		`harmonia_read_repairs_total 6`,
		`harmonia_strong_requests_total{outcome="condition_failed"} 2`,
		`harmonia_strong_requests_total{outcome="ok"} 9`,
		`harmonia_strong_rounds_lost_total 3`,
		`harmonia_strong_hedged_asks_total 5`,
		`harmonia_strong_read_rounds_total 8`,
		`harmonia_lww_stamps_not_followed_total 4`,
		`harmonia_tables 2`,
		`harmonia_tables_purging 1`,
		`harmonia_expired_items_deleted_total 7`,
		`harmonia_tls_refused_total{direction="incoming"} 3`,
		`harmonia_tls_refused_total{direction="outgoing"} 1`,
		`harmonia_tls_certificate_expiry_timestamp_seconds 1.9e+09`,
		`harmonia_storage_errors_total{op="full"} 2`,
		`harmonia_storage_errors_total{op="commit"} 0`,
		`harmonia_storage_errors_total{op="statfs"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	src.Status = func(context.Context) (*kvpb.StatusResponse, error) { return nil, errors.New("stopping") }
	srv2 := httptest.NewServer(New(src).Handler())
	defer srv2.Close()
	body = scrape(t, srv2.URL)
	if !strings.Contains(body, `harmonia_metrics_scrape_errors{part="status"} 1`) || !strings.Contains(body, "harmonia_pebble_compactions_total") {
		t.Errorf("a failed status read: scrape\n%s", body)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	res, err := httptestGet(url)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func httptestGet(url string) (string, error) {
	res, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// pebble keeps fsync latencies in nanoseconds; they are served in seconds.
func TestSecondsHistogram(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Buckets: []float64{1e6, 1e9}})
	h.Observe(5e5) // 0.5 ms
	h.Observe(2e8) // 200 ms
	m, err := secondsHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(constCollector{m}, strings.NewReader(`
# HELP harmonia_pebble_wal_fsync_duration_seconds Fsyncs of pebble's write-ahead log.
# TYPE harmonia_pebble_wal_fsync_duration_seconds histogram
harmonia_pebble_wal_fsync_duration_seconds_bucket{le="0.001"} 1
harmonia_pebble_wal_fsync_duration_seconds_bucket{le="1"} 2
harmonia_pebble_wal_fsync_duration_seconds_bucket{le="+Inf"} 2
harmonia_pebble_wal_fsync_duration_seconds_sum 0.2005
harmonia_pebble_wal_fsync_duration_seconds_count 2
`)); err != nil {
		t.Error(err)
	}
}

type constCollector struct{ m prometheus.Metric }

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.Desc() }
func (c constCollector) Collect(ch chan<- prometheus.Metric) { ch <- c.m }
