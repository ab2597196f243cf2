package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// dynamoClient is the real AWS SDK's client of a node's DynamoDB
// endpoint, with retries off: each call is one request.
func dynamoClient(addr string) *dynamodb.Client {
	return dynamoClientAs(addr, credentials.NewStaticCredentialsProvider("key", "secret", ""))
}

// dynamoClientAs is dynamoClient signing with creds, its configuration
// changed by each of with.
func dynamoClientAs(addr string, creds aws.CredentialsProvider, with ...func(*aws.Config)) *dynamodb.Client {
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  creds,
		BaseEndpoint: aws.String("http://" + addr),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
	for _, w := range with {
		w(&cfg)
	}
	return dynamodb.NewFromConfig(cfg)
}

// startDynamoCluster starts three nodes that each serve the DynamoDB
// endpoint, the second and third joining the first, each also given
// args(i) (i from 1; nil: none), and returns the cluster and the
// endpoints' addresses.
func startDynamoCluster(t testing.TB, args func(i int) []string) (*testCluster, []string) {
	c := &testCluster{t: t}
	root := t.TempDir()
	var dyn []string
	for i := 1; i <= 3; i++ {
		dyn = append(dyn, freePort(t))
		a := []string{"--dynamodb", dyn[i-1]}
		if args != nil {
			a = append(a, args(i)...)
		}
		if i > 1 {
			a = append(a, "--join", c.nodes[0].clusterAddr)
		}
		id := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, newNode(t, id, freePort(t), filepath.Join(root, id), a...))
	}
	c.startAll()
	return c, dyn
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprint(err)
}

func str(s string) types.AttributeValue    { return &types.AttributeValueMemberS{Value: s} }
func num(n int) types.AttributeValue       { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }
func numOf(av types.AttributeValue) string { return av.(*types.AttributeValueMemberN).Value }

