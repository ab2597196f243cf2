package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
)

// itemCmd groups the item commands of tables with a key schema. Items,
// keys and values are DynamoDB JSON, in arguments and in --json output
// alike, so that what one command prints another takes.
func itemCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "item",
		Short: "put, get, delete, update and query the items of a table with a key schema (DynamoDB JSON and expressions)",
		Long: "Read and write the items of a table created with --partition-key. Items and keys are DynamoDB JSON,\n" +
			`e.g. '{"id": {"S": "a1"}, "n": {"N": "3"}}'; conditions, updates and queries are DynamoDB expressions,` + "\n" +
			`with --names '{"#n": "name"}' and --values '{":v": {"N": "1"}}'. A failed condition exits with code 4.`,
	}
	c.AddCommand(itemPutCmd(), itemGetCmd(), itemDeleteCmd(), itemUpdateCmd(), itemQueryCmd())
	return c
}

// parseItem reads an item or a key given in DynamoDB JSON.
// itemAndOptions reads an item call's ITEM_JSON or KEY_JSON argument and
// its expression flags.
func itemAndOptions(what, s string, ef *exprFlags, rf *requestFlags) (item.Item, client.ItemOptions, error) {
	it, err := parseItem(what, s)
	if err != nil {
		return nil, client.ItemOptions{}, err
	}
	o, err := ef.options(rf)
	return it, o, err
}

func parseItem(what, s string) (item.Item, error) {
	it, err := item.DecodeJSONItem([]byte(s))
	if err != nil {
		return nil, usageErr(`%s is not an item in DynamoDB JSON (like {"id": {"S": "a1"}}): %v`, what, err)
	}
	return it, nil
}

// exprFlags are the expression flags of the item commands.
type exprFlags struct {
	condition, names, values string
}

func (f *exprFlags) register(c *cobra.Command, condition bool) {
	if condition {
		c.Flags().StringVar(&f.condition, "condition", "", "ConditionExpression: write only if it holds (exit code 4 if not)")
	}
	c.Flags().StringVar(&f.names, "names", "", `ExpressionAttributeNames as JSON, like {"#n": "name"}`)
	c.Flags().StringVar(&f.values, "values", "", `ExpressionAttributeValues as DynamoDB JSON, like {":v": {"N": "1"}}`)
}

// options reads the flags into the request's options.
func (f *exprFlags) options(rf *requestFlags) (client.ItemOptions, error) {
	o := client.ItemOptions{Condition: f.condition, Timeout: rf.timeout}
	if f.names != "" {
		if err := json.Unmarshal([]byte(f.names), &o.Names); err != nil {
			return o, usageErr(`--names is not a JSON object of strings (like {"#n": "name"}): %v`, err)
		}
	}
	if f.values != "" {
		// The values are shaped as an item: placeholders to values.
		values, err := item.DecodeJSONItem([]byte(f.values))
		if err != nil {
			return o, usageErr(`--values is not an object of values in DynamoDB JSON (like {":v": {"N": "1"}}): %v`, err)
		}
		o.Values = values
	}
	return o, nil
}

// itemCall dials, runs one item request and turns a failed condition into
// exit code 4.
func itemCall(rf *requestFlags, do func(context.Context, *client.Client) error) error {
	cl, ctx, done, err := rf.dial()
	if err != nil {
		return err
	}
	defer done()
	err = do(ctx, cl)
	if client.ItemConditionFailed(err) {
		return &codedError{code: exitConditionFailed, msg: "harmonia: " + status.Convert(err).Message() + " (nothing was written)"}
	}
	return err
}

// writeOutput is what put, delete and update print with --json.
type writeOutput struct {
	Attributes item.ItemJSON `json:"attributes,omitempty"`
}

// getOutput is what get prints with --json.
type getOutput struct {
	Item item.ItemJSON `json:"item,omitempty"`
}

