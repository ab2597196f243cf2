package actorkit

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// protoactor registers a spawned actor's process under its name before it
// gives the mailbox its dispatcher (props.go: ProcessRegistry.Add, then
// RegisterHandlers). A message that reaches the name in between, such as a
// timer of an earlier actor of the same name (a replay worker, a vnode
// spawned again by its restarted parent) or a peer's message for a
// vnode, is scheduled on a nil dispatcher: the sender's goroutine panics
// and the process dies. Every actor here gets a mailbox that keeps what
// arrives before its handlers, in order, and posts it once they are set.

// Props is actor.PropsFromProducer with that mailbox, which keeps the
// messages posted before the actor's handlers are set and posts them, in
// order, once they are: every actor of a node is spawned with it.
func Props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(producer, append([]actor.PropsOption{actor.WithMailbox(newEarlyMailbox)}, opts...)...)
}

// earlyMailbox wraps protoactor's unbounded mailbox, holding messages
// posted before RegisterHandlers.
type earlyMailbox struct {
	inner actor.Mailbox
	ready atomic.Bool
	mu    sync.Mutex
	early []earlyMessage // under mu, until ready
}

type earlyMessage struct {
	msg    any
	system bool
}

var unboundedMailbox = actor.Unbounded()

func newEarlyMailbox() actor.Mailbox { return &earlyMailbox{inner: unboundedMailbox()} }

func (m *earlyMailbox) PostUserMessage(msg any)   { m.post(msg, false) }
func (m *earlyMailbox) PostSystemMessage(msg any) { m.post(msg, true) }

func (m *earlyMailbox) post(msg any, system bool) {
	if !m.ready.Load() {
		m.mu.Lock()
		if !m.ready.Load() {
			m.early = append(m.early, earlyMessage{msg, system})
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
	}
	m.postInner(msg, system)
}

func (m *earlyMailbox) postInner(msg any, system bool) {
	if system {
		m.inner.PostSystemMessage(msg)
	} else {
		m.inner.PostUserMessage(msg)
	}
}

// RegisterHandlers sets the inner mailbox's handlers, then posts what came
// early; posts that wait on the lock meanwhile follow it, in order.
func (m *earlyMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.inner.RegisterHandlers(invoker, dispatcher)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.early {
		m.postInner(e.msg, e.system)
	}
	m.early = nil
	m.ready.Store(true)
}

func (m *earlyMailbox) Start()                { m.inner.Start() }
func (m *earlyMailbox) UserMessageCount() int { return m.inner.UserMessageCount() }
