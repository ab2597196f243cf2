package crdt

import (
	"fmt"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Flag is an enable-wins flag: Enable replaces its dots with a new one,
// Disable takes away the ones the client saw, and it is enabled while any
// dot is left, so an enable concurrent with a disable wins.
type Flag struct {
	dots []vclock.Dot // sorted
}

// Enable turns a Flag on.
type Enable struct{}

// Disable turns a Flag off, as far as the client saw it on. Disabling a flag
// the client never saw enabled is a no-op.
type Disable struct{}

func (Enable) Kind() Kind  { return KindFlag }
func (Disable) Kind() Kind { return KindFlag }
func (Flag) Kind() Kind    { return KindFlag }

// Enabled reports whether the flag is on.
func (f Flag) Enabled() bool { return len(f.dots) > 0 }

func (f Flag) apply(op Op, u *update) (Value, []vclock.Dot, error) {
	switch op.(type) {
	case Enable:
		return Flag{dots: []vclock.Dot{u.dot}}, append(slices.Clone(f.dots), u.dot), nil
	case Disable:
		gone, err := u.removable(f.dots)
		if err != nil {
			return nil, nil, fmt.Errorf("disable: %w", err)
		}
		return Flag{}, gone, nil
	default:
		return nil, nil, fmt.Errorf("%T on a flag: %w", op, ErrKind)
	}
}

func (f Flag) join(own Context, o Value, theirs Context) Value {
	return Flag{dots: joinDots(f.dots, own, o.(Flag).dots, theirs)}
}

func (f Flag) leq(own Context, o Value, theirs Context) bool {
	return leqDots(f.dots, own, o.(Flag).dots, theirs)
}

func (f Flag) appendDots(ds []vclock.Dot) []vclock.Dot { return append(ds, f.dots...) }

func (f Flag) isEmpty() bool { return len(f.dots) == 0 }
