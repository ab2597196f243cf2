package tests

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/item"
)

// BenchmarkItemsThroughEachDoor compares the two front doors of the table
// service on a 3-node cluster: PutItem and GetItem of 100-byte items of a
// strong table, through the DynamoDB endpoint (the AWS SDK for Go, HTTP
// and JSON) and through the gRPC Table service (the Go client), with
// benchClients clients over three connections either way, one to each
// node. Each sub-benchmark reports the servers' CPU per operation, summed
// over the three nodes (server-ms/op), which is the figure the items
// issue bounds: the endpoint at most 1.5 times the gRPC door's.
//
//	go test ./tests -run '^$' -bench BenchmarkItemsThroughEachDoor -benchtime 20000x
func BenchmarkItemsThroughEachDoor(b *testing.B) {
	const benchClients = 32
	// --http: a profile of a node under the load is one curl away (the
	// addresses are logged with -v).
	c, dyn := startDynamoCluster(b, func(i int) []string {
		httpAddr := freePort(b)
		b.Logf("n%d: /debug/pprof on http://%s", i, httpAddr)
		return []string{"--http", httpAddr}
	})
	ctx := context.Background()
	// HTTP/1.1 carries one request at a time per connection: each SDK
	// client keeps as many idle connections as its share of the clients,
	// so none is closed and opened again between requests (the SDK's
	// default keeps 10).
	db := make([]*dynamodb.Client, 3)
	for i := range db {
		db[i] = dynamoClientAs(dyn[i], credentials.NewStaticCredentialsProvider("key", "secret", ""), func(c *aws.Config) {
			c.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.MaxIdleConnsPerHost = benchClients })
		})
	}
	table := "bench"
	if _, err := db[0].CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}}); err != nil {
		b.Fatal(err)
	}
	for _, d := range db {
		if err := dynamodb.NewTableExistsWaiter(d).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	grpc := []*client.Client{c.nodes[0].client, c.nodes[1].client, c.nodes[2].client}
	value := make([]byte, 100)
	const keys = 10000
	id := func(i int) string { return fmt.Sprintf("item-%06d", i%keys) }
	doors := []struct {
		name     string
		put, get func(conn, i int) error
	}{
		{"dynamodb", func(conn, i int) error {
			_, err := db[conn].PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table),
				Item: map[string]types.AttributeValue{"id": str(id(i)), "v": &types.AttributeValueMemberB{Value: value}}})
			return err
		}, func(conn, i int) error {
			out, err := db[conn].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"id": str(id(i))}})
			if err == nil && out.Item == nil {
				err = fmt.Errorf("item %s not found: a get of nothing is not a measurement", id(i))
			}
			return err
		}},
		{"grpc", func(conn, i int) error {
			_, err := grpc[conn].PutItem(ctx, table, item.Item{"id": item.S(id(i)), "v": item.B(value)}, client.ItemOptions{})
			return err
		}, func(conn, i int) error {
			it, err := grpc[conn].GetItem(ctx, table, item.Item{"id": item.S(id(i))}, client.ItemOptions{})
			if err == nil && it == nil {
				err = fmt.Errorf("item %s not found: a get of nothing is not a measurement", id(i))
			}
			return err
		}},
	}
	// Every key written once, so that the gets find items.
	if err := runClients(benchClients, keys, doors[1].put); err != nil {
		b.Fatal(err)
	}
	for _, op := range []string{"put", "get"} {
		for _, door := range doors {
			b.Run(door.name+"-"+op, func(b *testing.B) {
				call := door.put
				if op == "get" {
					call = door.get
				}
				before := serverCPU(b, c)
				b.ResetTimer()
				if err := runClients(benchClients, b.N, call); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric((serverCPU(b, c)-before)*1000/float64(b.N), "server-ms/op")
			})
		}
	}
}

// runClients makes n calls from clients goroutines, spread over three
// connections; the first error ends it.
func runClients(clients, n int, call func(conn, i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := range clients {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := call(w%3, int(i)); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// serverCPU is the CPU seconds the cluster's processes used so far.
func serverCPU(b *testing.B, c *testCluster) float64 {
	b.Helper()
	var sum float64
	for _, nd := range c.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := nd.client.Status(ctx)
		cancel()
		if err != nil || st.Process == nil {
			b.Fatalf("status of %s: %v", nd.id, err)
		}
		sum += st.Process.CpuSeconds
	}
	return sum
}
