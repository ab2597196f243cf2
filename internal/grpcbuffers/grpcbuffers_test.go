package grpcbuffers

import "testing"

func TestPoolReusesBuffersByTier(t *testing.T) {
	p := New([]int{16, 64})
	for _, tc := range []struct {
		rule        string
		length, cap int
	}{
		{"a small buffer comes from the smallest tier that holds it", 10, 16},
		{"a buffer of a tier's size comes from that tier", 16, 16},
		{"a larger one from the next tier", 17, 64},
		{"one past every tier is allocated to its length", 100, 100},
		{"an empty one comes from the smallest tier", 0, 16},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			b := p.Get(tc.length)
			if len(*b) != tc.length || cap(*b) != tc.cap {
				t.Fatalf("len %d cap %d, want %d and %d", len(*b), cap(*b), tc.length, tc.cap)
			}
			p.Put(b)
		})
	}
	// A buffer is handed out at the length asked, in its tier's
	// capacity, whether reused or new (sync.Pool may drop what it holds).
	b := p.Get(64)
	copy(*b, "written")
	p.Put(b)
	again := p.Get(20)
	if len(*again) != 20 || cap(*again) != 64 {
		t.Fatalf("len %d cap %d, want 20 and 64", len(*again), cap(*again))
	}
	// One of a capacity no tier has is not pooled: a Get of that tier
	// never returns a buffer shorter than the tier.
	p.Put(&[]byte{1, 2, 3})
	if c := p.Get(16); cap(*c) != 16 {
		t.Fatalf("cap %d, want 16", cap(*c))
	}
}
