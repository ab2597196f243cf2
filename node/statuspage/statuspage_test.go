package statuspage

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/messages/kvpb"
)

func get(t *testing.T, h http.Handler, path string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(b)
}

func TestRoutes(t *testing.T) {
	var fail error
	mux := http.NewServeMux()
	Register(mux, func(context.Context) (*kvpb.StatusResponse, error) {
		if fail != nil {
			return nil, fail
		}
		return &kvpb.StatusResponse{Node: "n1", Partitions: 8, Security: "insecure", Members: []*kvpb.MemberStatus{{Id: "n1", State: "up"}}}, nil
	})
	for _, tc := range []struct {
		path, ctype, body string
		code              int
	}{
		{"/", "text/html", `<script src="/ui/app.js">`, 200},
		{"/", "text/html", `<p id="security" hidden>`, 200},
		{"/ui/app.js", "javascript", "/api/status", 200},
		{"/ui/app.js", "javascript", "st.security", 200},
		{"/ui/style.css", "text/css", ".state-down", 200},
		{"/ui/style.css", "text/css", `#security[data-security="insecure"]`, 200},
		{"/api/status", "application/json", `"members":[{"id":"n1"`, 200},
		{"/api/status", "application/json", `"security":"insecure"`, 200},
		{"/nothing", "", "404", 404},
		{"/ui/missing.js", "", "404", 404},
	} {
		code, ctype, body := get(t, mux, tc.path)
		if code != tc.code || !strings.Contains(ctype, tc.ctype) || !strings.Contains(strings.ReplaceAll(body, " ", ""), strings.ReplaceAll(tc.body, " ", "")) {
			t.Errorf("GET %s: %d %q %.80q; want %d %q containing %q", tc.path, code, ctype, body, tc.code, tc.ctype, tc.body)
		}
	}
	fail = errors.New("node stopping")
	if code, _, body := get(t, mux, "/api/status"); code != http.StatusServiceUnavailable || !strings.Contains(body, "node stopping") {
		t.Errorf("a failed status read: %d %q, want 503 with the reason", code, body)
	}
}
