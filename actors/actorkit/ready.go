package actorkit

import "sync"

// ReadySignal is closed once; a node's Start waits on it so that no request
// is sent to an actor whose spawn is still in progress.
type ReadySignal struct {
	once sync.Once
	ch   chan struct{}
}

// NewReadySignal returns a signal not yet done.
func NewReadySignal() *ReadySignal { return &ReadySignal{ch: make(chan struct{})} }

// Done marks the signal done; later calls do nothing.
func (r *ReadySignal) Done() { r.once.Do(func() { close(r.ch) }) }

// C is closed once Done is called.
func (r *ReadySignal) C() <-chan struct{} { return r.ch }
