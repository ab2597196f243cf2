package dynamodb

import (
	"encoding/json"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// FuzzHandler sends arbitrary targets and bodies: whatever comes, the
// handler answers, with a status, a JSON body and its CRC32, and an error
// answer is in DynamoDB's shape.
func FuzzHandler(f *testing.F) {
	for _, tt := range badRequests {
		f.Add(tt.req.target, tt.req.body)
	}
	for _, tt := range goodRequests {
		f.Add(tt.req.target, tt.req.body)
	}
	for op := range operations {
		f.Add(targetPrefix+op, `{}`)
	}
	f.Fuzz(func(t *testing.T, target, body string) {
		key := item.Item{"pk": item.S("a")}
		svc := &fakeService{
			table: tableapi.TableDescription{Name: "t", Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}}, Status: "ACTIVE"},
			names: []string{"t"},
			get:   tableapi.GetResult{Item: key},
			write: tableapi.WriteResult{Attributes: key},
			query: tableapi.QueryResult{Items: []item.Item{key}, Count: 1, ScannedCount: 1, LastEvaluatedKey: key},
		}
		w := serveRaw(t, svc, DefaultConfig(), rawRequest{target: target, body: body})
		if w.Code != http.StatusOK && (w.Code < 400 || w.Code > 599) {
			t.Fatalf("status %d", w.Code)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("body %q is not JSON", w.Body)
		}
		want := strconv.FormatUint(uint64(crc32.ChecksumIEEE(w.Body.Bytes())), 10)
		if got := w.Header().Get("X-Amz-Crc32"); got != want {
			t.Fatalf("X-Amz-Crc32 %q, want %q", got, want)
		}
		if w.Code == http.StatusOK {
			return
		}
		var e errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !strings.HasPrefix(e.Type, errorTypePrefix) || e.Message == "" {
			t.Fatalf("error answer %q is not DynamoDB's shape (%v)", w.Body, err)
		}
	})
}
