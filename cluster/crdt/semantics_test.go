package crdt

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// cluster is three replicas of one value, a, b and c, each its own actor.
type cluster struct {
	t    *testing.T
	reps map[string]*replica
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, reps: map[string]*replica{
		"a": {actor: actorA}, "b": {actor: actorB}, "c": {actor: actorC},
	}}
}

// do applies ops at replica at with the client context ctx.
func (c *cluster) do(at string, ctx Context, ops ...Op) {
	c.t.Helper()
	if err := c.reps[at].update(ctx, ops...); err != nil {
		c.t.Fatalf("at %s: %v", at, err)
	}
}

// read is a client read at replica at.
func (c *cluster) read(at string) Context { return c.reps[at].read() }

// sync merges from's state into to.
func (c *cluster) sync(from, to string) {
	c.t.Helper()
	c.reps[to].state = mustMerge(c.t, c.reps[to].state, c.reps[from].state)
}

// converge syncs every replica with every other and returns the one state
// they all reach.
func (c *cluster) converge() State {
	c.t.Helper()
	var all State
	for _, r := range c.reps {
		all = mustMerge(c.t, all, r.state)
	}
	for name, r := range c.reps {
		r.state = mustMerge(c.t, r.state, all)
		if !same(r.state, all) {
			c.t.Fatalf("replica %s did not converge", name)
		}
	}
	return all
}

var (
	counterN = Field{Name: "n", Kind: KindCounter}
	setS     = Field{Name: "s", Kind: KindSet}
	mapM     = Field{Name: "m", Kind: KindMap}
	regN     = Field{Name: "n", Kind: KindLWWRegister}
)

func inc(f Field, by int64) Op { return UpdateField{Field: f, Op: Increment{By: by}} }