// The DynamoDB endpoint end to end: three real processes, the AWS SDK for
// Go as the client, a strong table of items created through one node and
// used through every node: conditional writes, updates, Query pages in
// both orders, deletes, batches, Scans of a table spread over partitions
// (in pages and segments), DynamoDB's errors, and a node down.
func TestDynamoDBEndpoint(t *testing.T) {
	c, dyn := startDynamoCluster(t, nil)
	db := []*dynamodb.Client{dynamoClient(dyn[0]), dynamoClient(dyn[1]), dynamoClient(dyn[2])}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	table := aws.String("events")

	_, err := db[0].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: table,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("user"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("at"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("user"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("at"), KeyType: types.KeyTypeRange}},
		BillingMode:          types.BillingModePayPerRequest})
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.NewTableExistsWaiter(db[2]).Wait(ctx, &dynamodb.DescribeTableInput{TableName: table}, 30*time.Second); err != nil {
		t.Fatalf("the table is not active on n3: %v", err)
	}

	t.Run("items written through every node, read through another", func(t *testing.T) {
		for i := 1; i <= 10; i++ {
			if _, err := db[i%3].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{
				"user": str("ann"), "at": num(i), "body": str(fmt.Sprint("event ", i))}}); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
		if _, err := db[0].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"user": str("bob"), "at": num(5)}}); err != nil {
			t.Fatal(err)
		}
		got, err := db[2].GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"user": str("ann"), "at": num(7)}})
		if err != nil || got.Item["body"].(*types.AttributeValueMemberS).Value != "event 7" {
			t.Fatalf("get: %v %v", got, err)
		}
	})

	t.Run("a failed condition is ConditionalCheckFailedException and changes nothing", func(t *testing.T) {
		_, err := db[1].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"user": str("ann"), "at": num(3), "body": str("overwritten")},
			ConditionExpression: aws.String("attribute_not_exists(#u)"), ExpressionAttributeNames: map[string]string{"#u": "user"}})
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			t.Fatalf("put if absent over an item: %v", err)
		}
		got, err := db[0].GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"user": str("ann"), "at": num(3)}, ConsistentRead: aws.Bool(true)})
		if err != nil || got.Item["body"].(*types.AttributeValueMemberS).Value != "event 3" {
			t.Fatalf("after the failed put: %v %v", got.Item, err)
		}
	})

	t.Run("concurrent increments through three nodes: every acknowledged one counted, at most the open ones more", func(t *testing.T) {
		const each = 10
		type tally struct{ acked, open int }
		done := make(chan tally, 3)
		for i := range 3 {
			go func() {
				var n tally
				for range each {
					_, err := db[i].UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: map[string]types.AttributeValue{"user": str("ann"), "at": num(1)},
						UpdateExpression: aws.String("ADD visits :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)}})
					switch code := apiCode(err); {
					case err == nil:
						n.acked++
					case code == "TransactionConflictException" || code == "ServiceUnavailable":
						n.open++ // it may or may not have taken effect
					default:
						t.Errorf("increment: %v", err)
					}
				}
				done <- n
			}()
		}
		var total tally
		for range 3 {
			n := <-done
			total.acked, total.open = total.acked+n.acked, total.open+n.open
		}
		out, err := db[1].UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: map[string]types.AttributeValue{"user": str("ann"), "at": num(1)},
			UpdateExpression: aws.String("SET body = :b"), ExpressionAttributeValues: map[string]types.AttributeValue{":b": str("counted")}, ReturnValues: types.ReturnValueAllNew})
		if err != nil {
			t.Fatal(err)
		}
		visits, _ := strconv.Atoi(numOf(out.Attributes["visits"]))
		if visits < total.acked || visits > total.acked+total.open || total.acked == 0 {
			t.Fatalf("%d visits after %d acknowledged and %d open increments", visits, total.acked, total.open)
		}
		t.Logf("%d visits: %d increments acknowledged, %d open", visits, total.acked, total.open)
	})

	query := func(t *testing.T, client *dynamodb.Client, in *dynamodb.QueryInput) (ats []string, pages int) {
		t.Helper()
		p := dynamodb.NewQueryPaginator(client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, it := range page.Items {
				ats = append(ats, numOf(it["at"]))
			}
		}
		return ats, pages
	}
	t.Run("Query reads one partition key in sort key order, in pages, both ways", func(t *testing.T) {
		in := &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("#u = :u AND #a BETWEEN :lo AND :hi"),
			ExpressionAttributeNames:  map[string]string{"#u": "user", "#a": "at"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": str("ann"), ":lo": num(3), ":hi": num(8)}, Limit: aws.Int32(2)}
		ats, pages := query(t, db[0], in)
		if want := []string{"3", "4", "5", "6", "7", "8"}; !slices.Equal(ats, want) || pages < 3 {
			t.Fatalf("forward: %v in %d pages, want %v in 3 or more", ats, pages, want)
		}
		in.ScanIndexForward = aws.Bool(false)
		ats, _ = query(t, db[2], in)
		if want := []string{"8", "7", "6", "5", "4", "3"}; !slices.Equal(ats, want) {
			t.Fatalf("backward: %v, want %v", ats, want)
		}
		count, err := db[1].Query(ctx, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("#u = :u"), Select: types.SelectCount,
			FilterExpression: aws.String("attribute_exists(body)"), ExpressionAttributeNames: map[string]string{"#u": "user"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": str("ann")}})
		if err != nil || count.Count != 10 || count.ScannedCount != 10 || count.Items != nil {
			t.Fatalf("count: %+v %v", count, err)
		}
	})

	t.Run("a conditional delete removes the item from reads and queries", func(t *testing.T) {
		key := map[string]types.AttributeValue{"user": str("ann"), "at": num(5)}
		_, err := db[2].DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key, ConditionExpression: aws.String("body = :b"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":b": str("not this")}})
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			t.Fatalf("delete whose condition fails: %v", err)
		}
		old, err := db[2].DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key, ReturnValues: types.ReturnValueAllOld})
		if err != nil || old.Attributes["body"].(*types.AttributeValueMemberS).Value != "event 5" {
			t.Fatalf("delete: %v %v", old, err)
		}
		got, err := db[0].GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key})
		if err != nil || got.Item != nil {
			t.Fatalf("get after delete: %v %v", got.Item, err)
		}
		ats, _ := query(t, db[1], &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("#u = :u"),
			ExpressionAttributeNames: map[string]string{"#u": "user"}, ExpressionAttributeValues: map[string]types.AttributeValue{":u": str("ann")}})
		if slices.Contains(ats, "5") || len(ats) != 9 {
			t.Fatalf("query after delete: %v", ats)
		}
	})

	t.Run("bad requests get DynamoDB's errors", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			err  error
			want string
		}{
			{"an item without its sort key", func() error {
				_, err := db[0].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"user": str("ann")}})
				return err
			}(), "ValidationException"},
			{"a table that does not exist", func() error {
				_, err := db[0].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("nope"), Key: map[string]types.AttributeValue{"user": str("ann"), "at": num(1)}})
				return err
			}(), "ResourceNotFoundException"},
			{"an update of a key attribute", func() error {
				_, err := db[0].UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: map[string]types.AttributeValue{"user": str("ann"), "at": num(1)},
					UpdateExpression: aws.String("SET #a = :v"), ExpressionAttributeNames: map[string]string{"#a": "at"}, ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(2)}})
				return err
			}(), "ValidationException"},
			{"a table created twice", func() error {
				_, err := db[1].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: table,
					AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("user"), AttributeType: types.ScalarAttributeTypeS}},
					KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("user"), KeyType: types.KeyTypeHash}}})
				return err
			}(), "ResourceInUseException"},
		} {
			if got := apiCode(tt.err); got != tt.want {
				t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
			}
		}
	})

	t.Run("batch writes, batch reads and scans of a table spread over partitions", func(t *testing.T) {
		spread := aws.String("spread")
		if _, err := db[0].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: spread,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}}); err != nil {
			t.Fatal(err)
		}
		const items = 40 // partition keys: spread over the ring's partitions
		var want []string
		for start := 0; start < items; start += 20 {
			var writes []types.WriteRequest
			for i := start; i < start+20; i++ {
				id := fmt.Sprintf("item-%02d", i)
				want = append(want, id)
				writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"id": str(id), "n": num(i)}}})
			}
			out, err := db[0].BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"spread": writes}})
			if err != nil || len(out.UnprocessedItems) != 0 {
				t.Fatalf("batch write from %d: %v %v", start, out, err)
			}
		}
		got, err := db[1].BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			"spread": {Keys: []map[string]types.AttributeValue{{"id": str("item-03")}, {"id": str("item-33")}, {"id": str("missing")}}, ProjectionExpression: aws.String("n")},
			"events": {Keys: []map[string]types.AttributeValue{{"user": str("ann"), "at": num(1)}}},
		}})
		if err != nil || len(got.UnprocessedKeys) != 0 {
			t.Fatalf("batch get: %v %v", got, err)
		}
		var ns []string
		for _, it := range got.Responses["spread"] {
			ns = append(ns, numOf(it["n"]))
		}
		slices.Sort(ns)
		if !slices.Equal(ns, []string{"3", "33"}) || len(got.Responses["events"]) != 1 {
			t.Fatalf("batch get through n2: spread %v, events %v", ns, got.Responses["events"])
		}

		// scan reads every page of a Scan and returns the ids in the
		// order read.
		scan := func(node int, in dynamodb.ScanInput) []string {
			t.Helper()
			var ids []string
			for pages := 0; ; pages++ {
				if pages > items+1 {
					t.Fatalf("a scan of %d items is still paging", items)
				}
				out, err := db[node].Scan(ctx, &in)
				if err != nil {
					t.Fatalf("scan: %v", err)
				}
				if in.Limit != nil && len(out.Items) > int(*in.Limit) {
					t.Fatalf("a page of %d items for a Limit of %d", len(out.Items), *in.Limit)
				}
				for _, it := range out.Items {
					ids = append(ids, it["id"].(*types.AttributeValueMemberS).Value)
				}
				if out.LastEvaluatedKey == nil {
					return ids
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		}
		wantOnce := func(what string, ids []string) {
			t.Helper()
			slices.Sort(ids)
			if !slices.Equal(ids, want) {
				t.Fatalf("%s: %d ids %v, want each of the %d once", what, len(ids), ids, items)
			}
		}
		wantOnce("scan in pages of 7", scan(2, dynamodb.ScanInput{TableName: spread, Limit: aws.Int32(7)}))
		var segments []string
		for seg := range 3 {
			segments = append(segments, scan(seg, dynamodb.ScanInput{TableName: spread, Limit: aws.Int32(5), Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(3)})...)
		}
		wantOnce("three segments", segments)
		count, err := db[1].Scan(ctx, &dynamodb.ScanInput{TableName: spread, Select: types.SelectCount, FilterExpression: aws.String("n >= :lo"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":lo": num(30)}})
		if err != nil || count.Count != 10 || count.ScannedCount != items || count.Items != nil {
			t.Fatalf("filtered count: %+v %v, want 10 of %d", count, err, items)
		}

		del, err := db[2].BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"spread": {
			{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"id": str("item-00")}}}}}})
		if err != nil || len(del.UnprocessedItems) != 0 {
			t.Fatalf("batch delete: %v %v", del, err)
		}
		if ids := scan(0, dynamodb.ScanInput{TableName: spread}); len(ids) != items-1 || slices.Contains(ids, "item-00") {
			t.Fatalf("scan after the delete: %v", ids)
		}
	})

	t.Run("bad batch requests get ValidationException", func(t *testing.T) {
		var tooMany []types.WriteRequest
		for i := range 26 {
			tooMany = append(tooMany, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"id": str(fmt.Sprint(i))}}})
		}
		var tooManyKeys []map[string]types.AttributeValue
		for i := range 101 {
			tooManyKeys = append(tooManyKeys, map[string]types.AttributeValue{"id": str(fmt.Sprint(i))})
		}
		dup := map[string]types.AttributeValue{"id": str("a")}
		for _, tt := range []struct {
			name string
			err  error
		}{
			{"26 writes", func() error {
				_, err := db[0].BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"spread": tooMany}})
				return err
			}()},
			{"a put and a delete of one item", func() error {
				_, err := db[1].BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"spread": {
					{PutRequest: &types.PutRequest{Item: dup}}, {DeleteRequest: &types.DeleteRequest{Key: dup}}}}})
				return err
			}()},
			{"101 keys", func() error {
				_, err := db[2].BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"spread": {Keys: tooManyKeys}}})
				return err
			}()},
			{"one key twice", func() error {
				_, err := db[0].BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"spread": {Keys: []map[string]types.AttributeValue{dup, dup}}}})
				return err
			}()},
			{"a segment past TotalSegments", func() error {
				_, err := db[1].Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("spread"), Segment: aws.Int32(3), TotalSegments: aws.Int32(3)})
				return err
			}()},
		} {
			if got := apiCode(tt.err); got != "ValidationException" {
				t.Errorf("%s: %s, want ValidationException", tt.name, got)
			}
		}
	})

	feed := aws.String("feed")
	ann := map[string]types.AttributeValue{"user": str("ann")}
	t.Run("an eventual table (by tag): the last writer wins, an update builds on what it read, conditions and queries are refused", func(t *testing.T) {
		_, err := db[0].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: feed,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("user"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("user"), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
			Tags:                 []types.Tag{{Key: aws.String("harmonia:consistency"), Value: aws.String("eventual")}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := dynamodb.NewTableExistsWaiter(db[2]).Wait(ctx, &dynamodb.DescribeTableInput{TableName: feed}, 30*time.Second); err != nil {
			t.Fatalf("the table is not active on n3: %v", err)
		}
		for i := range 3 {
			if _, err := db[i].PutItem(ctx, &dynamodb.PutItemInput{TableName: feed, Item: map[string]types.AttributeValue{"user": str("ann"), "v": num(i)}}); err != nil {
				t.Fatalf("put through n%d: %v", i+1, err)
			}
		}
		for i := range 3 {
			got, err := db[i].GetItem(ctx, &dynamodb.GetItemInput{TableName: feed, Key: ann, ConsistentRead: aws.Bool(true)})
			if err != nil || got.Item["v"] == nil || numOf(got.Item["v"]) != "2" {
				t.Fatalf("consistent read through n%d after three puts: %v, %v; want the last, v=2", i+1, got.Item, err)
			}
		}
		// Each update reads a majority and writes with what it read, so
		// one after another none is lost, whichever node runs it.
		for i := 1; i <= 6; i++ {
			out, err := db[i%3].UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: feed, Key: ann, UpdateExpression: aws.String("ADD n :one"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)}, ReturnValues: types.ReturnValueAllNew})
			if err != nil || out.Attributes["n"] == nil || numOf(out.Attributes["n"]) != strconv.Itoa(i) || numOf(out.Attributes["v"]) != "2" {
				t.Fatalf("update %d: %v, %v", i, out, err)
			}
		}
		_, err = db[1].PutItem(ctx, &dynamodb.PutItemInput{TableName: feed, Item: map[string]types.AttributeValue{"user": str("ann")},
			ConditionExpression: aws.String("attribute_not_exists(#u)"), ExpressionAttributeNames: map[string]string{"#u": "user"}})
		if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "eventual") {
			t.Fatalf("a conditional put on an eventual table: %v, want a ValidationException naming its consistency", err)
		}
		got, err := db[2].GetItem(ctx, &dynamodb.GetItemInput{TableName: feed, Key: ann, ConsistentRead: aws.Bool(true)})
		if err != nil || numOf(got.Item["n"]) != "6" {
			t.Fatalf("after the refused writes: %v, %v; want n=6", got.Item, err)
		}
		if _, err := db[0].DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: feed, Key: map[string]types.AttributeValue{"user": str("bob")}}); err != nil {
			t.Fatalf("delete of an absent item: %v", err)
		}
		if _, err := db[0].PutItem(ctx, &dynamodb.PutItemInput{TableName: feed, Item: map[string]types.AttributeValue{"user": str("bob")}}); err != nil {
			t.Fatal(err)
		}
		old, err := db[1].DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: feed, Key: map[string]types.AttributeValue{"user": str("bob")}, ReturnValues: types.ReturnValueAllOld})
		if err != nil || old.Attributes["user"] == nil {
			t.Fatalf("delete returning the old item: %v, %v", old, err)
		}
		got, err = db[2].GetItem(ctx, &dynamodb.GetItemInput{TableName: feed, Key: map[string]types.AttributeValue{"user": str("bob")}, ConsistentRead: aws.Bool(true)})
		if err != nil || got.Item != nil {
			t.Fatalf("a deleted item: %v, %v", got.Item, err)
		}
	})

	logT := aws.String("log")
	t.Run("an eventual table's Query and Scan merge the replicas item by item, in pages, both ways, deleted items left out", func(t *testing.T) {
		_, err := db[0].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: logT,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("user"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("at"), AttributeType: types.ScalarAttributeTypeN}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("user"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("at"), KeyType: types.KeyTypeRange}},
			Tags:                 []types.Tag{{Key: aws.String("harmonia:consistency"), Value: aws.String("eventual")}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := dynamodb.NewTableExistsWaiter(db[2]).Wait(ctx, &dynamodb.DescribeTableInput{TableName: logT}, 30*time.Second); err != nil {
			t.Fatalf("the table is not active on n3: %v", err)
		}
		for _, u := range []string{"ann", "bob"} {
			for i := 1; i <= 12; i++ {
				if _, err := db[i%3].PutItem(ctx, &dynamodb.PutItemInput{TableName: logT, Item: map[string]types.AttributeValue{"user": str(u), "at": num(i)}}); err != nil {
					t.Fatalf("put %s %d: %v", u, i, err)
				}
			}
		}
		for _, i := range []int{2, 3, 7} {
			if _, err := db[(i+1)%3].DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: logT, Key: map[string]types.AttributeValue{"user": str("ann"), "at": num(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		in := &dynamodb.QueryInput{TableName: logT, KeyConditionExpression: aws.String("#u = :u"), ConsistentRead: aws.Bool(true),
			ExpressionAttributeNames: map[string]string{"#u": "user"}, ExpressionAttributeValues: map[string]types.AttributeValue{":u": str("ann")}, Limit: aws.Int32(4)}
		ats, pages := query(t, db[0], in)
		if want := []string{"1", "4", "5", "6", "8", "9", "10", "11", "12"}; !slices.Equal(ats, want) || pages < 3 {
			t.Fatalf("forward: %v in %d pages, want %v in 3 or more", ats, pages, want)
		}
		in.ScanIndexForward = aws.Bool(false)
		ats, _ = query(t, db[1], in)
		if want := []string{"12", "11", "10", "9", "8", "6", "5", "4", "1"}; !slices.Equal(ats, want) {
			t.Fatalf("backward: %v, want %v", ats, want)
		}
		seen := map[string]int{}
		scan := &dynamodb.ScanInput{TableName: logT, Limit: aws.Int32(5)}
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatal("a scan of 21 items is still paging")
			}
			out, err := db[2].Scan(ctx, scan)
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			for _, it := range out.Items {
				seen[it["user"].(*types.AttributeValueMemberS).Value+"/"+numOf(it["at"])]++
			}
			if out.LastEvaluatedKey == nil {
				break
			}
			scan.ExclusiveStartKey = out.LastEvaluatedKey
		}
		if len(seen) != 21 || seen["ann/2"] != 0 || seen["bob/2"] != 1 {
			t.Fatalf("scan saw %d items (%v), want the 21 not deleted, each once", len(seen), seen)
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("scan saw %s %d times", k, n)
			}
		}
	})

	t.Run("with one node down the others read and write every item", func(t *testing.T) {
		c.kill(c.nodes[2])
		ats, _ := query(t, db[0], &dynamodb.QueryInput{TableName: logT, KeyConditionExpression: aws.String("#u = :u"),
			ExpressionAttributeNames: map[string]string{"#u": "user"}, ExpressionAttributeValues: map[string]types.AttributeValue{":u": str("bob")}})
		if len(ats) != 12 {
			t.Fatalf("query of an eventual table with n3 down: %v", ats)
		}
		if _, err := db[0].UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: feed, Key: ann, UpdateExpression: aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)}}); err != nil {
			t.Fatalf("update of an eventual table's item with n3 down: %v", err)
		}
		if got, err := db[1].GetItem(ctx, &dynamodb.GetItemInput{TableName: feed, Key: ann, ConsistentRead: aws.Bool(true)}); err != nil || numOf(got.Item["n"]) != "7" {
			t.Fatalf("read with n3 down: %v, %v; want n=7", got, err)
		}
		for i := 11; i <= 14; i++ {
			if _, err := db[i%2].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"user": str("ann"), "at": num(i)}}); err != nil {
				t.Fatalf("put %d with n3 down: %v", i, err)
			}
		}
		ats, _ = query(t, db[1], &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("#u = :u AND #a > :lo"),
			ExpressionAttributeNames: map[string]string{"#u": "user", "#a": "at"}, ExpressionAttributeValues: map[string]types.AttributeValue{":u": str("ann"), ":lo": num(10)}})
		if want := []string{"11", "12", "13", "14"}; !slices.Equal(ats, want) {
			t.Fatalf("query with n3 down: %v, want %v", ats, want)
		}
		list, err := db[0].ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil || !slices.Equal(list.TableNames, []string{"events", "feed", "log", "spread"}) {
			t.Fatalf("list: %v %v", list, err)
		}
	})
}

