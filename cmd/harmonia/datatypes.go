package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
)

// The CRDT values of tables created with --conflict crdt: counter, set and
// map commands over Fetch and Update. A value is a map of typed fields; a
// field is named by its path, names separated by '/' from the top of the
// value down (every field but the last is a map).

// datatypeFlags are the flags every CRDT command takes.
type datatypeFlags struct {
	rf      requestFlags
	table   string
	field   string
	quorum  string
	context string
}

func (f *datatypeFlags) register(c *cobra.Command, defaultField string, write bool) {
	f.rf.register(c)
	c.Flags().StringVar(&f.table, "table", "", "a table created with --conflict crdt (required)")
	if defaultField != "" {
		c.Flags().StringVar(&f.field, "field", defaultField, "the field's path: names separated by '/', from the top of the value down")
	}
	if write {
		c.Flags().StringVar(&f.quorum, "w", "", "write quorum: one, quorum, all or a number (default: the server's)")
		c.Flags().StringVar(&f.context, "context", "", "the context a fetch or an update printed (removals take only what it saw; default: fetch first)")
	} else {
		c.Flags().StringVar(&f.quorum, "r", "", "read quorum: one, quorum, all or a number (default: the server's)")
	}
}

func (f *datatypeFlags) options() (client.Options, error) {
	if f.table == "" {
		return client.Options{}, usageErr("--table is required: a table created with --conflict crdt")
	}
	return client.Options{Table: f.table, Quorum: f.quorum, Timeout: f.rf.timeout}, nil
}

// path splits --field into names.
func (f *datatypeFlags) path() ([]string, error) { return splitPath(f.field) }

func splitPath(s string) ([]string, error) {
	names := strings.Split(s, "/")
	for _, n := range names {
		if n == "" {
			return nil, usageErr("field path %q has an empty name: give names separated by '/'", s)
		}
	}
	return names, nil
}

// datatypeResult is what the counter and set commands print with --json:
// the field's value and the key's context, which --context takes back.
type datatypeResult struct {
	Key     string `json:"key"`
	Field   string `json:"field"`
	Value   any    `json:"value"`
	Context string `json:"context"`
}

func printDatatype(cmd *cobra.Command, key, field string, value any, causal []byte, text string) {
	if jsonOut(cmd) {
		b, _ := json.MarshalIndent(datatypeResult{Key: key, Field: field, Value: value, Context: encodeContext(causal)}, "", "  ")
		fmt.Println(string(b))
		return
	}
	fmt.Println(text)
	if len(causal) > 0 {
		fmt.Printf("context: %s\n", encodeContext(causal))
	}
}

// update applies ops to key; removals without --context fetch first and
// use the fetch's context.
func (f *datatypeFlags) update(ctx context.Context, cl *client.Client, key string, removes bool, ops []*datatypepb.DatatypeOp) (*kvpb.UpdateResponse, error) {
	o, err := f.options()
	if err != nil {
		return nil, err
	}
	causal, err := decodeContext(f.context)
	if err != nil {
		return nil, err
	}
	if causal == nil && removes {
		got, err := cl.Fetch(ctx, []byte(key), client.Options{Table: f.table, Timeout: f.rf.timeout})
		if err != nil {
			return nil, err
		}
		causal = got.Context
	}
	return cl.Update(ctx, []byte(key), causal, ops, o)
}

func counterCmd() *cobra.Command {
	c := &cobra.Command{Use: "counter", Short: "counters of a table created with --conflict crdt: increments from every node add up, none lost"}
	c.AddCommand(counterIncrCmd(), counterGetCmd())
	return c
}

func counterIncrCmd() *cobra.Command {
	var f datatypeFlags
	c := &cobra.Command{
		Use:   "incr KEY [N]",
		Short: "add N (default 1; negative subtracts) to a counter field, and print its total as the replica that applied it sees it",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			by := int64(1)
			if len(args) == 2 {
				n, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil {
					return usageErr("N %q is not a whole number of 64 bits", args[1])
				}
				by = n
			}
			names, err := f.path()
			if err != nil {
				return err
			}
			cl, ctx, done, err := f.rf.dial()
			if err != nil {
				return err
			}
			defer done()
			res, err := f.update(ctx, cl, args[0], false, []*datatypepb.DatatypeOp{datatype.Increment(by, names...)})
			if err != nil {
				return err
			}
			total := datatype.Field(res.Value, datatype.Path("counter", names...)...).GetCounter()
			printDatatype(cmd, args[0], f.field, total, res.Context, fmt.Sprintf("%s %s = %d (%d acks, %d of them hinted)", args[0], f.field, total, res.Acks, res.Hinted))
			return nil
		},
	}
	f.register(c, "counter", true)
	return c
}

