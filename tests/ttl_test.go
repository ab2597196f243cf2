package tests

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdtitem"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// TTL end to end on three real processes through the AWS SDK, on a strong
// table and on an eventual one: enabling and describing it, an expired
// item invisible at once to GetItem, Query, Scan and (strong) conditions,
// and the background pass deleting it from every node's store (through
// consensus, or with a tombstone) while the unexpired item stays.
func TestDynamoDBTimeToLive(t *testing.T) {
	c, dyn := startDynamoCluster(t, func(int) []string { return []string{"--ttl-interval", "300ms"} })
	db := []*dynamodb.Client{dynamoClient(dyn[0]), dynamoClient(dyn[1]), dynamoClient(dyn[2])}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tables := []struct {
		name        string
		consistency catalog.Consistency
		conflict    catalog.Conflict
	}{{"sessions", catalog.Strong, ""}, {"visits", catalog.Eventual, catalog.LWW}, {"carts", catalog.Eventual, catalog.CRDT}}
	now := time.Now().Unix()
	expires := func(id string, at int64) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"id": str(id), "expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(at, 10)}}
	}
	for _, tb := range tables {
		tags := []types.Tag{{Key: aws.String("harmonia:consistency"), Value: aws.String(string(tb.consistency))}}
		if tb.conflict != "" {
			tags = append(tags, types.Tag{Key: aws.String("harmonia:conflict"), Value: aws.String(string(tb.conflict))})
		}
		if _, err := db[0].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(tb.name),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			Tags:                 tags}); err != nil {
			t.Fatal(err)
		}
		// Written before TTL is on, so that they are there to expire the
		// moment it is.
		for _, it := range []map[string]types.AttributeValue{expires("old", now-3600), expires("guarded", now-3600), expires("new", now+3600)} {
			if _, err := db[0].PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.name), Item: it}); err != nil {
				t.Fatal(err)
			}
		}
	}
	get := func(client *dynamodb.Client, table, id string) map[string]types.AttributeValue {
		t.Helper()
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"id": str(id)}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	for _, tb := range tables {
		if get(db[1], tb.name, "old") == nil {
			t.Fatalf("%s: an item is hidden before TTL is enabled", tb.name)
		}
	}

	for _, tb := range tables {
		table := aws.String(tb.name)
		t.Run(tb.name+": TTL is enabled once, and shown by every node", func(t *testing.T) {
			spec := &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(true)}
			out, err := db[0].UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: table, TimeToLiveSpecification: spec})
			if err != nil || aws.ToString(out.TimeToLiveSpecification.AttributeName) != "expires" || !aws.ToBool(out.TimeToLiveSpecification.Enabled) {
				t.Fatalf("UpdateTimeToLive: %+v %v", out, err)
			}
			if _, err := db[1].UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: table, TimeToLiveSpecification: spec}); apiCode(err) != "ValidationException" {
				t.Fatalf("enabling TTL twice: %v", err)
			}
			for i, client := range db {
				c.eventually(10*time.Second, fmt.Sprintf("n%d shows TTL enabled", i+1), func() error {
					d, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: table})
					if err != nil {
						return err
					}
					if desc := d.TimeToLiveDescription; desc.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(desc.AttributeName) != "expires" {
						return fmt.Errorf("%+v", desc)
					}
					return nil
				})
			}
		})

		t.Run(tb.name+": an expired item is invisible to reads at once", func(t *testing.T) {
			if it := get(db[0], tb.name, "old"); it != nil {
				t.Fatalf("GetItem returned an expired item: %v", it)
			}
			if it := get(db[0], tb.name, "new"); it == nil {
				t.Fatal("GetItem lost an item that has not expired")
			}
			q, err := db[0].Query(ctx, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("id = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": str("old")}})
			if err != nil || q.Count != 0 || q.ScannedCount != 0 {
				t.Fatalf("Query of an expired item: %+v %v", q, err)
			}
			s, err := db[0].Scan(ctx, &dynamodb.ScanInput{TableName: table})
			if err != nil || s.Count != 1 || numOf(s.Items[0]["expires"]) != strconv.FormatInt(now+3600, 10) {
				t.Fatalf("Scan: %+v %v; want the unexpired item alone", s, err)
			}
			if tb.consistency != catalog.Strong {
				return // no conditions there
			}
			_, err = db[0].DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: map[string]types.AttributeValue{"id": str("guarded")},
				ConditionExpression: aws.String("attribute_exists(id)")})
			if apiCode(err) != "ConditionalCheckFailedException" {
				t.Fatalf("a condition on an expired item held: %v", err)
			}
		})
	}

	t.Run("the background pass deletes the expired items from every store, the unexpired one stays", func(t *testing.T) {
		c.eventually(30*time.Second, "the expired items deleted", func() error {
			var deleted uint64
			for _, nd := range c.nodes {
				st, err := c.status(nd)
				if err != nil {
					return err
				}
				deleted += st.Tables.GetExpiredItemsDeleted()
			}
			if want := 2 * uint64(len(tables)); deleted < want {
				return fmt.Errorf("%d expired items deleted, want %d", deleted, want)
			}
			return nil
		})
		var descs []catalog.Table
		for _, tb := range tables {
			// With TTL off, an item merely hidden would show again.
			if _, err := db[2].UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(tb.name),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(false)}}); err != nil {
				t.Fatal(err)
			}
			c.eventually(10*time.Second, tb.name+": TTL off on n3", func() error {
				d, err := db[2].DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tb.name)})
				if err != nil || d.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusDisabled {
					return fmt.Errorf("%v %v", d, err)
				}
				return nil
			})
			if get(db[2], tb.name, "old") != nil || get(db[2], tb.name, "guarded") != nil || get(db[2], tb.name, "new") == nil {
				t.Fatalf("%s: with TTL disabled, an expired item came back or the unexpired one is gone", tb.name)
			}
			d, err := c.nodes[0].client.Tables().DescribeTable(ctx, &kvpb.DescribeTableRequest{Name: tb.name})
			if err != nil {
				t.Fatal(err)
			}
			descs = append(descs, catalog.Table{ID: d.Table.Id, Consistency: tb.consistency, Conflict: catalog.Conflict(d.Table.Conflict),
				Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "id", Type: item.TypeS}}})
		}
		c.stopAll()
		for _, nd := range c.nodes {
			for _, tb := range descs {
				if holds := heldItems(t, nd, tb, "old", "guarded", "new"); holds["old"] || holds["guarded"] || !holds["new"] {
					t.Errorf("%s's store holds %v of table %d; want only new", nd.id, holds, tb.ID)
				}
			}
		}
	})
}

