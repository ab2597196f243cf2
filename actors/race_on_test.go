//go:build race

package actors

// raceEnabled: the race detector is on (two actor systems in one process
// trip it inside protoactor, PROTOACTOR-NOTES).
const raceEnabled = true
