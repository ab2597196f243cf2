package tests

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Items of a table with conflict = crdt through the DynamoDB endpoint, on
// three real processes with the AWS SDK for Go: concurrent ADDs through
// every node all count, concurrent set adds all stay, a DELETE of set
// elements or a REMOVE takes only what it observed, Query and Scan read
// the merged items, and a node down changes none of that.
func TestCRDTItems(t *testing.T) {
	c, dyn := startDynamoCluster(t, nil)
	db := []*dynamodb.Client{dynamoClient(dyn[0]), dynamoClient(dyn[1]), dynamoClient(dyn[2])}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	table := aws.String("carts")
	// The conflict tag alone makes the table eventual.
	if _, err := db[0].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: table,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("user"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("cart"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("user"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("cart"), KeyType: types.KeyTypeRange}},
		Tags:                 []types.Tag{{Key: aws.String("harmonia:conflict"), Value: aws.String("crdt")}}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range db {
		if err := dynamodb.NewTableExistsWaiter(d).Wait(ctx, &dynamodb.DescribeTableInput{TableName: table}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	key := func(cart int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"user": str("ann"), "cart": num(cart)}
	}
	get := func(t *testing.T, client *dynamodb.Client, cart int) map[string]types.AttributeValue {
		t.Helper()
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key(cart), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	update := func(client *dynamodb.Client, cart int, expr string, values map[string]types.AttributeValue) (*dynamodb.UpdateItemOutput, error) {
		return client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key(cart), UpdateExpression: aws.String(expr),
			ExpressionAttributeValues: values, ReturnValues: types.ReturnValueAllNew})
	}
	// An update of ADDs alone that returns nothing goes without a read.
	blindUpdate := func(client *dynamodb.Client, cart int, expr string, values map[string]types.AttributeValue) (*dynamodb.UpdateItemOutput, error) {
		return client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key(cart), UpdateExpression: aws.String(expr), ExpressionAttributeValues: values})
	}
	ss := func(elems ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: elems} }

	t.Run("concurrent ADDs and set adds through three nodes, half of them blind: every one counts, every element stays", func(t *testing.T) {
		const clients, each = 6, 15
		var mu sync.Mutex
		acked, open := 0, 0
		var added []string
		var wg sync.WaitGroup
		for w := range clients {
			wg.Go(func() {
				for i := range each {
					elem := fmt.Sprintf("w%d-%d", w, i)
					write := update
					if w%2 == 1 {
						write = blindUpdate
					}
					_, err := write(db[w%3], 1, "ADD n :one, tags :e", map[string]types.AttributeValue{":one": num(1), ":e": ss(elem)})
					mu.Lock()
					switch code := apiCode(err); {
					case err == nil:
						acked++
						added = append(added, elem)
					case code == "ServiceUnavailable":
						open++ // it may or may not have taken effect
					default:
						t.Errorf("update: %v", err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if acked < clients*each/2 {
			t.Fatalf("only %d of %d updates acknowledged (%d open)", acked, clients*each, open)
		}
		for i, d := range db {
			it := get(t, d, 1)
			n, _ := strconv.Atoi(numOf(it["n"]))
			if n < acked || n > acked+open {
				t.Fatalf("n%d reads n=%d after %d acknowledged and %d open ADDs", i+1, n, acked, open)
			}
			tags := it["tags"].(*types.AttributeValueMemberSS).Value
			for _, e := range added {
				if !slices.Contains(tags, e) {
					t.Fatalf("n%d: acknowledged element %s is missing from %d elements", i+1, e, len(tags))
				}
			}
		}
		t.Logf("%d updates acknowledged, %d open", acked, open)
	})

	t.Run("a number a put wrote takes ADDs on top; SET replaces it; DELETE and REMOVE take what they observed", func(t *testing.T) {
		if _, err := db[0].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{
			"user": str("ann"), "cart": num(2), "amount": &types.AttributeValueMemberN{Value: "10.5"}, "tags": ss("a", "b", "c"), "note": str("first")}}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := update(db[i], 2, "ADD amount :two", map[string]types.AttributeValue{":two": num(2)}); err != nil {
				t.Fatal(err)
			}
		}
		out, err := update(db[1], 2, "DELETE tags :b REMOVE note", map[string]types.AttributeValue{":b": ss("b")})
		if err != nil {
			t.Fatal(err)
		}
		if numOf(out.Attributes["amount"]) != "16.5" || out.Attributes["note"] != nil || !slices.Equal(out.Attributes["tags"].(*types.AttributeValueMemberSS).Value, []string{"a", "c"}) {
			t.Fatalf("ALL_NEW after three ADDs of 2 to 10.5, a DELETE of b and a REMOVE: %v", out.Attributes)
		}
		if _, err := update(db[2], 2, "SET amount = :z", map[string]types.AttributeValue{":z": num(0)}); err != nil {
			t.Fatal(err)
		}
		it := get(t, db[0], 2)
		if numOf(it["amount"]) != "0" || it["note"] != nil || len(it["tags"].(*types.AttributeValueMemberSS).Value) != 2 {
			t.Fatalf("after SET amount = 0: %v", it)
		}
		// A put replaces every attribute it observed.
		if _, err := db[2].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"user": str("ann"), "cart": num(2), "note": str("again")}}); err != nil {
			t.Fatal(err)
		}
		if it := get(t, db[1], 2); len(it) != 3 || it["note"].(*types.AttributeValueMemberS).Value != "again" {
			t.Fatalf("after a put of the key and a note: %v", it)
		}
		old, err := db[0].DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key(2), ReturnValues: types.ReturnValueAllOld})
		if err != nil || old.Attributes["note"] == nil {
			t.Fatalf("delete returning the old item: %v, %v", old, err)
		}
		if it := get(t, db[2], 2); it != nil {
			t.Fatalf("a deleted item reads %v", it)
		}
	})

	t.Run("bad writes are refused, naming why, and change nothing", func(t *testing.T) {
		before := get(t, db[0], 1)
		for _, tc := range []struct {
			expr   string
			values map[string]types.AttributeValue
			want   string
		}{
			{"ADD n :half", map[string]types.AttributeValue{":half": &types.AttributeValueMemberN{Value: "0.5"}}, "integer"},
			{"ADD n :big", map[string]types.AttributeValue{":big": &types.AttributeValueMemberN{Value: "9223372036854775807"}}, "int64"},
		} {
			if _, err := update(db[1], 1, tc.expr, tc.values); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want a ValidationException naming %q", tc.expr, err, tc.want)
			}
			if _, err := blindUpdate(db[1], 1, tc.expr, tc.values); apiCode(err) != "ValidationException" {
				t.Errorf("%s without a read: %v, want a ValidationException", tc.expr, err)
			}
		}
		_, err := db[1].PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key(1), ConditionExpression: aws.String("attribute_not_exists(n)")})
		if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "eventual") {
			t.Errorf("a conditional put: %v, want a ValidationException naming the table's consistency", err)
		}
		if after := get(t, db[2], 1); numOf(after["n"]) != numOf(before["n"]) || len(after) != len(before) {
			t.Errorf("refused writes changed the item: %v, was %v", after, before)
		}
	})

	t.Run("Query and Scan read the merged items in pages, in sort order both ways", func(t *testing.T) {
		for cart := 10; cart < 25; cart++ {
			for i := range 2 {
				if _, err := update(db[(cart+i)%3], cart, "ADD n :one", map[string]types.AttributeValue{":one": num(1)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, forward := range []bool{true, false} {
			var carts []int
			through := db[0] // each direction through another node
			if !forward {
				through = db[2]
			}
			p := dynamodb.NewQueryPaginator(through, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("#u = :u AND cart >= :from"),
				ExpressionAttributeNames: map[string]string{"#u": "user"}, ExpressionAttributeValues: map[string]types.AttributeValue{":u": str("ann"), ":from": num(10)},
				Limit: aws.Int32(4), ScanIndexForward: aws.Bool(forward), ConsistentRead: aws.Bool(true)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range page.Items {
					cart, _ := strconv.Atoi(numOf(it["cart"]))
					if numOf(it["n"]) != "2" {
						t.Fatalf("cart %d reads %v; want n=2", cart, it)
					}
					carts = append(carts, cart)
				}
			}
			want := []int{}
			for cart := 10; cart < 25; cart++ {
				want = append(want, cart)
			}
			if !forward {
				slices.Reverse(want)
			}
			if !slices.Equal(carts, want) {
				t.Fatalf("Query (forward %v) read carts %v, want %v", forward, carts, want)
			}
		}
		s, err := db[1].Scan(ctx, &dynamodb.ScanInput{TableName: table, ConsistentRead: aws.Bool(true), Select: types.SelectCount})
		if err != nil || s.Count != 16 {
			t.Fatalf("Scan: %v items, %v; want 16 (cart 1 and carts 10 to 24)", s.Count, err)
		}
	})

	t.Run("with a node down the others take and merge every write", func(t *testing.T) {
		c.stop(c.nodes[2])
		for i := range 4 {
			if _, err := update(db[i%2], 1, "ADD n :one, tags :e", map[string]types.AttributeValue{":one": num(1), ":e": ss("while-down")}); err != nil {
				t.Fatalf("update %d with n3 down: %v", i, err)
			}
		}
		before, _ := strconv.Atoi(numOf(get(t, db[0], 1)["n"]))
		c.start(c.nodes[2])
		c.eventually(30*time.Second, "n3 reads the writes made while it was down", func() error {
			out, err := db[2].GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key(1), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return err
			}
			if n, _ := strconv.Atoi(numOf(out.Item["n"])); n != before || !slices.Contains(out.Item["tags"].(*types.AttributeValueMemberSS).Value, "while-down") {
				return fmt.Errorf("n=%d (want %d), tags %v", n, before, out.Item["tags"])
			}
			return nil
		})
	})
}
