package tests

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The README's secure local cluster: `harmonia launch --tls` starts three
// nodes with mutual TLS on both ports and prints the line that lets the
// CLI in; with it the CLI writes, reads and runs admin calls on the
// default address, and without it gets nothing.
func TestLaunchTLSFromReadme(t *testing.T) {
	for _, base := range []int{7000, 8000, 8100, 9000} {
		for i := 1; i <= 3; i++ {
			addr := fmt.Sprintf("127.0.0.1:%d", base+i)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("launch's port %s is taken (is a launch running?): %v", addr, err)
			}
			l.Close()
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(binary, "launch", "--tls", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when launch has exited
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
			return
		default:
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	export := regexp.MustCompile(`export HARMONIA_TLS_CERT=(\S+) HARMONIA_TLS_KEY=(\S+) HARMONIA_TLS_CA=(\S+)`)
	var m []string
	deadline := time.Now().Add(30 * time.Second)
	for m == nil && time.Now().Before(deadline) {
		m = export.FindStringSubmatch(out.String())
		time.Sleep(50 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("launch --tls printed no export line:\n%s", out.String())
	}
	if !strings.HasPrefix(m[1], filepath.Join(dir, "certs")) {
		t.Errorf("the certificates are not in DIR/certs: %s", m[1])
	}

	t.Setenv("HARMONIA_TLS_CERT", m[1])
	t.Setenv("HARMONIA_TLS_KEY", m[2])
	t.Setenv("HARMONIA_TLS_CA", m[3])
	// A node serves once it has heard from the others: retry until then.
	untilOK := func(args ...string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			stdout, stderr, code := cli(t, args...)
			if code == 0 {
				return stdout
			}
			if time.Now().After(deadline) {
				t.Fatalf("harmonia %v never succeeded: %s\n%s", args, stderr, out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	untilOK("put", "k", "secure", "--w", "all")
	for i := 1; i <= 3; i++ {
		if got := untilOK("get", "k", "--addr", fmt.Sprintf("127.0.0.1:%d", 8000+i)); !strings.HasPrefix(got, "secure\n") {
			t.Fatalf("get from n%d: %q", i, got)
		}
	}
	// Without the certificates, the serving cluster answers nothing.
	t.Setenv("HARMONIA_TLS_CERT", "")
	t.Setenv("HARMONIA_TLS_KEY", "")
	t.Setenv("HARMONIA_TLS_CA", "")
	if _, stderr, code := cli(t, "get", "k", "--timeout", "2s"); code == 0 {
		t.Fatalf("a plain CLI reached the TLS cluster: %s", stderr)
	}
	t.Setenv("HARMONIA_TLS_CERT", m[1])
	t.Setenv("HARMONIA_TLS_KEY", m[2])
	t.Setenv("HARMONIA_TLS_CA", m[3])
	if _, stderr, code := cli(t, "repair"); code != 0 {
		t.Fatalf("repair with launch's admin certificate: exit %d: %s", code, stderr)
	}

	// Each node's DynamoDB endpoint serves the AWS SDK.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := dynamoClient("127.0.0.1:8102")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("launched"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}}); err != nil {
		t.Fatalf("create a table through n2's DynamoDB endpoint: %v", err)
	}
	if list, err := dynamoClient("127.0.0.1:8103").ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil || !slices.Equal(list.TableNames, []string{"launched"}) {
		t.Fatalf("list tables through n3: %v %v", list, err)
	}

	// Ctrl-C stops every node.
	syscall.Kill(cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("launch exited with %v after Ctrl-C", waitErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("launch did not stop within 20 s of Ctrl-C")
	}
	for i := 1; i <= 3; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 8000+i)
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("n%d still listens at %s after launch stopped", i, addr)
		}
	}
}
