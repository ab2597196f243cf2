// Command harmonia runs HarmoniaKV nodes and talks to them: server, launch
// (a local cluster), put, get, delete, table, item, status, replicas and
// bench.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/internal/grpcbuffers"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNotFound = 3
	// exitConditionFailed: a strong write's condition (--if-absent,
	// --if-version, an item's --condition) did not hold; nothing was
	// written.
	exitConditionFailed = 4
)

// defaultAddr is n1's client port in a `harmonia launch` cluster.
const defaultAddr = "127.0.0.1:8001"

// exitError carries a specific exit code.
type codedError struct {
	code int
	msg  string
}

func (e *codedError) Error() string { return e.msg }

// The binary's gRPC buffers are reused without being cleared
// (internal/grpcbuffers says why); grpc takes a default pool only at
// initialization.
func init() { grpcbuffers.Install() }

func main() {
	root := &cobra.Command{
		Use:           "harmonia",
		Short:         "HarmoniaKV: a Dynamo-style replicated key-value store",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Bool("json", false, "print the response message as protojson")
	root.AddCommand(serverCmd(), launchCmd(), putCmd(), getCmd(), deleteCmd(), counterCmd(), setCmd(), mapCmd(), tableCmd(), itemCmd(), statusCmd(), replicasCmd(), benchCmd(), clusterCmd(), repairCmd(), configCmd(), healthcheckCmd(), certCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &codedError{code: exitUsage, msg: err.Error()}
	})
	err := root.Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	var ce *codedError
	if errors.As(err, &ce) {
		if ce.msg != "" {
			fmt.Fprintln(os.Stderr, ce.msg)
		}
		os.Exit(ce.code)
	}
	if cf, ok := client.ConditionFailed(err); ok {
		fmt.Fprintln(os.Stderr, conditionFailedLine(err, cf))
		os.Exit(exitConditionFailed)
	}
	if st, ok := status.FromError(err); ok {
		fmt.Fprintf(os.Stderr, "harmonia: %s: %s\n", st.Code(), st.Message())
	} else {
		fmt.Fprintf(os.Stderr, "harmonia: %v\n", err)
	}
	os.Exit(exitError)
}

func isUsage(err error) bool {
	var ce *codedError
	return errors.As(err, &ce) && ce.code == exitUsage
}

func usageErr(format string, args ...any) error {
	return &codedError{code: exitUsage, msg: "harmonia: " + fmt.Sprintf(format, args...)}
}
