// Package dynamodb owns HarmoniaKV's DynamoDB-compatible HTTP endpoint: it
// speaks DynamoDB's JSON 1.0 protocol (POST with the header X-Amz-Target:
// DynamoDB_20120810.<Operation>) and translates each request into a call
// of the node's table service (cluster/tableapi) and the answer or error
// back. It owns only the wire: request and response shapes, DynamoDB's
// error names and statuses, and the headers the AWS SDKs expect; every
// rule about tables, items and expressions is the service's.
//
// Request signatures are verified when Config.Credentials has keys: then
// every request must be signed with one of them (AWS Signature Version 4,
// checked by package sigv4 once the body is read), and is refused as
// DynamoDB refuses it otherwise (MissingAuthenticationTokenException,
// UnrecognizedClientException, InvalidSignatureException,
// IncompleteSignatureException). Only the method and X-Amz-Target are
// looked at before, which tells an unsigned client no more than which
// operations exist. Without credentials any Authorization header, or
// none, is accepted, so the endpoint must be reachable by trusted clients
// only.
package dynamodb

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/node/dynamodb/sigv4"
)

// Config is the endpoint's configuration.
type Config struct {
	// MaxBodyBytes bounds a request body; a longer one is refused without
	// being read further. Default 16 MiB, DynamoDB's largest request (a
	// BatchWriteItem); zero or less means the default.
	MaxBodyBytes int64
	// Credentials, when not empty, turn on signature verification: each
	// request must be signed with one of these access keys. Default
	// none: no signature is verified.
	Credentials sigv4.Credentials
	// Signatures configures the verification: the clock skew a signed
	// request may have. Default sigv4.DefaultConfig (15 minutes).
	Signatures sigv4.Config
	// Now is the clock a request's signing time is checked against.
	// Default (nil) time.Now.
	Now func() time.Time
}

// defaultMaxBodyBytes is Config.MaxBodyBytes's default.
const defaultMaxBodyBytes = 16 << 20

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: defaultMaxBodyBytes, Signatures: sigv4.DefaultConfig(), Now: time.Now}
}

// New returns the endpoint serving svc. A nil log discards; each request
// is logged at Debug, and only faults of the node above it.
func New(svc tableapi.Service, cfg Config, log *slog.Logger) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{svc: svc, cfg: cfg, log: log}
	if len(cfg.Credentials) > 0 {
		h.verifier = sigv4.New(cfg.Credentials, cfg.Signatures)
	}
	return h
}

// The protocol's constants.
const (
	// targetPrefix is what X-Amz-Target holds before the operation name:
	// DynamoDB's service name and API version.
	targetPrefix = "DynamoDB_20120810."
	contentType  = "application/x-amz-json-1.0"
)

type handler struct {
	svc tableapi.Service
	cfg Config
	log *slog.Logger
	// verifier checks each request's signature; nil without credentials.
	verifier *sigv4.Verifier
}

// operation decodes one operation's request body, calls the service and
// returns the answer that encoding/json writes.
type operation func(h *handler, ctx context.Context, body []byte) (any, error)