// queryOutput is what query prints with --json; last_evaluated_key is
// what --start takes for the next page.
type queryOutput struct {
	Items            []item.ItemJSON `json:"items"`
	Count            int             `json:"count"`
	ScannedCount     int             `json:"scanned_count"`
	LastEvaluatedKey item.ItemJSON   `json:"last_evaluated_key,omitempty"`
}

func newQueryOutput(p *client.QueryPage) queryOutput {
	out := queryOutput{Items: []item.ItemJSON{}, Count: p.Count, ScannedCount: p.ScannedCount, LastEvaluatedKey: item.ItemJSON(p.LastEvaluatedKey)}
	for _, it := range p.Items {
		out.Items = append(out.Items, item.ItemJSON(it))
	}
	return out
}

func printItemJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("print the answer: %w", err)
	}
	fmt.Println(string(b))
	return nil
}

// itemLine is an item on one line of DynamoDB JSON.
func itemLine(it item.Item) string {
	b, err := item.EncodeJSONItem(it)
	if err != nil {
		return fmt.Sprintf("(an item DynamoDB JSON cannot show: %v)", err)
	}
	return string(b)
}

// printWrite prints a write's answer.
func printWrite(cmd *cobra.Command, done string, attrs item.Item) error {
	if jsonOut(cmd) {
		return printItemJSON(writeOutput{Attributes: item.ItemJSON(attrs)})
	}
	fmt.Println(done)
	if attrs != nil {
		fmt.Println(itemLine(attrs))
	}
	return nil
}

func itemPutCmd() *cobra.Command {
	return itemWriteCmd("put TABLE ITEM_JSON", "write a whole item, replacing any item of its key", "ITEM_JSON", "ok",
		"ReturnValues: ALL_OLD prints the item replaced", (*client.Client).PutItem)
}

// itemWriteCmd is `item put` or `item delete`: one item (or key) in
// DynamoDB JSON, an optional condition, and ALL_OLD to print what it
// replaced; done is what it prints once it is done.
func itemWriteCmd(use, short, arg, done, returnHelp string,
	call func(cl *client.Client, ctx context.Context, table string, it item.Item, o client.ItemOptions) (item.Item, error)) *cobra.Command {
	var rf requestFlags
	var ef exprFlags
	var ret string
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			it, o, err := itemAndOptions(arg, args[1], &ef, &rf)
			if err != nil {
				return err
			}
			o.Return = ret
			return itemCall(&rf, func(ctx context.Context, cl *client.Client) error {
				old, err := call(cl, ctx, args[0], it, o)
				if err != nil {
					return err
				}
				return printWrite(cmd, done, old)
			})
		},
	}
	rf.register(c)
	ef.register(c, true)
	c.Flags().StringVar(&ret, "return", "", returnHelp)
	return c
}

func itemGetCmd() *cobra.Command {
	var rf requestFlags
	var ef exprFlags
	var projection string
	var consistent bool
	c := &cobra.Command{
		Use:   "get TABLE KEY_JSON",
		Short: "read the item of a key (linearizable on a strong table; exit code 3 when there is none)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, o, err := itemAndOptions("KEY_JSON", args[1], &ef, &rf)
			if err != nil {
				return err
			}
			o.Projection, o.Consistent = projection, consistent
			return itemCall(&rf, func(ctx context.Context, cl *client.Client) error {
				it, err := cl.GetItem(ctx, args[0], key, o)
				if err != nil {
					return err
				}
				if jsonOut(cmd) {
					if err := printItemJSON(getOutput{Item: item.ItemJSON(it)}); err != nil {
						return err
					}
				} else if it != nil {
					fmt.Println(itemLine(it))
				}
				if it == nil {
					return &codedError{code: exitNotFound, msg: "not found"}
				}
				return nil
			})
		},
	}
	rf.register(c)
	c.Flags().StringVar(&ef.names, "names", "", `ExpressionAttributeNames as JSON, like {"#n": "name"}`)
	c.Flags().StringVar(&projection, "projection", "", "ProjectionExpression: the attributes to print")
	c.Flags().BoolVar(&consistent, "consistent", false, "a consistent read (an eventual table's: a majority of the replicas)")
	return c
}

