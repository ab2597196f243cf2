package dynamodb

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// newSDKClient serves svc on a test server and returns the real AWS SDK's
// client of it, with retries off so that each call is one request.
func newSDKClient(t *testing.T, svc tableapi.Service) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(New(svc, DefaultConfig(), nil))
	t.Cleanup(srv.Close)
	return dynamodb.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// wantCalls fails the test unless svc received exactly want.
func wantCalls(t *testing.T, svc *fakeService, want ...any) {
	t.Helper()
	got := svc.recorded()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("service got\n  %#v\nwant\n  %#v", got, want)
	}
}

var created = time.Date(2026, 12, 6, 10, 0, 0, 500_000_000, time.UTC)

func TestTableOperationsReachTheServiceAndAnswerTheSDK(t *testing.T) {
	ctx := context.Background()
	hashRange := item.KeySchema{
		Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS},
		Sort:      item.KeyAttribute{Name: "sk", Type: item.TypeN},
	}
	svc := &fakeService{table: tableapi.TableDescription{
		Name: "t1", ID: 7, Schema: hashRange, CreatedUnixNanos: created.UnixNano(), Status: "ACTIVE",
	}}
	client := newSDKClient(t, svc)

	out, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("t1"),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode:           types.BillingModeProvisioned,
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	wantCalls(t, svc, tableapi.CreateTable{Name: "t1", Schema: hashRange})
	wantDescription(t, out.TableDescription, "t1", types.TableStatusActive)

	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("t1")})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	wantDescription(t, desc.Table, "t1", types.TableStatusActive)

	svc.table.Status = "DELETING"
	deleted, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("t1")})
	if err != nil {
		t.Fatalf("DeleteTable: %v", err)
	}
	wantDescription(t, deleted.TableDescription, "t1", types.TableStatusDeleting)
	wantCalls(t, svc, tableapi.CreateTable{Name: "t1", Schema: hashRange}, describeTableCall{"t1"}, deleteTableCall{"t1"})
}

func wantDescription(t *testing.T, d *types.TableDescription, name string, status types.TableStatus) {
	t.Helper()
	if d == nil {
		t.Fatal("no table description")
	}
	if got := aws.ToString(d.TableName); got != name {
		t.Errorf("TableName %q, want %q", got, name)
	}
	if d.TableStatus != status {
		t.Errorf("TableStatus %q, want %q", d.TableStatus, status)
	}
	if got, want := aws.ToString(d.TableArn), "arn:aws:dynamodb:harmonia:000000000000:table/"+name; got != want {
		t.Errorf("TableArn %q, want %q", got, want)
	}
	if d.CreationDateTime == nil || !d.CreationDateTime.Equal(created) {
		t.Errorf("CreationDateTime %v, want %v", d.CreationDateTime, created)
	}
	wantKeys := []types.KeySchemaElement{
		{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
	}
	if !reflect.DeepEqual(d.KeySchema, wantKeys) {
		t.Errorf("KeySchema %+v, want %+v", d.KeySchema, wantKeys)
	}
	wantDefs := []types.AttributeDefinition{
		{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
	}
	if !reflect.DeepEqual(d.AttributeDefinitions, wantDefs) {
		t.Errorf("AttributeDefinitions %+v, want %+v", d.AttributeDefinitions, wantDefs)
	}
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("BillingModeSummary %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
	}
	if aws.ToInt64(d.ItemCount) != 0 || aws.ToInt64(d.TableSizeBytes) != 0 {
		t.Errorf("ItemCount %v, TableSizeBytes %v, want 0 and 0", d.ItemCount, d.TableSizeBytes)
	}
}

func TestCreateTableWithOnlyAPartitionKeyHasNoSortKey(t *testing.T) {
	svc := &fakeService{}
	_, err := newSDKClient(t, svc).CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String("t"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeB}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	wantCalls(t, svc, tableapi.CreateTable{Name: "t", Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "id", Type: item.TypeB}}})
}