var operations = map[string]operation{
	"CreateTable":        (*handler).createTable,
	"DescribeTable":      (*handler).describeTable,
	"ListTables":         (*handler).listTables,
	"DeleteTable":        (*handler).deleteTable,
	"UpdateTable":        (*handler).updateTable,
	"PutItem":            (*handler).putItem,
	"GetItem":            (*handler).getItem,
	"DeleteItem":         (*handler).deleteItem,
	"UpdateItem":         (*handler).updateItem,
	"Query":              (*handler).query,
	"Scan":               (*handler).scan,
	"BatchGetItem":       (*handler).batchGetItem,
	"BatchWriteItem":     (*handler).batchWriteItem,
	"UpdateTimeToLive":   (*handler).updateTimeToLive,
	"DescribeTimeToLive": (*handler).describeTimeToLive,
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := rand.Text() // what the client and the log both name the request by
	answer, err := h.serve(w, r)
	status := h.respond(w, r, id, answer, err)
	h.log.Debug("dynamodb request", "request_id", id, "target", r.Header.Get("X-Amz-Target"),
		"status", status, "duration", time.Since(start))
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &apiError{status: http.StatusMethodNotAllowed, name: errUnknownOperation,
			msg: fmt.Sprintf("DynamoDB's protocol takes POST requests, not %.16q", r.Method)}
	}
	name, op, err := operationOf(r.Header.Get("X-Amz-Target"))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var tooLong *http.MaxBytesError
	if errors.As(err, &tooLong) {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, name: errValidation,
			msg: fmt.Sprintf("The request body is longer than %d bytes", tooLong.Limit)}
	}
	if err != nil {
		return nil, serializationf("The request body could not be read: %v", err)
	}
	if h.verifier != nil {
		id, err := h.verifier.Verify(r, body, h.cfg.Now())
		if err != nil {
			return nil, authErrorOf(err)
		}
		if adminOperations[name] && !h.cfg.Credentials[id].Admin {
			return nil, &apiError{status: http.StatusBadRequest, name: errAccessDenied, namespace: authErrorTypePrefix,
				msg: fmt.Sprintf("%s needs an access key with the %s role; %s has the %s role (the third field of its line in the credentials file)",
					name, sigv4.RoleAdmin, id, sigv4.RoleClient)}
		}
	}
	return op(h, r.Context(), body)
}

// adminOperations change tables: with credentials, only a key with the
// admin role may call them, as the admin role on the gRPC API.
var adminOperations = map[string]bool{"CreateTable": true, "DeleteTable": true, "UpdateTable": true, "UpdateTimeToLive": true}

func operationOf(target string) (string, operation, error) {
	if target == "" {
		return "", nil, unknownOperationf("Missing header X-Amz-Target: it names the operation, as %s<Operation>", targetPrefix)
	}
	name, ok := strings.CutPrefix(target, targetPrefix)
	if !ok {
		return "", nil, unknownOperationf("Unknown target %.64q: expected %s<Operation>", target, targetPrefix)
	}
	op, ok := operations[name]
	if !ok {
		return "", nil, unknownOperationf("HarmoniaKV does not support the operation %.64q", name)
	}
	return name, op, nil
}

// jsonAppender is an answer that appends its JSON to a buffer, the bytes
// encoding/json would write for it; ok false (an item that does not
// validate, say) leaves the answer to encoding/json, which words the
// error.
type jsonAppender interface {
	appendJSON(dst []byte) (out []byte, ok bool)
}

// answerBuffers owns the buffers that answers are appended to, so that
// one request reuses an earlier one's memory; a buffer grown past
// maxPooledAnswer is left to the garbage collector rather than kept.
var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledAnswer is the capacity beyond which an answer's buffer is not
// kept for another: 64 KiB, well above an item's answer.
const maxPooledAnswer = 64 << 10

// respond writes the answer, or err in DynamoDB's error shape, and returns
// the status it wrote.
func (h *handler) respond(w http.ResponseWriter, r *http.Request, id string, answer any, err error) int {
	status := http.StatusOK
	var body []byte
	if a, ok := answer.(jsonAppender); ok && err == nil {
		buf := answerBuffers.Get().(*[]byte)
		defer func() {
			if cap(*buf) <= maxPooledAnswer {
				answerBuffers.Put(buf)
			}
		}()
		if *buf, ok = a.appendJSON((*buf)[:0]); ok {
			body = *buf
		}
	}
	if err == nil && body == nil {
		if body, err = json.Marshal(answer); err != nil {
			// The service's answer, not the request, is at fault.
			err = tableapi.Errorf(tableapi.KindInternal, "encoding the answer: %w", err)
		}
	}
	if err != nil {
		e := h.apiErrorOf(r.Context(), id, err)
		status, body = e.status, e.body()
		w.Header().Set("X-Amzn-ErrorType", e.name)
	}
	header := w.Header()
	header.Set("Content-Type", contentType)
	header.Set("Content-Length", strconv.Itoa(len(body)))
	header.Set("X-Amzn-RequestId", id)
	// The Go SDK checks the body against this when it is present.
	header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		h.log.Debug("dynamodb answer not sent", "request_id", id, "err", err)
	}
	return status
}
