package actorkit

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// echo answers every string with itself.
type echo struct{}

func (echo) Receive(ctx actor.Context) {
	if s, ok := ctx.Message().(string); ok {
		ctx.Respond(s)
	}
}

// asker sends one request through a Redelivery when it starts and reports
// what it gets back.
type asker struct {
	to      *actor.PID
	timers  SelfTimers
	sends   Redelivery
	answers chan<- string
	letters chan<- struct{} // a dead letter response reached the state machine
}

func (a *asker) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.DeadLetterResponse); ok {
		select {
		case a.letters <- struct{}{}:
		default:
		}
	}
	if a.sends.Receive(ctx, &a.timers) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.sends.Request(ctx, a.to, "ping")
	case *actor.Stopping:
		a.timers.Stop()
	case string:
		a.answers <- m
	}
}

// A request that comes back as a dead letter response naming its target
// (as protoactor's endpoint writer answers the requests it queued while
// it retried a restarting peer) is sent again, and the target takes it.
func TestRedeliverySendsAgainWhatCameBackUndelivered(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	answers, letters := make(chan string, 1), make(chan struct{}, 1)
	target := actor.NewPID(sys.Address(), "late")
	pid := sys.Root.Spawn(Props(func() actor.Actor {
		return &asker{to: target, sends: Redelivery{After: 10 * time.Millisecond}, answers: answers, letters: letters}
	}))
	defer sys.Root.Stop(pid)
	// The first request reaches no actor: the local dead letter process
	// answers without naming the target, which is not enough to resend.
	select {
	case <-letters:
	case <-time.After(5 * time.Second):
		t.Fatal("the request to a missing actor came back as no dead letter response")
	}
	if _, err := sys.Root.SpawnNamed(Props(func() actor.Actor { return echo{} }), "late"); err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(pid, &actor.DeadLetterResponse{Target: target})
	select {
	case got := <-answers:
		if got != "ping" {
			t.Fatalf("answer %q, want ping", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request was not sent again after it came back undelivered")
	}
}

// A dead letter response for a target the state machine never asked
// through its Redelivery is taken and sends nothing.
func TestRedeliveryIgnoresResponsesForOtherTargets(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	var r Redelivery
	var timers SelfTimers
	got := make(chan bool, 1)
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.DeadLetterResponse); ok {
			got <- r.Receive(ctx, &timers)
		}
	}))
	defer sys.Root.Stop(pid)
	sys.Root.Send(pid, &actor.DeadLetterResponse{Target: actor.NewPID(sys.Address(), "never-asked")})
	select {
	case taken := <-got:
		if !taken {
			t.Fatal("a dead letter response was not taken by Receive")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter response")
	}
	if len(timers) != 0 {
		t.Fatalf("%d sends scheduled for a target never asked", len(timers))
	}
	sys.Root.Send(pid, &actor.DeadLetterResponse{}) // a local dead letter names no target
	select {
	case taken := <-got:
		if !taken || len(timers) != 0 {
			t.Fatalf("a dead letter response naming no target: taken %v, %d sends scheduled", taken, len(timers))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter response")
	}
}

// However many dead letter responses name a target (a peer may send any
// number), one resend waits for it at a time.
func TestRedeliverySchedulesOneResendPerTarget(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	r := Redelivery{After: time.Hour} // the timer never fires in the test
	var timers SelfTimers
	target := actor.NewPID(sys.Address(), "down")
	pending := make(chan int, 2)
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			r.Request(ctx, target, "ping")
		case *actor.Stopping:
			timers.Stop()
		case *actor.DeadLetterResponse:
			r.Receive(ctx, &timers)
			if m.Target != nil {
				pending <- len(timers)
			}
		}
	}))
	defer sys.Root.Stop(pid)
	for i := range 2 {
		sys.Root.Send(pid, &actor.DeadLetterResponse{Target: target})
		select {
		case n := <-pending:
			if n != 1 {
				t.Fatalf("after %d responses naming the target: %d resends scheduled, want 1", i+1, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no dead letter response")
		}
	}
}
