package crdt

// Limits bound states. Apply refuses an update that would pass them; Decode
// refuses input beyond them times Headroom, because Merge cannot refuse: a
// merge of concurrent updates that each stayed within the limits can pass
// them, and such a state must still load. The zero Limits allows nothing:
// start from DefaultLimits.
type Limits struct {
	// MaxDepth bounds how deeply maps nest; a map of counters is depth 1.
	// Merges never deepen a state, so Decode takes no headroom here.
	MaxDepth int
	// MaxElements bounds the entries of one collection: set elements, map
	// fields, register values, counter actors, and (decoding) the actors
	// and dots of a context and of one element.
	MaxElements int
	// MaxBytes bounds a state's encoded size.
	MaxBytes int
	// Headroom multiplies MaxElements and MaxBytes for Decode.
	Headroom int
}

// DefaultLimits: DynamoDB's nesting limit for depth, and sizes well above
// its 400 KB item (a CRDT item carries dots besides its values).
var DefaultLimits = Limits{MaxDepth: 32, MaxElements: 1 << 14, MaxBytes: 1 << 20, Headroom: 4}