func counterGetCmd() *cobra.Command {
	var f datatypeFlags
	c := &cobra.Command{
		Use:   "get KEY",
		Short: "read a counter field's total (0 when it was never incremented)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, causal, err := f.fetchField(args[0], "counter")
			if err != nil {
				return err
			}
			printDatatype(cmd, args[0], f.field, v.GetCounter(), causal, fmt.Sprintf("%s %s = %d", args[0], f.field, v.GetCounter()))
			return nil
		},
	}
	f.register(c, "counter", false)
	return c
}

// fetchField reads key and returns its field of type typ at --field.
func (f *datatypeFlags) fetchField(key, typ string) (*datatypepb.DatatypeValue, []byte, error) {
	o, err := f.options()
	if err != nil {
		return nil, nil, err
	}
	names, err := f.path()
	if err != nil {
		return nil, nil, err
	}
	cl, ctx, done, err := f.rf.dial()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	res, err := cl.Fetch(ctx, []byte(key), o)
	if err != nil {
		return nil, nil, err
	}
	return datatype.Field(res.Value, datatype.Path(typ, names...)...), res.Context, nil
}

func setCmd() *cobra.Command {
	c := &cobra.Command{Use: "set", Short: "sets of a table created with --conflict crdt: an add wins over a concurrent remove; a remove takes only what it saw"}
	c.AddCommand(setChangeCmd("add"), setChangeCmd("remove"), setGetCmd())
	return c
}

func setChangeCmd(verb string) *cobra.Command {
	var f datatypeFlags
	short := "add elements to a set field"
	if verb == "remove" {
		short = "remove elements from a set field, as --context (or, without it, a fetch just before) saw them"
	}
	c := &cobra.Command{
		Use:   verb + " KEY ELEMENT...",
		Short: short,
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := f.path()
			if err != nil {
				return err
			}
			var ops []*datatypepb.DatatypeOp
			for _, el := range args[1:] {
				if verb == "add" {
					ops = append(ops, datatype.Add(el, names...))
				} else {
					ops = append(ops, datatype.Remove(el, names...))
				}
			}
			cl, ctx, done, err := f.rf.dial()
			if err != nil {
				return err
			}
			defer done()
			res, err := f.update(ctx, cl, args[0], verb == "remove", ops)
			if err != nil {
				return err
			}
			members := datatype.Field(res.Value, datatype.Path("set", names...)...).GetSet().GetValues()
			printDatatype(cmd, args[0], f.field, nonNil(members), res.Context, fmt.Sprintf("%s %s = %s", args[0], f.field, formatMembers(members)))
			return nil
		},
	}
	f.register(c, "set", true)
	return c
}

func setGetCmd() *cobra.Command {
	var f datatypeFlags
	c := &cobra.Command{
		Use:   "get KEY",
		Short: "read a set field's members",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, causal, err := f.fetchField(args[0], "set")
			if err != nil {
				return err
			}
			members := v.GetSet().GetValues()
			printDatatype(cmd, args[0], f.field, nonNil(members), causal, fmt.Sprintf("%s %s = %s", args[0], f.field, formatMembers(members)))
			return nil
		},
	}
	f.register(c, "set", false)
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func formatMembers(m []string) string {
	q := make([]string, len(m))
	for i, s := range m {
		q[i] = strconv.Quote(s)
	}
	return "{" + strings.Join(q, ", ") + "}"
}

func mapCmd() *cobra.Command {
	c := &cobra.Command{Use: "map", Short: "whole CRDT values of a table created with --conflict crdt: maps of counters, sets, flags, registers and maps"}
	c.AddCommand(mapGetCmd(), mapUpdateCmd())
	return c
}

func mapGetCmd() *cobra.Command {
	var f datatypeFlags
	c := &cobra.Command{
		Use:   "get KEY",
		Short: "read a key's whole value, every field with its type, and its context",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options()
			if err != nil {
				return err
			}
			return call(cmd, &f.rf, func(ctx context.Context, cl *client.Client) (*kvpb.FetchResponse, error) {
				return cl.Fetch(ctx, []byte(args[0]), o)
			}, func(res *kvpb.FetchResponse) {
				fmt.Println(protojson.MarshalOptions{Multiline: true}.Format(res.Value))
				if len(res.Context) > 0 {
					fmt.Printf("context: %s\n", encodeContext(res.Context))
				}
			})
		},
	}
	f.register(c, "", false)
	return c
}