// The tag harmonia:consistency chooses the table's consistency; other
// tags are ignored, and a value that is no consistency is refused.
func TestCreateTableTakesItsConsistencyFromATag(t *testing.T) {
	create := func(svc *fakeService, tags ...types.Tag) error {
		_, err := newSDKClient(t, svc).CreateTable(context.Background(), &dynamodb.CreateTableInput{
			TableName:            aws.String("t"),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			Tags:                 tags,
		})
		return err
	}
	schema := item.KeySchema{Partition: item.KeyAttribute{Name: "id", Type: item.TypeS}}
	svc := &fakeService{}
	if err := create(svc, types.Tag{Key: aws.String("team"), Value: aws.String("x")}, types.Tag{Key: aws.String(ConsistencyTag), Value: aws.String("eventual")}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, svc, tableapi.CreateTable{Name: "t", Schema: schema, Consistency: catalog.Eventual})
	svc = &fakeService{}
	err := create(svc, types.Tag{Key: aws.String(ConsistencyTag), Value: aws.String("sometimes")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Fatalf("a consistency tag of %q: %v, want ValidationException", "sometimes", err)
	}
	wantCalls(t, svc)
}

func TestCreateTableRefusesKeySchemasItCannotTranslate(t *testing.T) {
	def := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(name string, kt types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
	}
	for _, tt := range []struct {
		name string
		defs []types.AttributeDefinition
		keys []types.KeySchemaElement
		gsi  []types.GlobalSecondaryIndex
	}{
		{"range before hash", []types.AttributeDefinition{def("a"), def("b")}, []types.KeySchemaElement{key("a", types.KeyTypeRange), key("b", types.KeyTypeHash)}, nil},
		{"two hash keys", []types.AttributeDefinition{def("a"), def("b")}, []types.KeySchemaElement{key("a", types.KeyTypeHash), key("b", types.KeyTypeHash)}, nil},
		{"key attribute not defined", []types.AttributeDefinition{def("a")}, []types.KeySchemaElement{key("b", types.KeyTypeHash)}, nil},
		{"definition no key uses", []types.AttributeDefinition{def("a"), def("b")}, []types.KeySchemaElement{key("a", types.KeyTypeHash)}, nil},
		{"attribute defined twice", []types.AttributeDefinition{def("a"), def("a")}, []types.KeySchemaElement{key("a", types.KeyTypeHash)}, nil},
		{"three key elements", []types.AttributeDefinition{def("a"), def("b"), def("c")}, []types.KeySchemaElement{key("a", types.KeyTypeHash), key("b", types.KeyTypeRange), key("c", types.KeyTypeRange)}, nil},
		{"secondary index", []types.AttributeDefinition{def("a")}, []types.KeySchemaElement{key("a", types.KeyTypeHash)}, []types.GlobalSecondaryIndex{{
			IndexName: aws.String("i"), KeySchema: []types.KeySchemaElement{key("a", types.KeyTypeHash)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			_, err := newSDKClient(t, svc).CreateTable(context.Background(), &dynamodb.CreateTableInput{
				TableName: aws.String("t"), AttributeDefinitions: tt.defs, KeySchema: tt.keys, GlobalSecondaryIndexes: tt.gsi,
			})
			wantAPIError(t, err, errValidation, http.StatusBadRequest)
			wantCalls(t, svc)
		})
	}
}

// wantAPIError fails the test unless err is the SDK's error of that
// DynamoDB error name and HTTP status.
func wantAPIError(t *testing.T, err error, name string, status int) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an API error", err)
	}
	if apiErr.ErrorCode() != name {
		t.Errorf("error code %q, want %q (%v)", apiErr.ErrorCode(), name, err)
	}
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) {
		t.Fatalf("error %v has no HTTP response", err)
	}
	if respErr.HTTPStatusCode() != status {
		t.Errorf("HTTP status %d, want %d", respErr.HTTPStatusCode(), status)
	}
	if respErr.ServiceRequestID() == "" {
		t.Errorf("no request ID in %v", err)
	}
}

