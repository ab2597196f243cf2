package dynamodb

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/harmoniakv/harmonia/node/dynamodb/sigv4"
)

const testKeyID, testSecret = "AKIDHARMONIA", "0123456789abcdef0123456789abcdef"

// signedConfig is the default configuration with one access key.
func signedConfig() Config {
	cfg := DefaultConfig()
	cfg.Credentials = sigv4.Credentials{testKeyID: {Secret: testSecret, Admin: true}}
	return cfg
}

// sdkClientOf is the AWS SDK's client of a handler configured with cfg,
// signing with creds.
func sdkClientOf(t *testing.T, svc *fakeService, cfg Config, creds aws.CredentialsProvider) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(New(svc, cfg, nil))
	t.Cleanup(srv.Close)
	return dynamodb.NewFromConfig(aws.Config{
		Region:       "eu-west-3",
		Credentials:  creds,
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// With credentials, the SDK with the right keys is served, and every
// other request is refused with the error DynamoDB answers, before it
// reaches the service.
func TestCredentialsTurnOnVerification(t *testing.T) {
	static := func(id, secret string) aws.CredentialsProvider {
		return credentials.NewStaticCredentialsProvider(id, secret, "")
	}
	skewed := signedConfig()
	skewed.Now = func() time.Time { return time.Now().Add(sigv4.DefaultMaxSkew + time.Minute) }
	for _, tt := range []struct {
		name  string
		cfg   Config
		creds aws.CredentialsProvider
		want  string // "": served
	}{
		{"the right keys", signedConfig(), static(testKeyID, testSecret), ""},
		{"an unknown access key", signedConfig(), static("AKIDOTHER", testSecret), errUnrecognizedClient},
		{"a wrong secret", signedConfig(), static(testKeyID, strings.ToUpper(testSecret)), errInvalidSignature},
		{"no signature", signedConfig(), aws.AnonymousCredentials{}, errMissingToken},
		{"a clock 16 minutes ahead of the client's", skewed, static(testKeyID, testSecret), errInvalidSignature},
		{"no credentials configured: any keys", DefaultConfig(), static("any", "any"), ""},
		{"no credentials configured: no signature", DefaultConfig(), aws.AnonymousCredentials{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{names: []string{"t"}}
			out, err := sdkClientOf(t, svc, tt.cfg, tt.creds).ListTables(context.Background(), &dynamodb.ListTablesInput{})
			if tt.want == "" {
				if err != nil || len(out.TableNames) != 1 {
					t.Fatalf("ListTables: %v, %v", out, err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.want {
				t.Fatalf("ListTables: %v, want %s", err, tt.want)
			}
			if strings.Contains(ae.ErrorMessage(), testSecret) {
				t.Errorf("the message %q shows the secret", ae.ErrorMessage())
			}
			if calls := svc.recorded(); len(calls) != 0 {
				t.Errorf("a refused request reached the service: %#v", calls)
			}
		})
	}
}

// The answers as they go over the wire: 400, the __type in AWS's
// authentication namespace, X-Amzn-ErrorType.
func TestAuthenticationErrorsHaveDynamoDBsShape(t *testing.T) {
	for _, tt := range []struct {
		name, authorization, want string
	}{
		{"no Authorization header", "", errMissingToken},
		{"a malformed Authorization header", "AWS4-HMAC-SHA256 Credential=x", errIncompleteSignature},
		{"another scheme", "Basic dXNlcjpwYXNz", errIncompleteSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(goodRequests[0].req.body))
			r.Header.Set("X-Amz-Target", goodRequests[0].req.target)
			r.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			w := httptest.NewRecorder()
			svc := &fakeService{}
			New(svc, signedConfig(), nil).ServeHTTP(w, r)
			wantErrorAnswer(t, w, http.StatusBadRequest, tt.want)
			if calls := svc.recorded(); len(calls) != 0 {
				t.Errorf("service got %#v", calls)
			}
		})
	}
}

// The body is read for its hash within the same limit as before: a body
// over it is refused unread, signed or not.
func TestVerificationKeepsTheBodyLimit(t *testing.T) {
	svc := &fakeService{}
	cfg := signedConfig()
	cfg.MaxBodyBytes = 64
	body := `{"TableName":"t","Item":{"pk":{"S":"` + strings.Repeat("a", 64) + `"}}}`
	w := serveRaw(t, svc, cfg, rawRequest{target: putItem, body: body})
	wantErrorAnswer(t, w, http.StatusRequestEntityTooLarge, errValidation)
	if calls := svc.recorded(); len(calls) != 0 {
		t.Errorf("service got %#v", calls)
	}
}

// A key with the client role reads and writes items but may not change
// tables: CreateTable, DeleteTable, UpdateTable and UpdateTimeToLive are
// AccessDeniedException, before they reach the service; an admin key (the
// default role) may.
func TestClientRoleKeysDoNotChangeTables(t *testing.T) {
	const clientID = "AKIDCLIENT"
	cfg := signedConfig()
	cfg.Credentials[clientID] = sigv4.Key{Secret: testSecret}
	static := func(id string) aws.CredentialsProvider {
		return credentials.NewStaticCredentialsProvider(id, testSecret, "")
	}
	ctx := context.Background()
	changes := []struct {
		name string
		call func(*dynamodb.Client) error
	}{
		{"CreateTable", func(c *dynamodb.Client) error {
			_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("t"),
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}})
			return err
		}},
		{"DeleteTable", func(c *dynamodb.Client) error {
			_, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("t")})
			return err
		}},
		{"UpdateTable", func(c *dynamodb.Client) error {
			_, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("t"), BillingMode: types.BillingModePayPerRequest})
			return err
		}},
		{"UpdateTimeToLive", func(c *dynamodb.Client) error {
			_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String("t"),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(true)}})
			return err
		}},
	}
	for _, ch := range changes {
		svc := &fakeService{}
		err := ch.call(sdkClientOf(t, svc, cfg, static(clientID)))
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != errAccessDenied || !strings.Contains(ae.ErrorMessage(), "admin") {
			t.Errorf("%s with a client key: %v, want %s naming the role", ch.name, err, errAccessDenied)
		}
		if calls := svc.recorded(); len(calls) != 0 {
			t.Errorf("%s with a client key reached the service: %#v", ch.name, calls)
		}
		svc = &fakeService{}
		if err := ch.call(sdkClientOf(t, svc, cfg, static(testKeyID))); err != nil {
			t.Errorf("%s with an admin key: %v", ch.name, err)
		}
	}
	svc := &fakeService{}
	if _, err := sdkClientOf(t, svc, cfg, static(clientID)).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"),
		Item: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "a"}}}); err != nil {
		t.Errorf("PutItem with a client key: %v", err)
	}
}
