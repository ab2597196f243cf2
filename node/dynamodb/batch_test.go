package dynamodb

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

func TestScanReachesTheServiceAndAnswersTheSDK(t *testing.T) {
	ctx := context.Background()
	svc := &fakeService{query: tableapi.QueryResult{Items: []item.Item{everyType}, Count: 1, ScannedCount: 4, LastEvaluatedKey: key}}
	client := newSDKClient(t, svc)
	out, err := client.Scan(ctx, &dynamodb.ScanInput{
		TableName: aws.String("t"), FilterExpression: aws.String("#n > :v"), ProjectionExpression: aws.String("#n"),
		ExpressionAttributeNames:  map[string]string{"#n": "n"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "1"}},
		Limit:                     aws.Int32(4), ExclusiveStartKey: keySDK, Select: types.SelectSpecificAttributes,
		ConsistentRead: aws.Bool(true), Segment: aws.Int32(2), TotalSegments: aws.Int32(3),
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	wantCalls(t, svc, tableapi.Scan{Table: "t", Filter: "#n > :v", Projection: "#n",
		Expressions: tableapi.Expressions{Names: map[string]string{"#n": "n"}, Values: map[string]item.Value{":v": item.MustNumber("1")}},
		Limit:       4, ExclusiveStartKey: key, Select: tableapi.SelectSpecificAttributes, Consistent: true, Segment: 2, TotalSegments: 3})
	if !reflect.DeepEqual(out.Items, []map[string]types.AttributeValue{everyTypeBack}) || out.Count != 1 || out.ScannedCount != 4 {
		t.Errorf("page %#v (count %d of %d), want everyType, 1 of 4", out.Items, out.Count, out.ScannedCount)
	}
	wantItem(t, "LastEvaluatedKey", out.LastEvaluatedKey, keySDK)

	svc = &fakeService{}
	if _, err := newSDKClient(t, svc).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("t")}); err != nil {
		t.Fatalf("Scan without segments: %v", err)
	}
	wantCalls(t, svc, tableapi.Scan{Table: "t"})
}

func TestScanRefusesWhatDynamoDBRefusesBeforeTheService(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		rule string
		in   dynamodb.ScanInput
	}{
		{"Segment without TotalSegments", dynamodb.ScanInput{TableName: aws.String("t"), Segment: aws.Int32(0)}},
		{"TotalSegments without Segment", dynamodb.ScanInput{TableName: aws.String("t"), TotalSegments: aws.Int32(2)}},
		{"TotalSegments of zero", dynamodb.ScanInput{TableName: aws.String("t"), Segment: aws.Int32(0), TotalSegments: aws.Int32(0)}},
		{"a Limit of zero", dynamodb.ScanInput{TableName: aws.String("t"), Limit: aws.Int32(0)}},
		{"an index", dynamodb.ScanInput{TableName: aws.String("t"), IndexName: aws.String("gsi")}},
		{"the legacy ScanFilter", dynamodb.ScanInput{TableName: aws.String("t"), ScanFilter: map[string]types.Condition{"a": {ComparisonOperator: types.ComparisonOperatorNull}}}},
	} {
		svc := &fakeService{}
		_, err := newSDKClient(t, svc).Scan(ctx, &tt.in)
		if err == nil {
			t.Errorf("%s: taken", tt.rule)
			continue
		}
		wantAPIError(t, err, "ValidationException", http.StatusBadRequest)
		wantCalls(t, svc)
	}
}

func TestBatchGetItemReachesTheServiceAndAnswersTheSDK(t *testing.T) {
	ctx := context.Background()
	svc := &fakeService{batchGet: tableapi.BatchGetResult{
		Responses:   map[string][]item.Item{"t": {everyType}, "u": {}},
		Unprocessed: map[string]tableapi.KeysAndAttributes{"t": {Keys: []item.Item{key}, Projection: "#n", Expressions: tableapi.Expressions{Names: map[string]string{"#n": "n"}}, Consistent: true}},
	}}
	out, err := newSDKClient(t, svc).BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		"t": {Keys: []map[string]types.AttributeValue{keySDK}, ProjectionExpression: aws.String("#n"), ExpressionAttributeNames: map[string]string{"#n": "n"}, ConsistentRead: aws.Bool(true)},
		"u": {Keys: []map[string]types.AttributeValue{keySDK}},
	}})
	if err != nil {
		t.Fatalf("BatchGetItem: %v", err)
	}
	wantCalls(t, svc, tableapi.BatchGetItem{Tables: map[string]tableapi.KeysAndAttributes{
		"t": {Keys: []item.Item{key}, Projection: "#n", Expressions: tableapi.Expressions{Names: map[string]string{"#n": "n"}}, Consistent: true},
		"u": {Keys: []item.Item{key}},
	}})
	if !reflect.DeepEqual(out.Responses, map[string][]map[string]types.AttributeValue{"t": {everyTypeBack}, "u": {}}) {
		t.Errorf("Responses %#v", out.Responses)
	}
	un := out.UnprocessedKeys["t"]
	if len(out.UnprocessedKeys) != 1 || len(un.Keys) != 1 || aws.ToString(un.ProjectionExpression) != "#n" || un.ExpressionAttributeNames["#n"] != "n" || !aws.ToBool(un.ConsistentRead) {
		t.Errorf("UnprocessedKeys %#v, want t's key with its projection", out.UnprocessedKeys)
	} else {
		wantItem(t, "unprocessed key", un.Keys[0], keySDK)
	}
}

func TestBatchWriteItemReachesTheServiceAndAnswersTheSDK(t *testing.T) {
	ctx := context.Background()
	svc := &fakeService{batchWrite: tableapi.BatchWriteResult{Unprocessed: map[string][]tableapi.WriteRequest{"t": {{Delete: key}}}}}
	out, err := newSDKClient(t, svc).BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"t": {{PutRequest: &types.PutRequest{Item: everyTypeBack}}, {DeleteRequest: &types.DeleteRequest{Key: keySDK}}},
	}})
	if err != nil {
		t.Fatalf("BatchWriteItem: %v", err)
	}
	wantCalls(t, svc, tableapi.BatchWriteItem{Tables: map[string][]tableapi.WriteRequest{"t": {{Put: everyType}, {Delete: key}}}})
	un := out.UnprocessedItems["t"]
	if len(out.UnprocessedItems) != 1 || len(un) != 1 || un[0].DeleteRequest == nil || un[0].PutRequest != nil {
		t.Fatalf("UnprocessedItems %#v, want t's delete", out.UnprocessedItems)
	}
	wantItem(t, "unprocessed delete", un[0].DeleteRequest.Key, keySDK)

	svc = &fakeService{}
	out, err = newSDKClient(t, svc).BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"t": {{DeleteRequest: &types.DeleteRequest{Key: keySDK}}}}})
	if err != nil || len(out.UnprocessedItems) != 0 {
		t.Fatalf("all processed: %#v %v", out, err)
	}
}
