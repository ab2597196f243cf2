package actors

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/catalog"
)

// A burst of requests for a table no node knows shares its reads of the
// catalog's register: each answers NotFound from a read that began after
// it asked, and the burst costs a few consensus reads, not one each. The
// register's vnode is held while the burst comes in: a read settled by its
// read round is over in microseconds, before the next request of a burst
// runs.
func TestUnknownTableLookupsShareCatalogReads(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := sys.Tables().Create(ctx, catalog.Spec{Name: "orders", Consistency: catalog.Strong}); err != nil {
		t.Fatal(err)
	}
	before := sys.RequestCounts().Strong["ok"]
	vnode := actor.NewPID(sys.actors.Address(), vnodeName(sys.View().Ring.PartitionForKey(catalog.CatalogKey)))
	proc, _ := sys.actors.ProcessRegistry.Get(vnode)
	proc.SendSystemMessage(vnode, &actor.SuspendMailbox{})
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			proc.SendSystemMessage(vnode, &actor.ResumeMailbox{})
		}
	}
	defer resume()
	const lookups = 64
	var wg sync.WaitGroup
	for range lookups {
		wg.Go(func() {
			if _, err := sys.Tables().Lookup(ctx, "nope"); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("lookup of an unknown table: %v", err)
			}
		})
	}
	for sys.tables.refreshing.Load() < lookups {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d lookups came to read the catalog", sys.tables.refreshing.Load(), lookups)
		}
		time.Sleep(time.Millisecond)
	}
	resume()
	wg.Wait()
	reads := sys.RequestCounts().Strong["ok"] - before
	if reads == 0 || reads > 2 {
		t.Fatalf("%d lookups of an unknown table made %d catalog reads", lookups, reads)
	}
	t.Logf("%d lookups, %d catalog reads", lookups, reads)
	// A table created after a lookup missed is found by the next one.
	if _, err := sys.Tables().Create(ctx, catalog.Spec{Name: "nope", Consistency: catalog.Eventual}); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Tables().Lookup(ctx, "nope"); err != nil {
		t.Fatalf("lookup after create: %v", err)
	}
}