func TestSemantics(t *testing.T) {
	tests := []struct {
		rule string
		run  func(c *cluster)
		want any // View of the converged value
	}{
		{"set: an add wins over a concurrent remove", func(c *cluster) {
			c.do("a", Context{}, Add{Element: "x"})
			c.sync("a", "b")
			c.do("b", c.read("b"), Remove{Element: "x"})
			c.do("a", Context{}, Add{Element: "x"})
		}, []string{"x"}},
		{"set: a remove takes away only the adds its context saw", func(c *cluster) {
			c.do("a", Context{}, Add{Element: "x"})
			ctx := c.read("a")
			c.do("b", Context{}, Add{Element: "x"})
			c.sync("b", "a")
			c.do("a", ctx, Remove{Element: "x"})
		}, []string{"x"}},
		{"set: a remove that saw every add takes the element out", func(c *cluster) {
			c.do("a", Context{}, Add{Element: "x"}, Add{Element: "y"})
			c.do("b", Context{}, Add{Element: "x"})
			c.sync("b", "a")
			c.do("a", c.read("a"), Remove{Element: "x"})
		}, []string{"y"}},
		{"set: an element removed then added again is present", func(c *cluster) {
			c.do("a", Context{}, Add{Element: "x"})
			c.do("a", c.read("a"), Remove{Element: "x"})
			c.do("a", Context{}, Add{Element: "x"})
		}, []string{"x"}},
		{"counter: concurrent increments and decrements of many actors add up", func(c *cluster) {
			c.do("a", Context{}, Increment{By: 5}, Increment{By: -1})
			c.do("b", Context{}, Increment{By: -3})
			c.do("c", Context{}, Increment{By: 10})
			c.sync("a", "b")
			c.do("b", Context{}, Increment{By: 2})
			c.do("a", Context{}, Increment{By: 1})
		}, int64(14)},
		{"counter: concurrent totals past int64 saturate", func(c *cluster) {
			c.do("a", Context{}, Increment{By: math.MaxInt64})
			c.do("b", Context{}, Increment{By: math.MaxInt64})
		}, int64(math.MaxInt64)},
		{"flag: an enable wins over a concurrent disable", func(c *cluster) {
			c.do("a", Context{}, Enable{})
			c.sync("a", "b")
			c.do("b", c.read("b"), Disable{})
			c.do("a", Context{}, Enable{})
		}, true},
		{"flag: a disable that saw every enable turns it off", func(c *cluster) {
			c.do("a", Context{}, Enable{})
			c.do("b", Context{}, Enable{})
			c.sync("a", "b")
			c.do("b", c.read("b"), Disable{})
		}, false},
		{"mvregister: concurrent assignments are all kept", func(c *cluster) {
			c.do("a", Context{}, Assign{Value: "p"})
			c.do("b", Context{}, Assign{Value: "q"})
		}, []string{"p", "q"}},
		{"mvregister: an assignment replaces the values its context saw", func(c *cluster) {
			c.do("a", Context{}, Assign{Value: "p"})
			c.do("b", Context{}, Assign{Value: "q"})
			c.sync("b", "a")
			ctx := c.read("a")
			c.do("c", Context{}, Assign{Value: "s"})
			c.sync("c", "a")
			c.do("a", ctx, Assign{Value: "r"})
		}, []string{"r", "s"}},
		{"lwwregister: the highest timestamp wins", func(c *cluster) {
			c.do("a", Context{}, AssignAt{Value: "p", Timestamp: 10})
			c.do("b", Context{}, AssignAt{Value: "q", Timestamp: 5})
		}, "p"},
		{"lwwregister: on equal timestamps the greater actor wins", func(c *cluster) {
			c.do("b", Context{}, AssignAt{Value: "q", Timestamp: 7})
			c.do("a", Context{}, AssignAt{Value: "p", Timestamp: 7})
		}, "q"},
		{"lwwregister: an assignment older than the winner is a no-op", func(c *cluster) {
			c.do("a", Context{}, AssignAt{Value: "p", Timestamp: 10})
			c.do("a", Context{}, AssignAt{Value: "q", Timestamp: 5})
		}, "p"},
		{"map: a removed field nobody updated concurrently is gone", func(c *cluster) {
			c.do("a", Context{}, inc(counterN, 5), UpdateField{Field: setS, Op: Add{Element: "x"}})
			c.sync("a", "b")
			c.do("b", c.read("b"), RemoveField{Field: counterN})
		}, map[Field]any{setS: []string{"x"}}},
		{"map: a field removal keeps a concurrent increment of a nested counter by an actor new to it", func(c *cluster) {
			c.do("a", Context{}, inc(counterN, 5))
			c.do("b", Context{}, inc(counterN, 3))
			c.sync("b", "a")
			ctx := c.read("a")
			c.do("c", Context{}, inc(counterN, 1))
			c.do("a", ctx, RemoveField{Field: counterN})
		}, map[Field]any{counterN: int64(1)}},
		{"map: a field removal keeps a concurrent incrementer's whole total on the field (the counter's documented coarseness)", func(c *cluster) {
			c.do("a", Context{}, inc(counterN, 5))
			c.do("b", Context{}, inc(counterN, 3))
			c.sync("b", "a")
			ctx := c.read("a")
			c.do("b", Context{}, inc(counterN, 1))
			c.do("a", ctx, RemoveField{Field: counterN})
		}, map[Field]any{counterN: int64(4)}},
		{"map: a field removal keeps only a concurrent add to a nested set", func(c *cluster) {
			c.do("a", Context{}, UpdateField{Field: setS, Op: Add{Element: "x"}}, UpdateField{Field: setS, Op: Add{Element: "y"}})
			c.sync("a", "b")
			ctx := c.read("a")
			c.do("b", Context{}, UpdateField{Field: setS, Op: Add{Element: "z"}})
			c.do("a", ctx, RemoveField{Field: setS})
		}, map[Field]any{setS: []string{"z"}}},
		{"map: removing a nested map keeps only the nested fields updated concurrently", func(c *cluster) {
			c.do("a", Context{}, UpdateField{Field: mapM, Op: inc(counterN, 2)}, UpdateField{Field: mapM, Op: UpdateField{Field: setS, Op: Add{Element: "x"}}})
			c.sync("a", "b")
			ctx := c.read("a")
			c.do("b", Context{}, UpdateField{Field: mapM, Op: UpdateField{Field: regN, Op: AssignAt{Value: "v", Timestamp: 1}}})
			c.do("a", ctx, RemoveField{Field: mapM})
		}, map[Field]any{mapM: map[Field]any{regN: "v"}}},
		{"map: fields of one name and two kinds are two fields", func(c *cluster) {
			c.do("a", Context{}, inc(counterN, 1), UpdateField{Field: regN, Op: AssignAt{Value: "v", Timestamp: 1}})
		}, map[Field]any{counterN: int64(1), regN: "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			c := newCluster(t)
			tt.run(c)
			if got := View(c.converge().Value()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	small := Limits{MaxDepth: 2, MaxElements: 2, MaxBytes: 200, Headroom: 1}
	tests := []struct {
		rule  string
		setup []Op // applied first, blind, at a
		ctx   func(seen State) Context
		ops   []Op
		lim   Limits
		want  error
	}{
		{"remove of an element the context never saw", []Op{Add{Element: "x"}}, nil,
			[]Op{Remove{Element: "x"}}, DefaultLimits, ErrNotObserved},
		{"remove of an absent element", []Op{Add{Element: "x"}}, State.Context,
			[]Op{Remove{Element: "y"}}, DefaultLimits, ErrNotObserved},
		{"remove with a context holding updates this replica has not seen", []Op{Add{Element: "x"}}, unseen,
			[]Op{Remove{Element: "x"}}, DefaultLimits, ErrUnseenContext},
		{"disable with a context holding updates this replica has not seen", []Op{Enable{}}, unseen,
			[]Op{Disable{}}, DefaultLimits, ErrUnseenContext},
		{"assign with a context holding updates this replica has not seen", []Op{Assign{Value: "p"}}, unseen,
			[]Op{Assign{Value: "q"}}, DefaultLimits, ErrUnseenContext},
		{"removal of a field the context never saw", []Op{inc(counterN, 1)}, nil,
			[]Op{RemoveField{Field: counterN}}, DefaultLimits, ErrNotObserved},
		{"removal of an element of an absent nested set", []Op{inc(counterN, 1)}, State.Context,
			[]Op{UpdateField{Field: setS, Op: Remove{Element: "x"}}}, DefaultLimits, ErrNotObserved},
		{"an operation of another kind than the value", []Op{Add{Element: "x"}}, nil,
			[]Op{Increment{By: 1}}, DefaultLimits, ErrKind},
		{"a field operation of another kind than the field", nil, nil,
			[]Op{UpdateField{Field: counterN, Op: Add{Element: "x"}}}, DefaultLimits, ErrKind},
		{"a field of no valid kind", nil, nil,
			[]Op{UpdateField{Field: Field{Name: "f"}, Op: nil}}, DefaultLimits, ErrKind},
		{"a nil operation", nil, nil, []Op{nil}, DefaultLimits, ErrKind},
		{"an increment past the int64 total", []Op{Increment{By: math.MaxInt64}}, nil,
			[]Op{Increment{By: 1}}, DefaultLimits, ErrOverflow},
		{"a decrement past the int64 total", []Op{Increment{By: math.MinInt64}}, nil,
			[]Op{Increment{By: -1}}, DefaultLimits, ErrOverflow},
		{"a set past MaxElements", []Op{Add{Element: "x"}, Add{Element: "y"}}, nil,
			[]Op{Add{Element: "z"}}, small, ErrLimit},
		{"a map past MaxElements", []Op{inc(counterN, 1), inc(Field{Name: "m", Kind: KindCounter}, 1)}, nil,
			[]Op{inc(Field{Name: "o", Kind: KindCounter}, 1)}, small, ErrLimit},
		{"maps nested past MaxDepth", nil, nil,
			[]Op{UpdateField{Field: mapM, Op: UpdateField{Field: mapM, Op: inc(counterN, 1)}}}, small, ErrLimit},
		{"a state past MaxBytes", nil, nil,
			[]Op{Assign{Value: string(make([]byte, 300))}}, small, ErrLimit},
		{"a batch fails whole when one op fails", nil, nil,
			[]Op{Add{Element: "x"}, Remove{Element: "y"}}, DefaultLimits, ErrNotObserved},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			s, _, err := Apply(State{}, Update{Actor: actorA, Ops: tt.setup}, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			var ctx Context
			if tt.ctx != nil {
				ctx = tt.ctx(s)
			}
			next, delta, err := Apply(s, Update{Actor: actorA, Context: ctx, Ops: tt.ops}, tt.lim)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if next.Value() != nil || delta.Value() != nil {
				t.Fatal("a refused update returned a state")
			}
		})
	}
}

// unseen is a context beyond what seen holds: another actor's update.
func unseen(seen State) Context {
	return unionContexts(seen.Context(), contextOf([]vclock.Dot{{Actor: actorB, Counter: 1}}))
}

// A no-op leaves the state as it was: nothing to disable, a stale LWW write.
func TestNoOps(t *testing.T) {
	for _, tt := range []struct {
		rule  string
		setup []Op
		op    Op
	}{
		{"disable of a flag never enabled", nil, Disable{}},
		{"disable of a flag enabled unseen by the context", []Op{Enable{}}, Disable{}},
		{"LWW assignment older than the winner", []Op{AssignAt{Value: "p", Timestamp: 9}}, AssignAt{Value: "q", Timestamp: 8}},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			s, _, err := Apply(State{}, Update{Actor: actorA, Ops: tt.setup}, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			next, delta, err := Apply(s, Update{Actor: actorB, Ops: []Op{tt.op}}, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !delta.Context().IsEmpty() || (s.Value() != nil && !same(next, s)) {
				t.Fatalf("no-op changed the state: delta context %v", delta.Context())
			}
		})
	}
}