// With --dynamodb-credentials the endpoint binds every interface without
// --insecure (which TestInsecureByChoice shows refused without them),
// serves the AWS SDK signing with a key of the file, and refuses an
// unknown access key, a wrong secret and an unsigned request with
// DynamoDB's errors.
func TestDynamoDBSignatures(t *testing.T) {
	const keyID, secret = "AKIDHARMONIATEST", "harmonia+test/secret-0123456789"
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("# the test's keys\n"+keyID+" "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dyn := freePort(t)
	c := startCluster(t, 1, "--n", "1", "--dynamodb", everyInterface(t, dyn), "--dynamodb-credentials", creds)
	signer := func(id, secret string) *dynamodb.Client {
		return dynamoClientAs(dyn, credentials.NewStaticCredentialsProvider(id, secret, ""))
	}
	db := signer(keyID, secret)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.eventually(10*time.Second, "the DynamoDB endpoint serves", func() error {
		_, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
		return err
	})

	table := aws.String("signed")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: table,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: table}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"id": str("a"), "n": num(1)}}); err != nil {
		t.Fatalf("put with the right keys: %v", err)
	}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"id": str("a")}})
	if err != nil || got.Item == nil || numOf(got.Item["n"]) != "1" {
		t.Fatalf("get with the right keys: %v %v", got, err)
	}

	for _, tt := range []struct {
		name   string
		client *dynamodb.Client
		want   string
	}{
		{"an unknown access key", signer("AKIDSOMEONEELSE", secret), "UnrecognizedClientException"},
		{"a wrong secret", signer(keyID, secret+"x"), "InvalidSignatureException"},
		{"no signature", dynamoClientAs(dyn, aws.AnonymousCredentials{}), "MissingAuthenticationTokenException"},
	} {
		_, err := tt.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"id": str("a"), "n": num(2)}})
		if got := apiCode(err); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	got, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"id": str("a")}, ConsistentRead: aws.Bool(true)})
	if err != nil || numOf(got.Item["n"]) != "1" {
		t.Fatalf("after the refused puts: %v %v, want n still 1", got.Item, err)
	}
}
