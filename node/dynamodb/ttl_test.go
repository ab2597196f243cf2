package dynamodb

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

func TestUpdateTimeToLiveReachesTheServiceAndAnswersTheSDK(t *testing.T) {
	for _, tt := range []struct {
		rule    string
		enabled bool
	}{
		{"enabling names the attribute", true},
		{"disabling names the attribute it disables", false},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			svc := &fakeService{ttl: tableapi.TimeToLive{Enabled: tt.enabled, Attribute: "expires"}}
			out, err := newSDKClient(t, svc).UpdateTimeToLive(context.Background(), &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String("t1"),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(tt.enabled)},
			})
			if err != nil {
				t.Fatalf("UpdateTimeToLive: %v", err)
			}
			wantCalls(t, svc, tableapi.UpdateTimeToLive{Table: "t1", Attribute: "expires", Enabled: tt.enabled})
			if s := out.TimeToLiveSpecification; s == nil || aws.ToString(s.AttributeName) != "expires" || aws.ToBool(s.Enabled) != tt.enabled {
				t.Fatalf("TimeToLiveSpecification %+v", s)
			}
		})
	}
}

func TestDescribeTimeToLiveShowsTheStatusAndTheAttributeWhenEnabled(t *testing.T) {
	for _, tt := range []struct {
		rule       string
		ttl        tableapi.TimeToLive
		wantStatus types.TimeToLiveStatus
		wantAttr   *string
	}{
		{"an enabled TTL shows its attribute", tableapi.TimeToLive{Enabled: true, Attribute: "expires"}, types.TimeToLiveStatusEnabled, aws.String("expires")},
		{"a disabled TTL shows no attribute", tableapi.TimeToLive{}, types.TimeToLiveStatusDisabled, nil},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			svc := &fakeService{ttl: tt.ttl}
			out, err := newSDKClient(t, svc).DescribeTimeToLive(context.Background(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("t1")})
			if err != nil {
				t.Fatalf("DescribeTimeToLive: %v", err)
			}
			wantCalls(t, svc, describeTTLCall{"t1"})
			d := out.TimeToLiveDescription
			if d == nil || d.TimeToLiveStatus != tt.wantStatus || aws.ToString(d.AttributeName) != aws.ToString(tt.wantAttr) || (d.AttributeName == nil) != (tt.wantAttr == nil) {
				t.Fatalf("TimeToLiveDescription %+v", d)
			}
		})
	}
}

func TestTimeToLiveRequestsMissingAMemberNeverReachTheService(t *testing.T) {
	for _, tt := range []struct {
		rule string
		body string
	}{
		{"an update needs a table name", `{"TimeToLiveSpecification":{"AttributeName":"e","Enabled":true}}`},
		{"an update needs a specification", `{"TableName":"t1"}`},
		{"an update needs an attribute name", `{"TableName":"t1","TimeToLiveSpecification":{"Enabled":true}}`},
		{"an update needs Enabled", `{"TableName":"t1","TimeToLiveSpecification":{"AttributeName":"e"}}`},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			svc := &fakeService{}
			w := serveRaw(t, svc, DefaultConfig(), rawRequest{target: targetPrefix + "UpdateTimeToLive", body: tt.body})
			wantErrorAnswer(t, w, http.StatusBadRequest, errValidation)
			wantCalls(t, svc)
		})
	}
	svc := &fakeService{}
	w := serveRaw(t, svc, DefaultConfig(), rawRequest{target: targetPrefix + "DescribeTimeToLive", body: `{}`})
	wantErrorAnswer(t, w, http.StatusBadRequest, errValidation)
	wantCalls(t, svc)
}

func TestTimeToLiveRefusalsOfTheServiceReachTheSDKAsValidationErrors(t *testing.T) {
	svc := &fakeService{err: tableapi.Errorf(tableapi.KindValidation, "TimeToLive is already enabled")}
	_, err := newSDKClient(t, svc).UpdateTimeToLive(context.Background(), &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String("t1"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(true)},
	})
	wantAPIError(t, err, errValidation, http.StatusBadRequest)
}
