package hlc

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config tunes a Clock. Start from DefaultConfig.
type Config struct {
	// MaxForwardDrift is how far ahead of local physical time a received
	// stamp may be; Observe refuses one further ahead. Without a bound, one
	// peer whose clock is years ahead would pin every node's clock: each
	// node that heard from it would stamp its own writes years ahead, and
	// those stamps would carry the error on to the rest of the cluster,
	// where it stays after the peer's clock is fixed, since a Clock never
	// goes back. Every write stamped in that time would beat every write
	// of the next years whatever their causal order. CockroachDB bounds it
	// the same way (its maximum clock offset). It must exceed the skew
	// between healthy nodes plus the time a stamp is in flight: a write
	// whose context carries a stamp beyond it is refused, not ordered.
	// Default 5 minutes.
	MaxForwardDrift time.Duration
}

// DefaultMaxForwardDrift is DefaultConfig's MaxForwardDrift: far beyond
// the skew of clocks kept by NTP, far below a misset clock's error.
const DefaultMaxForwardDrift = 5 * time.Minute

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{MaxForwardDrift: DefaultMaxForwardDrift} }

// ErrTooFarAhead reports a received stamp more than MaxForwardDrift ahead
// of local physical time.
var ErrTooFarAhead = errors.New("timestamp too far ahead of the local clock")

// Clock issues one node's timestamps (Kulkarni et al., "Logical Physical
// Clocks", 2014). Its wall is the highest physical time it has seen, on
// the local clock or in a stamp it received; the logical counter orders the
// stamps it issues while that wall stands. It is not safe for concurrent
// use: its owner serialises the calls.
//
// The clock need not survive a restart: After's guarantee comes from the
// stamps writes carry, not from the clock's memory. (A restarted clock may
// reissue a hybrid time it issued before; CompareVersions settles the tie.)
type Clock struct {
	node    string
	cfg     Config
	wall    int64  // Wall of the highest stamp issued or observed
	logical uint32 // its Logical
}

// NewClock makes node's clock, which has seen nothing yet. The node id must
// be 1 to MaxNodeLen bytes and MaxForwardDrift positive.
func NewClock(node string, cfg Config) (*Clock, error) {
	if err := (Timestamp{Node: node}).Check(); err != nil {
		return nil, fmt.Errorf("new clock: %w", err)
	}
	if cfg.MaxForwardDrift <= 0 {
		return nil, fmt.Errorf("new clock: max forward drift %v must be positive", cfg.MaxForwardDrift)
	}
	return &Clock{node: node, cfg: cfg}, nil
}

// Now issues a stamp at physical time physical (Unix nanoseconds), strictly
// higher than every stamp the clock issued or observed: its wall is
// physical when physical time is ahead of the clock, and otherwise (it
// stood still, went backwards, or a received stamp is ahead) the wall
// stays and Logical advances. When Logical is at its maximum it carries
// into the wall: the stamp is one nanosecond later with Logical 0, which
// is still strictly higher and only runs ahead of physical time by a
// nanosecond per 2^32 stamps.
//
// Wall is Unix nanoseconds, which int64 holds until the year 2262; the
// clock does not handle the end of that range.
func (c *Clock) Now(physical int64) Timestamp {
	switch {
	case physical > c.wall:
		c.wall, c.logical = physical, 0
	case c.logical == math.MaxUint32:
		c.wall, c.logical = c.wall+1, 0
	default:
		c.logical++
	}
	return Timestamp{Wall: c.wall, Logical: c.logical, Node: c.node}
}

// Observe advances the clock to a stamp received at physical time
// physical, so that every stamp it issues afterwards is higher than ts.
// Nodes observe every stamp they receive: the context of a write, the
// writes they store as replicas, and those read repair, hints and
// anti-entropy bring. It refuses an invalid stamp (ErrInvalid) and one more
// than MaxForwardDrift ahead of physical (ErrTooFarAhead), and then leaves
// the clock as it was: the caller should refuse what carried the stamp.
func (c *Clock) Observe(ts Timestamp, physical int64) error {
	if err := ts.Check(); err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	// ts.Wall ≥ 0 and the drift is positive, so the subtraction cannot
	// overflow where physical+drift could.
	if physical < ts.Wall-int64(c.cfg.MaxForwardDrift) {
		return fmt.Errorf("observe %v at local time %s: %w (by more than %v)", ts,
			time.Unix(0, physical).UTC().Format(time.RFC3339Nano), ErrTooFarAhead, c.cfg.MaxForwardDrift)
	}
	if ts.Wall > c.wall || (ts.Wall == c.wall && ts.Logical > c.logical) {
		c.wall, c.logical = ts.Wall, ts.Logical
	}
	return nil
}

// After stamps a write at physical time physical that causally follows the
// write stamped ctx: the writer read it (ctx is the stamp in the context it
// wrote with) or made it (ctx is the stamp its previous write returned).
// The stamp is strictly higher than ctx whatever the skew between the node
// that issued ctx and this one, so the write never loses to the one it
// follows. The zero ctx (a blind write) gives Now(physical). Errors are
// Observe's: the write must then be refused, not stamped lower.
func (c *Clock) After(ctx Timestamp, physical int64) (Timestamp, error) {
	if !ctx.IsZero() {
		if err := c.Observe(ctx, physical); err != nil {
			return Timestamp{}, err
		}
	}
	return c.Now(physical), nil
}

// JustAfter stamps a write that must win over the write stamped ctx and
// over nothing else: the lowest stamp of this clock's node above ctx
// (ctx's Logical plus one, carried into the wall at its maximum). The
// expiry of an item is one: it deletes the version it found expired, and
// any later write of the item, stamped when it was made, wins over the
// deletion. The clock observes ctx (Observe's errors refuse the write) but
// issues nothing: the stamp is below the clock's own.
func (c *Clock) JustAfter(ctx Timestamp, physical int64) (Timestamp, error) {
	if err := c.Observe(ctx, physical); err != nil {
		return Timestamp{}, err
	}
	if ctx.Logical == math.MaxUint32 {
		return Timestamp{Wall: ctx.Wall + 1, Node: c.node}, nil
	}
	return Timestamp{Wall: ctx.Wall, Logical: ctx.Logical + 1, Node: c.node}, nil
}
