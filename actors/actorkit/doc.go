// Package actorkit owns the plumbing every actor of a node shares: the
// mailbox that keeps messages posted before an actor's handlers are set,
// self timers, supervision that stops a crashed child, and the guarded
// remote endpoint.
package actorkit
