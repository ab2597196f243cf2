package tests

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
)

// scrapeMetrics reads a node's /metrics into series → value.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	res, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET /metrics: %s %q: %s", res.Status, res.Header.Get("Content-Type"), b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// A node's /metrics follows its traffic and its cluster: calls by
// operation, quorum and code, write acks, pebble's WAL, and each member's
// state, down once it is killed.
func TestMetricsFollowTraffic(t *testing.T) {
	httpAddr := freePort(t)
	c := startCluster(t, 1, "--http", httpAddr)
	c.addNode()
	c.addNode()
	c.waitAllUp()
	n1 := c.nodes[0]

	before := scrapeMetrics(t, httpAddr)
	const puts, gets = 40, 25
	for i := range puts {
		if _, err := n1.client.Put(ctxT(t), []byte(fmt.Sprintf("m-%d", i)), []byte("v"), nil, client.Options{Quorum: "2"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range gets {
		if _, err := n1.client.Get(ctxT(t), []byte(fmt.Sprintf("m-%d", i)), client.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	after := scrapeMetrics(t, httpAddr)
	moved := func(series string) float64 { return after[series] - before[series] }
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`harmonia_requests_total{code="OK",op="put",quorum="2"}`, puts},
		{`harmonia_request_duration_seconds_count{op="put",quorum="2"}`, puts},
		{`harmonia_requests_total{code="OK",op="get",quorum="default"}`, gets},
	} {
		if got := moved(c.series); got != c.want {
			t.Errorf("%s moved by %v, want %v", c.series, got, c.want)
		}
	}
	if got := moved(`harmonia_write_acks_total{kind="primary"}`); got < 2*puts {
		t.Errorf("primary write acks moved by %v, want at least %d (W=2)", got, 2*puts)
	}
	if moved("harmonia_pebble_wal_bytes_written_total") <= 0 || after["harmonia_pebble_wal_fsync_duration_seconds_count"] <= 0 {
		t.Errorf("pebble's WAL did not move: %v bytes, %v fsyncs", moved("harmonia_pebble_wal_bytes_written_total"), after["harmonia_pebble_wal_fsync_duration_seconds_count"])
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if s := fmt.Sprintf(`harmonia_member_state{member=%q,state="up"}`, id); after[s] != 1 {
			t.Errorf("%s = %v, want 1", s, after[s])
		}
	}

	c.kill(c.nodes[2])
	c.eventually(30*time.Second, "n3 down in n1's metrics", func() error {
		m := scrapeMetrics(t, httpAddr)
		if v := m[`harmonia_member_state{member="n3",state="down"}`]; v != 1 {
			return fmt.Errorf("n3 down = %v, phi %v", v, m[`harmonia_member_phi{member="n3"}`])
		}
		return nil
	})
}
