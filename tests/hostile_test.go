package tests

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rawCodec sends and receives bytes as they are, so a test can put any
// body on the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}

// alive fails the test unless nd's process is still running and serving a
// write and a read.
func alive(t *testing.T, nd *node, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := nd.client.Status(ctx); err != nil {
		t.Fatalf("after %s: %s does not answer: %v", what, nd.id, err)
	}
	if _, err := nd.client.Put(ctx, []byte("alive"), []byte(what), nil, client.Options{}); err != nil {
		t.Fatalf("after %s: put: %v", what, err)
	}
	if res, err := nd.client.Get(ctx, []byte("alive"), client.Options{}); err != nil || !res.Found {
		t.Fatalf("after %s: get: %+v, %v", what, res, err)
	}
}

// unaryMethods are the full names of desc's unary methods, so that methods
// added later are thrown garbage too.
func unaryMethods(desc *grpc.ServiceDesc) []string {
	var out []string
	for _, m := range desc.Methods {
		out = append(out, "/"+desc.ServiceName+"/"+m.MethodName)
	}
	return out
}

// The defect 1 and its neighbours: no request on either port, well
// formed or not, served or not, may end the process.
func TestHostileInputsDoNotEndNode(t *testing.T) {
	c := startCluster(t, 1, "--n", "1")
	nd := c.nodes[0]
	dial := func(addr string) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	cluster, clients := dial(nd.clusterAddr), dial(nd.clientAddr)
	garbage := []byte{0xff, 0x01, 0x02, 0x9a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}

	unary := func(conn *grpc.ClientConn, method string, body []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var out []byte
		return conn.Invoke(ctx, method, &body, &out, grpc.ForceCodec(rawCodec{}))
	}

	t.Run("unary methods of the remote layer answer an error", func(t *testing.T) {
		for _, method := range unaryMethods(&remote.Remoting_ServiceDesc) {
			for _, body := range [][]byte{nil, garbage} {
				// A garbage body fails to decode before the method is reached.
				err := unary(cluster, method, body)
				if err == nil || (body == nil && status.Code(err) != codes.Unimplemented) {
					t.Fatalf("%s with %d bytes: %v, want Unimplemented", method, len(body), err)
				}
				alive(t, nd, method)
			}
		}
	})

	t.Run("methods nobody serves answer an error", func(t *testing.T) {
		for _, conn := range []*grpc.ClientConn{cluster, clients} {
			for _, method := range []string{"/remote.Remoting/Nope", "/harmonia.v1.KV/Nope", "/no.Such/Service"} {
				if err := unary(conn, method, garbage); status.Code(err) != codes.Unimplemented {
					t.Fatalf("%s on %s: %v, want Unimplemented", method, conn.Target(), err)
				}
			}
		}
		alive(t, nd, "unknown methods")
	})

	t.Run("test-only calls are refused without --unsafe-test-writes", func(t *testing.T) {
		_, err := nd.client.Admin().CrashVnode(ctxT(t), &kvpb.CrashVnodeRequest{Partition: 1})
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("CrashVnode: %v, want FailedPrecondition", err)
		}
		alive(t, nd, "CrashVnode")
	})

	t.Run("every client API method with empty and garbage bodies", func(t *testing.T) {
		methods := append(unaryMethods(&kvpb.KV_ServiceDesc), unaryMethods(&kvpb.Admin_ServiceDesc)...)
		if len(methods) < 10 {
			t.Fatalf("only %d client API methods found: %v", len(methods), methods)
		}
		for _, method := range methods {
			for _, body := range [][]byte{nil, garbage} {
				// Some succeed (an empty Status), most are refused; either way
				// the node must answer.
				if err := unary(clients, method, body); err != nil && status.Code(err) == codes.Unavailable {
					t.Fatalf("%s with %d bytes: %v", method, len(body), err)
				}
			}
		}
		alive(t, nd, "client API garbage")
	})

	t.Run("malformed remote streams", func(t *testing.T) {
		target := &actor.PID{Address: nd.clusterAddr, Id: "node/gossiper"}
		batch := func(b *remote.MessageBatch) []byte {
			out, err := proto.Marshal(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		cases := map[string][]byte{
			"garbage frame": garbage,
			"target index out of range": batch(&remote.MessageBatch{TypeNames: []string{"actor.PID"},
				Envelopes: []*remote.MessageEnvelope{{Target: 7, MessageData: []byte{}}}}),
			"type index out of range": batch(&remote.MessageBatch{Targets: []*actor.PID{target},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 9, MessageData: []byte{}}}}),
			"unregistered type": batch(&remote.MessageBatch{TypeNames: []string{"harmonia.nope.v1.Nothing"}, Targets: []*actor.PID{target},
				Envelopes: []*remote.MessageEnvelope{{MessageData: garbage}}}),
			"sender index out of range": batch(&remote.MessageBatch{TypeNames: []string{"harmonia.internal.v1.GossipSyn"}, Targets: []*actor.PID{target},
				Envelopes: []*remote.MessageEnvelope{{Sender: 5, MessageData: []byte{}}}}),
			"serializer index out of range": batch(&remote.MessageBatch{TypeNames: []string{"harmonia.internal.v1.GossipSyn"}, Targets: []*actor.PID{target},
				Envelopes: []*remote.MessageEnvelope{{SerializerId: 42, MessageData: []byte{}}}}),
			"garbage body of a known type": batch(&remote.MessageBatch{TypeNames: []string{"harmonia.internal.v1.GossipAck"}, Targets: []*actor.PID{target},
				Envelopes: []*remote.MessageEnvelope{{MessageData: garbage}}}),
		}
		for name, frame := range cases {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, err := cluster.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/remote.Remoting/Receive", grpc.ForceCodec(rawCodec{}))
			if err != nil {
				cancel()
				t.Fatalf("%s: open stream: %v", name, err)
			}
			if err := s.SendMsg(&frame); err != nil {
				t.Logf("%s: send: %v", name, err)
			}
			s.CloseSend()
			var out []byte
			for s.RecvMsg(&out) == nil {
			}
			cancel()
			alive(t, nd, name)
		}
	})

	t.Run("bytes that are not HTTP/2", func(t *testing.T) {
		for _, addr := range []string{nd.clusterAddr, nd.clientAddr} {
			for _, payload := range [][]byte{garbage, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\xff\x04"), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")} {
				conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				conn.SetDeadline(time.Now().Add(2 * time.Second))
				conn.Write(payload)
				buf := make([]byte, 512)
				conn.Read(buf)
				conn.Close()
			}
		}
		alive(t, nd, "raw bytes")
	})
}