func itemDeleteCmd() *cobra.Command {
	return itemWriteCmd("delete TABLE KEY_JSON", "delete the item of a key", "KEY_JSON", "deleted",
		"ReturnValues: ALL_OLD prints the item deleted", (*client.Client).DeleteItem)
}

func itemUpdateCmd() *cobra.Command {
	var rf requestFlags
	var ef exprFlags
	var update, ret string
	c := &cobra.Command{
		Use:   "update TABLE KEY_JSON --update EXPR",
		Short: "change an item's attributes with an UpdateExpression (creating the item if absent)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(update) == "" {
				return usageErr("update needs --update EXPR, like 'SET n = n + :one'")
			}
			key, o, err := itemAndOptions("KEY_JSON", args[1], &ef, &rf)
			if err != nil {
				return err
			}
			o.Return = ret
			return itemCall(&rf, func(ctx context.Context, cl *client.Client) error {
				attrs, err := cl.UpdateItem(ctx, args[0], key, update, o)
				if err != nil {
					return err
				}
				return printWrite(cmd, "ok", attrs)
			})
		},
	}
	rf.register(c)
	ef.register(c, true)
	c.Flags().StringVar(&update, "update", "", "UpdateExpression, like 'SET n = n + :one REMOVE old'")
	c.Flags().StringVar(&ret, "return", "", "ReturnValues: ALL_OLD, UPDATED_OLD, ALL_NEW or UPDATED_NEW")
	return c
}

func itemQueryCmd() *cobra.Command {
	var rf requestFlags
	var ef exprFlags
	var q client.Query
	var start string
	var count bool
	c := &cobra.Command{
		Use:   "query TABLE --key-condition EXPR",
		Short: "read one page of the items of one partition key, in sort key order",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(q.KeyCondition) == "" {
				return usageErr("query needs --key-condition EXPR, like 'pk = :p AND sk > :s'")
			}
			if q.Limit < 0 {
				return usageErr("--limit %d: at least 0 (0: a page of up to 1 MB)", q.Limit)
			}
			if start != "" {
				var err error
				if q.Start, err = parseItem("--start", start); err != nil {
					return err
				}
			}
			o, err := ef.options(&rf)
			if err != nil {
				return err
			}
			q.Names, q.Values, q.Timeout = o.Names, o.Values, o.Timeout
			if count {
				q.Select = "COUNT"
			}
			return itemCall(&rf, func(ctx context.Context, cl *client.Client) error {
				page, err := cl.Query(ctx, args[0], q)
				if err != nil {
					return err
				}
				if jsonOut(cmd) {
					return printItemJSON(newQueryOutput(page))
				}
				for _, it := range page.Items {
					fmt.Println(itemLine(it))
				}
				fmt.Printf("count %d (%d read)\n", page.Count, page.ScannedCount)
				if page.LastEvaluatedKey != nil {
					fmt.Printf("more: --start '%s'\n", itemLine(page.LastEvaluatedKey))
				}
				return nil
			})
		},
	}
	rf.register(c)
	ef.register(c, false)
	c.Flags().StringVar(&q.KeyCondition, "key-condition", "", "KeyConditionExpression, like 'pk = :p AND begins_with(sk, :s)'")
	c.Flags().StringVar(&q.Filter, "filter", "", "FilterExpression, applied after --limit counts the items read")
	c.Flags().StringVar(&q.Projection, "projection", "", "ProjectionExpression: the attributes to print")
	c.Flags().IntVar(&q.Limit, "limit", 0, "the most items to read (0: a page of up to 1 MB)")
	c.Flags().StringVar(&start, "start", "", "where the page starts: the last_evaluated_key the page before printed (DynamoDB JSON)")
	c.Flags().BoolVar(&q.Backward, "backward", false, "descending sort key order")
	c.Flags().BoolVar(&count, "count", false, "print the counts only (Select COUNT)")
	return c
}
