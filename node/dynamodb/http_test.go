package dynamodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/crc32"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// rawRequest is one request as it comes over the wire.
type rawRequest struct {
	method string
	target string // X-Amz-Target; "" sends none
	body   string
}

// serveRaw sends req to a handler of svc and returns the recorded answer.
func serveRaw(t testing.TB, svc *fakeService, cfg Config, req rawRequest) *httptest.ResponseRecorder {
	t.Helper()
	method := req.method
	if method == "" {
		method = http.MethodPost
	}
	r := httptest.NewRequest(method, "/", strings.NewReader(req.body))
	r.Header.Set("Content-Type", contentType)
	if req.target != "" {
		r.Header.Set("X-Amz-Target", req.target)
	}
	w := httptest.NewRecorder()
	New(svc, cfg, nil).ServeHTTP(w, r)
	return w
}

// errorBody is DynamoDB's error answer.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

const (
	putItem = targetPrefix + "PutItem"
	query   = targetPrefix + "Query"
)

// badRequests are requests the handler refuses before calling the service:
// the name says the rule.
var badRequests = []struct {
	name       string
	req        rawRequest
	wantStatus int
	wantError  string
}{
	{"GET is not DynamoDB's method", rawRequest{method: http.MethodGet, target: putItem}, http.StatusMethodNotAllowed, errUnknownOperation},
	{"no target names no operation", rawRequest{body: `{}`}, http.StatusBadRequest, errUnknownOperation},
	{"target of another service", rawRequest{target: "DynamoDBStreams_20120810.GetRecords", body: `{}`}, http.StatusBadRequest, errUnknownOperation},
	{"operation not supported", rawRequest{target: targetPrefix + "TransactWriteItems", body: `{"TableName":"t"}`}, http.StatusBadRequest, errUnknownOperation},
	{"operation names are case-sensitive", rawRequest{target: targetPrefix + "putitem", body: `{}`}, http.StatusBadRequest, errUnknownOperation},
	{"malformed JSON", rawRequest{target: putItem, body: `{"TableName":`}, http.StatusBadRequest, errSerialization},
	{"empty body", rawRequest{target: putItem}, http.StatusBadRequest, errSerialization},
	{"body not an object", rawRequest{target: putItem, body: `["TableName"]`}, http.StatusBadRequest, errSerialization},
	{"table name not a string", rawRequest{target: putItem, body: `{"TableName":5,"Item":{"pk":{"S":"a"}}}`}, http.StatusBadRequest, errSerialization},
	{"limit not an integer", rawRequest{target: query, body: `{"TableName":"t","KeyConditionExpression":"pk = :p","Limit":1.5}`}, http.StatusBadRequest, errSerialization},
	{"ConsistentRead not a boolean", rawRequest{target: targetPrefix + "GetItem", body: `{"TableName":"t","Key":{"pk":{"S":"a"}},"ConsistentRead":"yes"}`}, http.StatusBadRequest, errSerialization},
	{"attribute value of the wrong JSON type", rawRequest{target: putItem, body: `{"TableName":"t","Item":{"pk":{"S":1}}}`}, http.StatusBadRequest, errValidation},
	{"empty attribute value", rawRequest{target: putItem, body: `{"TableName":"t","Item":{"pk":{}}}`}, http.StatusBadRequest, errValidation},
	{"attribute value of two types", rawRequest{target: putItem, body: `{"TableName":"t","Item":{"pk":{"S":"a","N":"1"}}}`}, http.StatusBadRequest, errValidation},
	{"item not an object", rawRequest{target: putItem, body: `{"TableName":"t","Item":[]}`}, http.StatusBadRequest, errValidation},
	{"expression value null", rawRequest{target: putItem, body: `{"TableName":"t","Item":{"pk":{"S":"a"}},"ExpressionAttributeValues":{":v":null}}`}, http.StatusBadRequest, errValidation},
	{"missing table name", rawRequest{target: putItem, body: `{"Item":{"pk":{"S":"a"}}}`}, http.StatusBadRequest, errValidation},
	{"missing item", rawRequest{target: putItem, body: `{"TableName":"t"}`}, http.StatusBadRequest, errValidation},
	{"missing key", rawRequest{target: targetPrefix + "GetItem", body: `{"TableName":"t"}`}, http.StatusBadRequest, errValidation},
	{"missing key condition", rawRequest{target: query, body: `{"TableName":"t"}`}, http.StatusBadRequest, errValidation},
	{"query limit zero", rawRequest{target: query, body: `{"TableName":"t","KeyConditionExpression":"pk = :p","Limit":0}`}, http.StatusBadRequest, errValidation},
	{"query of an index", rawRequest{target: query, body: `{"TableName":"t","IndexName":"i","KeyConditionExpression":"pk = :p"}`}, http.StatusBadRequest, errValidation},
	{"legacy Expected", rawRequest{target: putItem, body: `{"TableName":"t","Item":{"pk":{"S":"a"}},"Expected":{"pk":{"Exists":false}}}`}, http.StatusBadRequest, errValidation},
	{"legacy AttributesToGet", rawRequest{target: targetPrefix + "GetItem", body: `{"TableName":"t","Key":{"pk":{"S":"a"}},"AttributesToGet":["pk"]}`}, http.StatusBadRequest, errValidation},
	{"legacy KeyConditions", rawRequest{target: query, body: `{"TableName":"t","KeyConditions":{"pk":{"ComparisonOperator":"EQ","AttributeValueList":[{"S":"a"}]}}}`}, http.StatusBadRequest, errValidation},
	{"legacy QueryFilter", rawRequest{target: query, body: `{"TableName":"t","KeyConditionExpression":"pk = :p","QueryFilter":{}}`}, http.StatusBadRequest, errValidation},
	{"legacy ConditionalOperator", rawRequest{target: targetPrefix + "DeleteItem", body: `{"TableName":"t","Key":{"pk":{"S":"a"}},"ConditionalOperator":"OR"}`}, http.StatusBadRequest, errValidation},
	{"legacy AttributeUpdates", rawRequest{target: targetPrefix + "UpdateItem", body: `{"TableName":"t","Key":{"pk":{"S":"a"}},"AttributeUpdates":{"n":{"Action":"PUT","Value":{"N":"1"}}}}`}, http.StatusBadRequest, errValidation},
	{"create table without key schema", rawRequest{target: targetPrefix + "CreateTable", body: `{"TableName":"t","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}]}`}, http.StatusBadRequest, errValidation},
	{"describe table without name", rawRequest{target: targetPrefix + "DescribeTable", body: `{}`}, http.StatusBadRequest, errValidation},
	{"delete table without name", rawRequest{target: targetPrefix + "DeleteTable", body: `{}`}, http.StatusBadRequest, errValidation},
}