func TestListTablesPassesItsPageAndReturnsTheNames(t *testing.T) {
	for _, tt := range []struct {
		name      string
		in        dynamodb.ListTablesInput
		wantCall  listTablesCall
		names     []string
		last      string
		wantNames []string
	}{
		{"no limit asks for DynamoDB's page of 100", dynamodb.ListTablesInput{}, listTablesCall{"", maxListTablesLimit}, nil, "", []string{}},
		{"limit and start are passed", dynamodb.ListTablesInput{ExclusiveStartTableName: aws.String("b"), Limit: aws.Int32(2)},
			listTablesCall{"b", 2}, []string{"c", "d"}, "d", []string{"c", "d"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{names: tt.names, lastName: tt.last}
			out, err := newSDKClient(t, svc).ListTables(context.Background(), &tt.in)
			if err != nil {
				t.Fatalf("ListTables: %v", err)
			}
			wantCalls(t, svc, tt.wantCall)
			if !reflect.DeepEqual(out.TableNames, tt.wantNames) {
				t.Errorf("TableNames %q, want %q", out.TableNames, tt.wantNames)
			}
			if got := aws.ToString(out.LastEvaluatedTableName); got != tt.last {
				t.Errorf("LastEvaluatedTableName %q, want %q", got, tt.last)
			}
		})
	}
}

func TestListTablesRefusesALimitOutsideDynamoDBsRange(t *testing.T) {
	for _, limit := range []int32{0, -1, maxListTablesLimit + 1} {
		svc := &fakeService{}
		_, err := newSDKClient(t, svc).ListTables(context.Background(), &dynamodb.ListTablesInput{Limit: aws.Int32(limit)})
		wantAPIError(t, err, errValidation, http.StatusBadRequest)
		wantCalls(t, svc)
	}
}

// everyType is an item with a value of every type, as the SDK writes it
// and as cluster/item reads it.
var (
	everyTypeSDK = map[string]types.AttributeValue{
		"pk":   &types.AttributeValueMemberS{Value: "p1"},
		"n":    &types.AttributeValueMemberN{Value: "1.50"},
		"b":    &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		"ok":   &types.AttributeValueMemberBOOL{Value: true},
		"none": &types.AttributeValueMemberNULL{Value: true},
		"l":    &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}, &types.AttributeValueMemberN{Value: "2"}}},
		"m":    &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"in": &types.AttributeValueMemberS{Value: "y"}}},
		"ss":   &types.AttributeValueMemberSS{Value: []string{"b", "a"}},
		"ns":   &types.AttributeValueMemberNS{Value: []string{"3", "-1"}},
		"bs":   &types.AttributeValueMemberBS{Value: [][]byte{{9}, {8}}},
	}
	everyType = item.Item{
		"pk":   item.S("p1"),
		"n":    item.MustNumber("1.5"),
		"b":    item.B{0, 1, 2},
		"ok":   item.Bool(true),
		"none": item.Null{},
		"l":    item.L{item.S("x"), item.MustNumber("2")},
		"m":    item.M{"in": item.S("y")},
		"ss":   item.SS{"a", "b"},
		"ns":   item.NS{item.MustNumber("-1"), item.MustNumber("3")},
		"bs":   item.BS{{8}, {9}},
	}
	// everyTypeBack is everyType as the SDK reads it back.
	everyTypeBack = map[string]types.AttributeValue{
		"pk":   &types.AttributeValueMemberS{Value: "p1"},
		"n":    &types.AttributeValueMemberN{Value: "1.5"},
		"b":    &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		"ok":   &types.AttributeValueMemberBOOL{Value: true},
		"none": &types.AttributeValueMemberNULL{Value: true},
		"l":    &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}, &types.AttributeValueMemberN{Value: "2"}}},
		"m":    &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"in": &types.AttributeValueMemberS{Value: "y"}}},
		"ss":   &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":   &types.AttributeValueMemberNS{Value: []string{"-1", "3"}},
		"bs":   &types.AttributeValueMemberBS{Value: [][]byte{{8}, {9}}},
	}
	keySDK = map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "p1"}, "sk": &types.AttributeValueMemberN{Value: "7"}}
	key    = item.Item{"pk": item.S("p1"), "sk": item.MustNumber("7")}
)

func wantItem(t *testing.T, what string, got, want map[string]types.AttributeValue) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s %#v, want %#v", what, got, want)
	}
}

