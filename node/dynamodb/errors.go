package dynamodb

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/node/dynamodb/sigv4"
)

// DynamoDB's error names, which the SDKs turn into typed errors.
const (
	errValidation          = "ValidationException"
	errSerialization       = "SerializationException"
	errUnknownOperation    = "UnknownOperationException"
	errConditionFailed     = "ConditionalCheckFailedException"
	errResourceNotFound    = "ResourceNotFoundException"
	errResourceInUse       = "ResourceInUseException"
	errLimitExceeded       = "LimitExceededException"
	errTransactionConflict = "TransactionConflictException"
	errServiceUnavailable  = "ServiceUnavailable"
	errInternal            = "InternalServerError"

	// Authentication's, in another namespace (authErrorTypePrefix).
	errMissingToken        = "MissingAuthenticationTokenException"
	errUnrecognizedClient  = "UnrecognizedClientException"
	errInvalidSignature    = "InvalidSignatureException"
	errIncompleteSignature = "IncompleteSignatureException"
	errAccessDenied        = "AccessDeniedException"
)

// errorTypePrefix is the namespace in front of an error's name in its
// __type.
const errorTypePrefix = "com.amazonaws.dynamodb.v20120810#"

// authErrorTypePrefix is the namespace of authentication's errors, which
// AWS's front door answers rather than DynamoDB.
const authErrorTypePrefix = "com.amazon.coral.service#"

// internalMessage is what a client is told of a fault of the node; the
// log has the details, found by the request ID.
const internalMessage = "The server encountered an internal error; its log names it by the request ID"

// apiError is a failed request as DynamoDB answers it.
type apiError struct {
	status int
	name   string
	msg    string
	// namespace is the __type's prefix; "" is errorTypePrefix.
	namespace string
}

func (e *apiError) Error() string { return e.name + ": " + e.msg }

func (e *apiError) body() []byte {
	b, _ := json.Marshal(struct { // cannot fail for two strings
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{cmp.Or(e.namespace, errorTypePrefix) + e.name, e.msg})
	return b
}

func validationf(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, name: errValidation, msg: fmt.Sprintf(format, args...)}
}

func serializationf(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, name: errSerialization, msg: fmt.Sprintf(format, args...)}
}

func unknownOperationf(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, name: errUnknownOperation, msg: fmt.Sprintf(format, args...)}
}

// authErrorOf is how DynamoDB answers a request sigv4 refused: always
// 400, with the verifier's message, which gives away no secret and not
// the signature expected.
func authErrorOf(err error) *apiError {
	var e *sigv4.Error
	if !errors.As(err, &e) {
		// Verify returns only *sigv4.Error; anything else is refused too.
		return &apiError{status: http.StatusBadRequest, name: errInvalidSignature, msg: "The request signature could not be verified", namespace: authErrorTypePrefix}
	}
	name := errInvalidSignature
	switch e.Kind {
	case sigv4.KindMissing:
		name = errMissingToken
	case sigv4.KindIncomplete:
		name = errIncompleteSignature
	case sigv4.KindUnknownKey:
		name = errUnrecognizedClient
	}
	return &apiError{status: http.StatusBadRequest, name: name, msg: e.Msg, namespace: authErrorTypePrefix}
}

// apiErrorOf is how DynamoDB would answer err: the endpoint's own errors
// as they are, the service's by their tableapi.Kind.
func (h *handler) apiErrorOf(ctx context.Context, id string, err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	err = tableapi.Classify(err)
	kind := tableapi.KindOf(err)
	status, name := http.StatusBadRequest, ""
	switch kind {
	case tableapi.KindValidation:
		name = errValidation
	case tableapi.KindConditionFailed:
		name = errConditionFailed
	case tableapi.KindTableNotFound:
		name = errResourceNotFound
	case tableapi.KindTableExists:
		name = errResourceInUse
	case tableapi.KindLimitExceeded:
		name = errLimitExceeded
	case tableapi.KindContention:
		name = errTransactionConflict
	case tableapi.KindUnavailable:
		status, name = http.StatusServiceUnavailable, errServiceUnavailable
	default:
		// A client that went away is no fault of the node.
		level := slog.LevelError
		if ctx.Err() != nil {
			level = slog.LevelDebug
		}
		h.log.Log(ctx, level, "dynamodb request failed", "request_id", id, "err", err)
		return &apiError{status: http.StatusInternalServerError, name: errInternal, msg: internalMessage}
	}
	return &apiError{status: status, name: name, msg: err.Error()}
}
