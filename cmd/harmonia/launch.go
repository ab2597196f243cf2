package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/harmoniakv/harmonia/internal/certs"
	"github.com/spf13/cobra"
)

// Port layout of a launched cluster: node i listens on base+i.
const (
	launchClusterBase = 7000
	launchClientBase  = 8000
	launchHTTPBase    = 9000
	// launchDynamoDBBase: the DynamoDB-compatible endpoint (--dynamodb).
	launchDynamoDBBase = 8100
)

func launchCmd() *cobra.Command {
	var nodes int
	var dir string
	var extra []string
	var useTLS bool
	c := &cobra.Command{
		Use:   "launch",
		Short: "run a local cluster of N server processes on 127.0.0.1; Ctrl-C stops them",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nodes < 1 || nodes > 99 {
				return usageErr("--nodes must be between 1 and 99")
			}
			if dir == "" {
				dir = filepath.Join(os.TempDir(), "harmonia-launch")
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find own executable: %w", err)
			}
			return launch(self, nodes, dir, extra, useTLS)
		},
	}
	c.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	c.Flags().StringVar(&dir, "dir", "", "data directory root (default $TMPDIR/harmonia-launch); node i uses DIR/n<i>")
	c.Flags().StringSliceVar(&extra, "server-flag", nil, "extra flag passed to every server, e.g. --server-flag=--n=2")
	c.Flags().BoolVar(&useTLS, "tls", false, "mutual TLS on both ports, with a CA, node certificates and an admin client certificate made in DIR/certs (kept across launches)")
	return c
}

func launch(self string, nodes int, dir string, extra []string, useTLS bool) error {
	secretFile, err := ensureSecret(dir)
	if err != nil {
		return err
	}
	certDir := filepath.Join(dir, "certs")
	if useTLS {
		if err := ensureLaunchCerts(certDir, nodes); err != nil {
			return err
		}
	}
	seed := fmt.Sprintf("127.0.0.1:%d", launchClusterBase+1)
	var procs []*exec.Cmd
	var wg sync.WaitGroup
	type exit struct {
		id  string
		err error
	}
	exited := make(chan exit, nodes)
	restart := map[string]string{}
	stopAll := func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			for _, p := range procs {
				p.Process.Kill()
			}
			<-done
		}
	}
	for i := 1; i <= nodes; i++ {
		id := fmt.Sprintf("n%d", i)
		args := []string{"server",
			"--node-id", id,
			"--data-dir", filepath.Join(dir, id),
			"--listen", fmt.Sprintf("127.0.0.1:%d", launchClusterBase+i),
			"--client", fmt.Sprintf("127.0.0.1:%d", launchClientBase+i),
			"--http", fmt.Sprintf("127.0.0.1:%d", launchHTTPBase+i),
			"--dynamodb", fmt.Sprintf("127.0.0.1:%d", launchDynamoDBBase+i),
			"--cluster-secret-file", secretFile,
		}
		if i > 1 {
			args = append(args, "--join", seed)
		}
		if useTLS {
			args = append(args, "--tls-cert", filepath.Join(certDir, id+".pem"), "--tls-key", filepath.Join(certDir, id+"-key.pem"),
				"--tls-ca", filepath.Join(certDir, "ca.pem"))
		}
		args = append(args, extra...)
		p := exec.Command(self, args...)
		p.Stderr = prefixWriter(id)
		p.Stdout = prefixWriter(id)
		if err := p.Start(); err != nil {
			stopAll()
			return fmt.Errorf("start %s: %w", id, err)
		}
		procs = append(procs, p)
		restart[id] = self + " " + strings.Join(args, " ")
		wg.Add(1)
		go func() { defer wg.Done(); exited <- exit{id, p.Wait()} }()
		fmt.Printf("%s: cluster 127.0.0.1:%d  client 127.0.0.1:%d  http 127.0.0.1:%d  dynamodb 127.0.0.1:%d  data %s\n",
			id, launchClusterBase+i, launchClientBase+i, launchHTTPBase+i, launchDynamoDBBase+i, filepath.Join(dir, id))
	}
	if useTLS {
		fmt.Printf("mutual TLS on; the CLI needs the admin client certificate:\n  export HARMONIA_TLS_CERT=%s HARMONIA_TLS_KEY=%s HARMONIA_TLS_CA=%s\n",
			filepath.Join(certDir, "admin.pem"), filepath.Join(certDir, "admin-key.pem"), filepath.Join(certDir, "ca.pem"))
	}
	fmt.Printf("%d nodes running; try: harmonia put k v && harmonia get k. Ctrl-C stops them.\n", nodes)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	// A node that dies leaves the others running, as in a real cluster; the
	// user can restart it by hand with the printed command.
	for running := nodes; ; {
		select {
		case <-sig:
			fmt.Println("stopping...")
			stopAll()
			return nil
		case e := <-exited:
			running--
			fmt.Printf("%s exited (%v); %d still running. Restart it with:\n  %s\n", e.id, e.err, running, restart[e.id])
			if running == 0 {
				return fmt.Errorf("every node exited")
			}
		}
	}
}

// ensureLaunchCerts makes, in dir, what a TLS launch needs and lacks: the
// CA, a certificate for each node (127.0.0.1, localhost) and an admin
// client certificate "admin".
func ensureLaunchCerts(dir string, nodes int) error {
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name+".pem")); return err == nil }
	days := func() (time.Duration, error) { return 365 * 24 * time.Hour, nil }
	if !exists("ca") {
		ca, err := certs.NewCA("HarmoniaKV launch CA", 10*365*24*time.Hour)
		if err != nil {
			return err
		}
		if err := writePair(dir, "ca", ca); err != nil {
			return err
		}
	}
	for i := 1; i <= nodes; i++ {
		if id := fmt.Sprintf("n%d", i); !exists(id) {
			if err := issueCert(dir, certs.RoleNode, id, []string{"127.0.0.1", "localhost"}, days); err != nil {
				return err
			}
		}
	}
	if !exists("admin") {
		return issueCert(dir, certs.RoleAdmin, "admin", nil, days)
	}
	return nil
}

// ensureSecret returns DIR/cluster-secret, creating it with a random
// secret the first time, so that a launched cluster does not rely on the
// built-in one and a restart keeps the contexts its clients hold valid.
func ensureSecret(dir string) (string, error) {
	path := filepath.Join(dir, "cluster-secret")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("create cluster secret: %w", err)
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails (it crashes the program instead)
	_, err = fmt.Fprintln(f, hex.EncodeToString(secret))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write cluster secret %s: %w", path, err)
	}
	return path, nil
}

// prefixWriter prefixes each line a node prints with its id.
func prefixWriter(id string) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		return os.Stderr
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			fmt.Fprintf(os.Stderr, "[%s] %s\n", id, strings.TrimRight(sc.Text(), "\n"))
		}
	}()
	return w
}