func TestItemOperationsReachTheServiceAndAnswerTheSDK(t *testing.T) {
	ctx := context.Background()
	names := map[string]string{"#n": "n"}
	values := map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "10"}}
	exprs := tableapi.Expressions{Names: names, Values: map[string]item.Value{":v": item.MustNumber("10")}}

	t.Run("PutItem", func(t *testing.T) {
		svc := &fakeService{write: tableapi.WriteResult{Attributes: everyType}}
		out, err := newSDKClient(t, svc).PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("t"), Item: everyTypeSDK, ConditionExpression: aws.String("#n < :v"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: types.ReturnValueAllOld,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			t.Fatalf("PutItem: %v", err)
		}
		wantCalls(t, svc, tableapi.PutItem{Table: "t", Item: everyType, Condition: "#n < :v", Expressions: exprs, Return: tableapi.ReturnAllOld})
		wantItem(t, "Attributes", out.Attributes, everyTypeBack)
	})

	t.Run("PutItem without ReturnValues returns no attributes", func(t *testing.T) {
		svc := &fakeService{}
		out, err := newSDKClient(t, svc).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: keySDK})
		if err != nil {
			t.Fatalf("PutItem: %v", err)
		}
		wantCalls(t, svc, tableapi.PutItem{Table: "t", Item: key})
		if out.Attributes != nil {
			t.Errorf("Attributes %v, want none", out.Attributes)
		}
	})

	t.Run("GetItem", func(t *testing.T) {
		svc := &fakeService{get: tableapi.GetResult{Item: everyType}}
		out, err := newSDKClient(t, svc).GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("t"), Key: keySDK, ProjectionExpression: aws.String("#n, l[0]"),
			ExpressionAttributeNames: names, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatalf("GetItem: %v", err)
		}
		wantCalls(t, svc, tableapi.GetItem{Table: "t", Key: key, Projection: "#n, l[0]", Expressions: tableapi.Expressions{Names: names}, Consistent: true})
		wantItem(t, "Item", out.Item, everyTypeBack)
	})

	t.Run("GetItem of no item returns none", func(t *testing.T) {
		svc := &fakeService{}
		out, err := newSDKClient(t, svc).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: keySDK})
		if err != nil {
			t.Fatalf("GetItem: %v", err)
		}
		wantCalls(t, svc, tableapi.GetItem{Table: "t", Key: key})
		if out.Item != nil {
			t.Errorf("Item %v, want none", out.Item)
		}
	})

	t.Run("DeleteItem", func(t *testing.T) {
		svc := &fakeService{write: tableapi.WriteResult{Attributes: everyType}}
		out, err := newSDKClient(t, svc).DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String("t"), Key: keySDK, ConditionExpression: aws.String("#n = :v"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: types.ReturnValueAllOld,
		})
		if err != nil {
			t.Fatalf("DeleteItem: %v", err)
		}
		wantCalls(t, svc, tableapi.DeleteItem{Table: "t", Key: key, Condition: "#n = :v", Expressions: exprs, Return: tableapi.ReturnAllOld})
		wantItem(t, "Attributes", out.Attributes, everyTypeBack)
	})

	t.Run("UpdateItem", func(t *testing.T) {
		svc := &fakeService{write: tableapi.WriteResult{Attributes: everyType}}
		out, err := newSDKClient(t, svc).UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String("t"), Key: keySDK, UpdateExpression: aws.String("SET #n = :v"),
			ConditionExpression:      aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: types.ReturnValueUpdatedNew,
		})
		if err != nil {
			t.Fatalf("UpdateItem: %v", err)
		}
		wantCalls(t, svc, tableapi.UpdateItem{
			Table: "t", Key: key, Update: "SET #n = :v", Condition: "attribute_exists(pk)",
			Expressions: exprs, Return: tableapi.ReturnUpdatedNew,
		})
		wantItem(t, "Attributes", out.Attributes, everyTypeBack)
	})
}

