// Package faultfs makes filesystems whose write-ahead log fails, for the
// tests of what a node does when its disk does: a failed fsync, a failed
// write, a full disk. It wraps pebble's errorfs.
package faultfs

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Kind is how the log fails.
type Kind string

const (
	// Fsync: the log's syncs fail with EIO, as a dying disk's do.
	Fsync Kind = "fsync"
	// Write: the log's writes fail with EIO.
	Write Kind = "write"
	// NoSpace: the log's writes fail with ENOSPC, as on a full disk.
	NoSpace Kind = "enospc"
)

// Log wraps fs so that, while the returned toggle is on, pebble's
// write-ahead log (*.log) fails as kind says; the toggle starts off.
func Log(fs vfs.FS, kind Kind) (vfs.FS, *errorfs.Toggle) {
	tog := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !strings.HasSuffix(op.Path, ".log") {
			return nil
		}
		write := op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileWriteAt
		switch {
		case kind == Fsync && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData):
			return fmt.Errorf("fsync %s: %w", op.Path, syscall.EIO)
		case kind == Write && write:
			return fmt.Errorf("write %s: %w", op.Path, syscall.EIO)
		case kind == NoSpace && write:
			return fmt.Errorf("write %s: %w", op.Path, syscall.ENOSPC)
		}
		return nil
	})}
	return errorfs.Wrap(fs, tog), tog
}
