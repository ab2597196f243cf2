package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/kvpb"
)

// Items mode: --table names a table of items. The key space is --keys
// partition keys with --items items each (sort keys 0 .. items-1; one item
// when the table has no sort key), every item an attribute "v" of
// --value-size random bytes. Workload c reads a random item (GetItem),
// q reads a random partition key's items (one Query, Limit --items; one
// that returns fewer counts as not found), w
// writes items of new partition keys (PutItem, blind), i adds 1 to the
// number "n" of a random item (UpdateItem "ADD n :one", returning
// nothing: a consensus step on a strong table, a read and a write on a
// last-writer-wins one, a blind counter increment on a crdt one). "read"
// in the report is the GetItem or the Query, "update" the ADD.

// ItemKV is the part of *client.Client items mode uses.
type ItemKV interface {
	PutItem(ctx context.Context, table string, it item.Item, o client.ItemOptions) (item.Item, error)
	GetItem(ctx context.Context, table string, key item.Item, o client.ItemOptions) (item.Item, error)
	UpdateItem(ctx context.Context, table string, key item.Item, update string, o client.ItemOptions) (item.Item, error)
	Query(ctx context.Context, table string, q client.Query) (*client.QueryPage, error)
}

// itemSchema is the key schema of the table items mode runs on.
type itemSchema struct {
	partition, sort item.KeyAttribute // sort.Name == "": none
}

// schemaOf reads a table's key schema from its description; ok is false
// for a table of opaque keys.
func schemaOf(d *kvpb.TableDescription) (itemSchema, bool) {
	if d.PartitionKey == nil {
		return itemSchema{}, false
	}
	s := itemSchema{partition: item.KeyAttribute{Name: d.PartitionKey.Name, Type: item.Type(d.PartitionKey.Type)}}
	if d.SortKey != nil {
		s.sort = item.KeyAttribute{Name: d.SortKey.Name, Type: item.Type(d.SortKey.Type)}
	}
	return s, true
}

// keyValue is the i-th value of a key attribute of type t: prefix and i
// for a string or bytes, i for a number.
func keyValue(t item.Type, prefix string, i int) item.Value {
	switch t {
	case item.TypeN:
		return item.MustNumber(strconv.Itoa(i))
	case item.TypeB:
		return item.B(fmt.Appendf(nil, "%s%08d", prefix, i))
	}
	return item.S(fmt.Sprintf("%s%08d", prefix, i))
}

// key is the key of the j-th item of the i-th partition key.
func (s itemSchema) key(prefix string, i, j int) item.Item {
	k := item.Item{s.partition.Name: keyValue(s.partition.Type, prefix, i)}
	if s.sort.Name != "" {
		k[s.sort.Name] = keyValue(s.sort.Type, "", j)
	}
	return k
}

// perKey is how many items each partition key holds.
func (c *Config) perKey() int {
	if c.schema.sort.Name == "" {
		return 1
	}
	return c.items
}

// newItem is the j-th item of the i-th partition key with a random value.
func (c *Config) newItem(rng *rand.Rand, prefix string, i, j int) item.Item {
	it := c.schema.key(prefix, i, j)
	v := make([]byte, c.valueSize)
	fillRandom(rng, v)
	it["v"] = item.B(v)
	return it
}

// itemKVs are kvs as item clients: every KV that is one (a
// *client.Client, or a test's fake); nil when none is.
func itemKVs(kvs []KV) []ItemKV {
	var out []ItemKV
	for _, kv := range kvs {
		if ik, ok := kv.(ItemKV); ok {
			out = append(out, ik)
		}
	}
	if len(out) != len(kvs) {
		return nil
	}
	return out
}

func (c *Config) itemOpts() client.ItemOptions {
	return client.ItemOptions{Timeout: c.timeout, Consistent: c.r == "quorum" || c.r == "all"}
}

// loadItems writes the key space's items with cfg.clients writers.
func loadItems(ctx context.Context, cfg *Config, kvs []ItemKV) error {
	return loadAll(ctx, cfg, int64(cfg.keys)*int64(cfg.perKey()), func(ctx context.Context, writer int, rng *rand.Rand, n int64) error {
		it := cfg.newItem(rng, cfg.keyPrefix, int(n)/cfg.perKey(), int(n)%cfg.perKey())
		octx, cancel := cfg.opContext(ctx)
		defer cancel()
		if _, err := kvs[writer%len(kvs)].PutItem(octx, cfg.table, it, client.ItemOptions{Timeout: cfg.timeout}); err != nil {
			return fmt.Errorf("load item %d: %w", n, err)
		}
		return nil
	})
}

// itemOp runs one operation of items mode: op is opRead (a GetItem, or
// for workload q a Query) or opWrite (a PutItem of a new partition key's
// item). notFound reports a read that found nothing.
func (w *worker) itemOp(ctx context.Context, op benchOp, rng *rand.Rand) (notFound bool, err error) {
	cfg := w.cfg
	kv := w.items[w.at]
	octx, cancel := cfg.opContext(ctx)
	defer cancel()
	switch {
	case op == opUpdate:
		_, err = kv.UpdateItem(octx, cfg.table, cfg.schema.key(cfg.keyPrefix, rng.IntN(cfg.keys), rng.IntN(cfg.perKey())), "ADD n :one",
			client.ItemOptions{Timeout: cfg.timeout, Values: map[string]item.Value{":one": item.MustNumber("1")}})
	case op == opWrite:
		_, err = kv.PutItem(octx, cfg.table, cfg.newItem(rng, cfg.keyPrefix+cfg.runTag, int(w.written.Add(1)-1), 0), client.ItemOptions{Timeout: cfg.timeout})
	case cfg.workload == "q":
		pk := cfg.schema.partition
		var page *client.QueryPage
		page, err = kv.Query(octx, cfg.table, client.Query{KeyCondition: "#p = :p", Names: map[string]string{"#p": pk.Name},
			Values: map[string]item.Value{":p": keyValue(pk.Type, cfg.keyPrefix, rng.IntN(cfg.keys))}, Limit: cfg.perKey(),
			Consistent: cfg.itemOpts().Consistent})
		// A page short of the partition key's loaded items counts as not
		// found: a run over a key space that was not (all) loaded must
		// not pass for a run of full Queries.
		notFound = err == nil && len(page.Items) < cfg.perKey()
	default:
		var it item.Item
		it, err = kv.GetItem(octx, cfg.table, cfg.schema.key(cfg.keyPrefix, rng.IntN(cfg.keys), rng.IntN(cfg.perKey())), cfg.itemOpts())
		notFound = err == nil && it == nil
	}
	return notFound, err
}

// takeSchema sets items mode from the table's description and checks the
// flags against it.
func (c *Config) takeSchema(d *kvpb.TableDescription) error {
	schema, ok := schemaOf(d)
	if !ok {
		if c.workload == "q" || c.workload == "i" {
			return usageErr("--workload %s is of a table of items; --table %s holds keys and values", c.workload, c.table)
		}
		return nil
	}
	c.schema = schema
	if c.items < 1 {
		return usageErr("--items %d: must be at least 1", c.items)
	}
	if c.workload != "c" && c.workload != "q" && c.workload != "w" && c.workload != "i" {
		return usageErr("--table %s holds items: --workload must be c (GetItem), q (Query), w (PutItem) or i (UpdateItem ADD)", c.table)
	}
	if c.w != "" || (c.r != "" && c.r != "quorum" && c.r != "all") {
		return usageErr("--table %s holds items: --w does not apply, and --r only as quorum or all (a consistent read)", c.table)
	}
	return nil
}
