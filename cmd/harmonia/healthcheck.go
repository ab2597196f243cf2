package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd asks a node's /healthz, for container health checks where
// the image has no other HTTP client.
func healthcheckCmd() *cobra.Command {
	var addr string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "healthcheck",
		Short: "exit 0 if the node whose --http address is given answers /healthz, 1 if not",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			hc := &http.Client{Timeout: timeout}
			res, err := hc.Get("http://" + addr + "/healthz")
			if err != nil {
				return fmt.Errorf("healthz at %s: %w", addr, err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
			if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
				return fmt.Errorf("healthz at %s: %s %q", addr, res.Status, strings.TrimSpace(string(body)))
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "http", "127.0.0.1:9000", "the node's --http address")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for the answer")
	return c
}
