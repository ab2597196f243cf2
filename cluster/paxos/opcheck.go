package paxos

import (
	"errors"
	"fmt"
)

// CheckFromClient refuses an op a client may not ask for, before any
// proposer runs it: an unknown kind would be written as a put, an unknown
// condition would always hold. OpComplete and OpErase are the node's own
// (anti-entropy's completing round, reaping) and are refused as unknown.
func (op Op) CheckFromClient() error {
	switch op.Kind {
	case OpGet, OpPut, OpDelete:
	case OpUpdate:
		if op.Update == nil || op.Cond != CondNone {
			return errors.New("strong op: an update needs its function and takes its condition inside it")
		}
	default:
		return fmt.Errorf("strong op: unknown kind %d", op.Kind)
	}
	switch op.Cond {
	case CondNone, CondAbsent, CondVersion:
	default:
		return fmt.Errorf("strong op: unknown condition %d", op.Cond)
	}
	if op.Kind == OpGet && op.Cond != CondNone {
		return errors.New("strong op: a get takes no condition")
	}
	return nil
}