func TestQueryReachesTheServiceAndAnswersTheSDK(t *testing.T) {
	ctx := context.Background()
	values := map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "p1"}}
	exprs := tableapi.Expressions{Values: map[string]item.Value{":p": item.S("p1")}}
	page := tableapi.QueryResult{Items: []item.Item{everyType, key}, Count: 2, ScannedCount: 5, LastEvaluatedKey: key}

	for _, tt := range []struct {
		name      string
		in        dynamodb.QueryInput
		want      tableapi.Query
		answer    tableapi.QueryResult
		wantItems []map[string]types.AttributeValue
		wantLast  map[string]types.AttributeValue
	}{
		{
			name: "every parameter is passed",
			in: dynamodb.QueryInput{
				TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"),
				FilterExpression: aws.String("#n > :p"), ProjectionExpression: aws.String("#n"),
				ExpressionAttributeNames: map[string]string{"#n": "n"}, ExpressionAttributeValues: values,
				Limit: aws.Int32(3), ExclusiveStartKey: keySDK, ScanIndexForward: aws.Bool(false),
				Select: types.SelectSpecificAttributes, ConsistentRead: aws.Bool(true),
			},
			want: tableapi.Query{
				Table: "t", KeyCondition: "pk = :p", Filter: "#n > :p", Projection: "#n",
				Expressions: tableapi.Expressions{Names: map[string]string{"#n": "n"}, Values: exprs.Values},
				Limit:       3, ExclusiveStartKey: key, Backward: true, Select: tableapi.SelectSpecificAttributes, Consistent: true,
			},
			answer:    page,
			wantItems: []map[string]types.AttributeValue{everyTypeBack, keySDK},
			wantLast:  keySDK,
		},
		{
			name:      "ScanIndexForward absent reads forward",
			in:        dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: values},
			want:      tableapi.Query{Table: "t", KeyCondition: "pk = :p", Expressions: exprs},
			wantItems: []map[string]types.AttributeValue{},
		},
		{
			name:      "ScanIndexForward true reads forward",
			in:        dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: values, ScanIndexForward: aws.Bool(true)},
			want:      tableapi.Query{Table: "t", KeyCondition: "pk = :p", Expressions: exprs},
			wantItems: []map[string]types.AttributeValue{},
		},
		{
			name:   "Select COUNT returns counts and no items",
			in:     dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: values, Select: types.SelectCount},
			want:   tableapi.Query{Table: "t", KeyCondition: "pk = :p", Expressions: exprs, Select: tableapi.SelectCount},
			answer: tableapi.QueryResult{Count: 2, ScannedCount: 5},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{query: tt.answer}
			out, err := newSDKClient(t, svc).Query(ctx, &tt.in)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			wantCalls(t, svc, tt.want)
			if !reflect.DeepEqual(out.Items, tt.wantItems) {
				t.Errorf("Items %#v, want %#v", out.Items, tt.wantItems)
			}
			if out.Count != int32(tt.answer.Count) || out.ScannedCount != int32(tt.answer.ScannedCount) {
				t.Errorf("Count %d, ScannedCount %d, want %d and %d", out.Count, out.ScannedCount, tt.answer.Count, tt.answer.ScannedCount)
			}
			wantItem(t, "LastEvaluatedKey", out.LastEvaluatedKey, tt.wantLast)
		})
	}
}

func TestServiceErrorsReachTheSDKAsDynamoDBErrors(t *testing.T) {
	for _, tt := range []struct {
		kind       tableapi.Kind
		wantName   string
		wantStatus int
		// typed is the SDK's error type the error must be, when it has one.
		typed func(error) bool
	}{
		{tableapi.KindValidation, errValidation, 400, nil},
		{tableapi.KindConditionFailed, errConditionFailed, 400, isType[*types.ConditionalCheckFailedException]},
		{tableapi.KindTableNotFound, errResourceNotFound, 400, isType[*types.ResourceNotFoundException]},
		{tableapi.KindTableExists, errResourceInUse, 400, isType[*types.ResourceInUseException]},
		{tableapi.KindLimitExceeded, errLimitExceeded, 400, isType[*types.LimitExceededException]},
		{tableapi.KindContention, errTransactionConflict, 400, isType[*types.TransactionConflictException]},
		{tableapi.KindUnavailable, errServiceUnavailable, 503, nil},
		{tableapi.KindInternal, errInternal, 500, isType[*types.InternalServerError]},
	} {
		t.Run(tt.wantName, func(t *testing.T) {
			svc := &fakeService{err: tableapi.Errorf(tt.kind, "the service says no")}
			_, err := newSDKClient(t, svc).PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("t"), Item: keySDK})
			wantAPIError(t, err, tt.wantName, tt.wantStatus)
			if tt.typed != nil && !tt.typed(err) {
				t.Errorf("error %T %v is not the SDK's typed error", err, err)
			}
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) {
				msg := apiErr.ErrorMessage()
				if tt.kind == tableapi.KindInternal && msg != internalMessage {
					t.Errorf("internal error told the client %q, want %q", msg, internalMessage)
				}
				if tt.kind != tableapi.KindInternal && msg != "the service says no" {
					t.Errorf("message %q, want the service's", msg)
				}
			}
		})
	}
}

