package tests

import (
	"os"
	"testing"
	"time"
)

func TestZZDetect(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	c := startCluster(t, 3)
	n1, n3 := c.nodes[0], c.nodes[2]
	c.kill(n3)
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		st, err := c.status(n1)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range st.Members {
			if m.Id == "n3" {
				t.Logf("%5.1fs %s phi=%.2f age=%dms", time.Since(start).Seconds(), m.State, m.Phi, m.LastHeartbeatAgeMs)
				if m.State == "down" {
					return
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}