// goodRequests reach the service.
var goodRequests = []struct {
	name string
	req  rawRequest
}{
	{"unknown members are ignored", rawRequest{target: putItem, body: `{"TableName":"t","Item":{"pk":{"S":"a"}},"SomeNewMember":{"x":[1,2]}}`}},
	{"legacy members set to null are absent", rawRequest{target: putItem, body: `{"TableName":"t","Item":{"pk":{"S":"a"}},"Expected":null}`}},
	{"create table", rawRequest{target: targetPrefix + "CreateTable", body: `{"TableName":"t","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`}},
	{"describe table", rawRequest{target: targetPrefix + "DescribeTable", body: `{"TableName":"t"}`}},
	{"list tables", rawRequest{target: targetPrefix + "ListTables", body: `{"Limit":3}`}},
	{"get item", rawRequest{target: targetPrefix + "GetItem", body: `{"TableName":"t","Key":{"pk":{"S":"a"}},"ProjectionExpression":"#a","ExpressionAttributeNames":{"#a":"a"}}`}},
	{"update item", rawRequest{target: targetPrefix + "UpdateItem", body: `{"TableName":"t","Key":{"pk":{"S":"a"}},"UpdateExpression":"SET n = :v","ExpressionAttributeValues":{":v":{"L":[{"M":{"x":{"NS":["1","2"]}}}]}}}`}},
	{"query", rawRequest{target: query, body: `{"TableName":"t","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"ExclusiveStartKey":{"pk":{"S":"a"}},"ScanIndexForward":false}`}},
}