func isType[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func TestUnclassifiedItemErrorsOfTheServiceAreValidationErrors(t *testing.T) {
	svc := &fakeService{err: item.Errorf(item.ErrInvalid, "no such thing")}
	_, err := newSDKClient(t, svc).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: keySDK})
	wantAPIError(t, err, errValidation, http.StatusBadRequest)
}

func TestAttributeValuesDynamoDBRefusesNeverReachTheService(t *testing.T) {
	for _, tt := range []struct {
		name string
		item map[string]types.AttributeValue
	}{
		{"number set with equal numbers", map[string]types.AttributeValue{"pk": &types.AttributeValueMemberNS{Value: []string{"1", "1.0"}}}},
		{"number that is not one", map[string]types.AttributeValue{"pk": &types.AttributeValueMemberN{Value: "one"}}},
		{"empty string set", map[string]types.AttributeValue{"pk": &types.AttributeValueMemberSS{Value: []string{}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			_, err := newSDKClient(t, svc).PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("t"), Item: tt.item})
			wantAPIError(t, err, errValidation, http.StatusBadRequest)
			wantCalls(t, svc)
		})
	}
}

func TestServiceAnswersThatAreNotValidItemsAreInternalErrors(t *testing.T) {
	svc := &fakeService{get: tableapi.GetResult{Item: item.Item{"bad": item.SS{}}}}
	_, err := newSDKClient(t, svc).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: keySDK})
	wantAPIError(t, err, errInternal, http.StatusInternalServerError)
}

// The SDK's waiters are how programs wait for CreateTable and DeleteTable:
// they must read the answers as settled at the first look.
func TestSDKTableWaitersSettleAtTheFirstLook(t *testing.T) {
	ctx := context.Background()
	in := &dynamodb.DescribeTableInput{TableName: aws.String("t")}
	active := &fakeService{table: tableapi.TableDescription{
		Name: "t", Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}}, Status: "ACTIVE",
	}}
	if err := dynamodb.NewTableExistsWaiter(newSDKClient(t, active)).Wait(ctx, in, time.Minute); err != nil {
		t.Errorf("TableExistsWaiter: %v", err)
	}
	gone := &fakeService{err: tableapi.Errorf(tableapi.KindTableNotFound, "Requested resource not found")}
	if err := dynamodb.NewTableNotExistsWaiter(newSDKClient(t, gone)).Wait(ctx, in, time.Minute); err != nil {
		t.Errorf("TableNotExistsWaiter: %v", err)
	}
	wantCalls(t, gone, describeTableCall{"t"})
}

// UpdateTable where it applies: a billing mode or capacity is taken and
// changes nothing (the answer describes the table); what would change the
// table (an index, a stream) is a ValidationException, and so is a
// request that asks for nothing.
func TestUpdateTableTakesBillingSettingsOnly(t *testing.T) {
	ctx := context.Background()
	svc := &fakeService{table: tableapi.TableDescription{Name: "t", Status: "ACTIVE", Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "id", Type: item.TypeS}}}}
	db := newSDKClient(t, svc)
	out, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("t"), BillingMode: types.BillingModePayPerRequest})
	if err != nil || aws.ToString(out.TableDescription.TableName) != "t" || out.TableDescription.TableStatus != types.TableStatusActive {
		t.Fatalf("UpdateTable of the billing mode: %+v, %v", out, err)
	}
	wantCalls(t, svc, describeTableCall{Name: "t"})
	for _, in := range []*dynamodb.UpdateTableInput{
		{TableName: aws.String("t"), GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String("i")}}}},
		{TableName: aws.String("t"), StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}},
		{TableName: aws.String("t")},
	} {
		svc := &fakeService{}
		_, err := newSDKClient(t, svc).UpdateTable(ctx, in)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
			t.Errorf("UpdateTable %+v: %v, want ValidationException", in, err)
		}
		wantCalls(t, svc)
	}
}