// heldItems opens a stopped node's store and reports which of the items
// of tb keyed ids it holds a value of: in its acceptor states (a strong
// table), as a live version (an eventual one) or as a state that holds
// attributes (one of CRDT items).
func heldItems(t *testing.T, nd *node, tb catalog.Table, ids ...string) map[string]bool {
	t.Helper()
	st, err := persistence.Open(nd.dataDir, nd.id, persistence.DefaultOptions())
	if err != nil {
		t.Fatalf("open %s's store: %v", nd.id, err)
	}
	defer st.Close()
	out := map[string]bool{}
	for _, id := range ids {
		key, err := catalog.ItemKey(tb, item.Key{Partition: item.S(id)})
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < 64; p++ {
			if tb.Consistency != catalog.Strong {
				set, err := st.Get(p, key)
				if err != nil {
					t.Fatal(err)
				}
				if tb.Conflict == catalog.CRDT {
					state, err := object.State(set)
					if err != nil {
						t.Fatal(err)
					}
					it, err := crdtitem.Read(state)
					if err != nil {
						t.Fatal(err)
					}
					out[id] = out[id] || !it.Empty()
					continue
				}
				out[id] = out[id] || len(object.Live(set)) > 0
				continue
			}
			s, err := st.AcceptorState(p, key)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = out[id] || s.Value.Exists
		}
	}
	return out
}