func mapUpdateCmd() *cobra.Command {
	var f datatypeFlags
	var incr, add, remove, assign, assignLWW, enable, disable, removeField []string
	c := &cobra.Command{
		Use:   "update KEY",
		Short: "apply operations to a key's value, all or none",
		Long: "Apply operations to fields named by their path (names separated by '/'; every field but the last is a map),\n" +
			"all or none, in this order: --incr PATH=N, --add PATH=ELEMENT, --remove PATH=ELEMENT, --assign PATH=VALUE,\n" +
			"--assign-lww PATH=VALUE, --enable PATH, --disable PATH, --remove-field PATH:TYPE (TYPE counter, set, flag,\n" +
			"register, lww-register or map). Removals take only what --context saw (without it, a fetch just before);\n" +
			"a last-writer-wins assignment wins over what the context saw, whatever the clocks.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ops []*datatypepb.DatatypeOp
			// A last-writer-wins assignment takes a context too: the
			// replica that applies it stamps it above what the context saw.
			removes := len(remove) > 0 || len(disable) > 0 || len(removeField) > 0 || len(assign) > 0 || len(assignLWW) > 0
			for _, s := range incr {
				p, v, err := pathValue("--incr", s)
				if err != nil {
					return err
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return usageErr("--incr %q: %q is not a whole number of 64 bits", s, v)
				}
				ops = append(ops, datatype.Increment(n, p...))
			}
			for _, pair := range []struct {
				flag string
				vals []string
				op   func(string, ...string) *datatypepb.DatatypeOp
			}{{"--add", add, datatype.Add}, {"--remove", remove, datatype.Remove}, {"--assign", assign, datatype.Assign}, {"--assign-lww", assignLWW, datatype.AssignLWW}} {
				for _, s := range pair.vals {
					p, v, err := pathValue(pair.flag, s)
					if err != nil {
						return err
					}
					ops = append(ops, pair.op(v, p...))
				}
			}
			for _, pair := range []struct {
				vals []string
				on   bool
			}{{enable, true}, {disable, false}} {
				for _, s := range pair.vals {
					p, err := splitPath(s)
					if err != nil {
						return err
					}
					ops = append(ops, datatype.Enable(pair.on, p...))
				}
			}
			for _, s := range removeField {
				i := strings.LastIndex(s, ":")
				if i <= 0 {
					return usageErr("--remove-field %q: give PATH:TYPE, like tags:set", s)
				}
				p, err := splitPath(s[:i])
				if err != nil {
					return err
				}
				ops = append(ops, datatype.RemoveField(s[i+1:], p...))
			}
			if len(ops) == 0 {
				return usageErr("no operation: give --incr, --add, --remove, --assign, --assign-lww, --enable, --disable or --remove-field")
			}
			if _, err := f.options(); err != nil {
				return err
			}
			return call(cmd, &f.rf, func(ctx context.Context, cl *client.Client) (*kvpb.UpdateResponse, error) {
				return f.update(ctx, cl, args[0], removes, ops)
			}, func(res *kvpb.UpdateResponse) {
				fmt.Println(protojson.MarshalOptions{Multiline: true}.Format(res.Value))
				fmt.Printf("ok (%d acks, %d of them hinted)\ncontext: %s\n", res.Acks, res.Hinted, encodeContext(res.Context))
			})
		},
	}
	f.register(c, "", true)
	c.Flags().StringArrayVar(&incr, "incr", nil, "PATH=N: add N to a counter")
	c.Flags().StringArrayVar(&add, "add", nil, "PATH=ELEMENT: add to a set")
	c.Flags().StringArrayVar(&remove, "remove", nil, "PATH=ELEMENT: remove from a set")
	c.Flags().StringArrayVar(&assign, "assign", nil, "PATH=VALUE: set a register, replacing the values the context saw")
	c.Flags().StringArrayVar(&assignLWW, "assign-lww", nil, "PATH=VALUE: set a last-writer-wins register (the newest assignment wins)")
	c.Flags().StringArrayVar(&enable, "enable", nil, "PATH: enable a flag")
	c.Flags().StringArrayVar(&disable, "disable", nil, "PATH: disable a flag")
	c.Flags().StringArrayVar(&removeField, "remove-field", nil, "PATH:TYPE: remove a field")
	return c
}

// pathValue splits PATH=VALUE at the first '='.
func pathValue(flag, s string) ([]string, string, error) {
	i := strings.Index(s, "=")
	if i <= 0 {
		return nil, "", usageErr("%s %q: give PATH=VALUE", flag, s)
	}
	p, err := splitPath(s[:i])
	return p, s[i+1:], err
}