func TestBadRequestsNeverReachTheService(t *testing.T) {
	for _, tt := range badRequests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			w := serveRaw(t, svc, DefaultConfig(), tt.req)
			wantErrorAnswer(t, w, tt.wantStatus, tt.wantError)
			if calls := svc.recorded(); len(calls) != 0 {
				t.Errorf("service got %#v", calls)
			}
		})
	}
}

func TestGoodRequestsReachTheService(t *testing.T) {
	for _, tt := range goodRequests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			w := serveRaw(t, svc, DefaultConfig(), tt.req)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", w.Code, w.Body)
			}
			if calls := svc.recorded(); len(calls) != 1 {
				t.Errorf("service got %#v, want one call", calls)
			}
		})
	}
}

func TestBodyOverTheLimitIsRefusedUnread(t *testing.T) {
	svc := &fakeService{}
	cfg := Config{MaxBodyBytes: 64}
	body := `{"TableName":"t","Item":{"pk":{"S":"` + strings.Repeat("a", 64) + `"}}}`
	w := serveRaw(t, svc, cfg, rawRequest{target: putItem, body: body})
	wantErrorAnswer(t, w, http.StatusRequestEntityTooLarge, errValidation)
	if calls := svc.recorded(); len(calls) != 0 {
		t.Errorf("service got %#v", calls)
	}
}

func TestEveryAnswerCarriesARequestIDAndTheCRC32OfItsBody(t *testing.T) {
	ids := map[string]bool{}
	for _, req := range []rawRequest{goodRequests[0].req, badRequests[0].req, badRequests[5].req} {
		w := serveRaw(t, &fakeService{}, DefaultConfig(), req)
		id := w.Header().Get("X-Amzn-RequestId")
		if id == "" || ids[id] {
			t.Errorf("request ID %q is empty or repeated", id)
		}
		ids[id] = true
		want := strconv.FormatUint(uint64(crc32.ChecksumIEEE(w.Body.Bytes())), 10)
		if got := w.Header().Get("X-Amz-Crc32"); got != want {
			t.Errorf("X-Amz-Crc32 %q, want %q", got, want)
		}
		if got := w.Header().Get("Content-Type"); got != contentType {
			t.Errorf("Content-Type %q, want %q", got, contentType)
		}
	}
}

// wantErrorAnswer fails the test unless w is DynamoDB's error answer of
// that status and name.
func wantErrorAnswer(t testing.TB, w *httptest.ResponseRecorder, status int, name string) {
	t.Helper()
	if w.Code != status {
		t.Errorf("status %d, want %d (body %s)", w.Code, status, w.Body)
	}
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", w.Body, err)
	}
	prefix := errorTypePrefix
	switch name {
	case errMissingToken, errUnrecognizedClient, errInvalidSignature, errIncompleteSignature:
		prefix = authErrorTypePrefix
	}
	if want := prefix + name; body.Type != want {
		t.Errorf("__type %q, want %q (message %q)", body.Type, want, body.Message)
	}
	if body.Message == "" {
		t.Error("error without a message")
	}
	if got := w.Header().Get("X-Amzn-ErrorType"); got != name {
		t.Errorf("X-Amzn-ErrorType %q, want %q", got, name)
	}
}

func TestOnlyFaultsOfTheNodeAreLoggedAboveDebug(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		wantLog bool
	}{
		{"internal error is logged", errors.New("disk on fire"), true},
		{"client error is not", tableapi.Errorf(tableapi.KindConditionFailed, "The conditional request failed"), false},
		{"success is not", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo}))
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(goodRequests[0].req.body))
			r.Header.Set("X-Amz-Target", goodRequests[0].req.target)
			w := httptest.NewRecorder()
			New(&fakeService{err: tt.err}, DefaultConfig(), log).ServeHTTP(w, r)
			if got := logged.Len() > 0; got != tt.wantLog {
				t.Errorf("logged %q, want a record: %v", logged.String(), tt.wantLog)
			}
			if tt.wantLog && !strings.Contains(logged.String(), w.Header().Get("X-Amzn-RequestId")) {
				t.Errorf("log %q does not name the request ID", logged.String())
			}
		})
	}
}
