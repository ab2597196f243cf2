package actorkit

import "github.com/asynkron/protoactor-go/actor"

// StopOnCrash supervises children that must be stopped when they fail, never
// restarted in place: a restarted actor keeps its PID, so replies meant for
// the failed instance would reach the new one.
func StopOnCrash() actor.PropsOption {
	return actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective }))
}
