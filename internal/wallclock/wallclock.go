// Package wallclock is the node's wall clock: the time it stamps on
// versions (written_at, the timestamps vector clocks are pruned by), reaps
// tombstones by, ages hints by, and numbers its generations with.
//
// It is time.Now plus an offset that is zero except in tests, which set it
// to run nodes whose clocks disagree or jump (the nemesis' clock skew, as
// libfaketime would, which Go programs ignore). The offset moves the wall
// reading and the monotonic reading together, as a stepped system clock
// does to every later time.Now; intervals measured across a step include
// it, as they would on a machine whose clock was stepped.
package wallclock

import (
	"sync/atomic"
	"time"
)

var offset atomic.Int64 // nanoseconds

// Now is the node's wall-clock time.
func Now() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

// SetOffset sets how far this process's clock is from the machine's; only
// tests set it (--unsafe-test-clock-offset, Admin.SetClockOffset).
func SetOffset(d time.Duration) { offset.Store(int64(d)) }

// Offset is the offset last set.
func Offset() time.Duration { return time.Duration(offset.Load()) }
