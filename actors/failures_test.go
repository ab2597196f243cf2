package actors

import "testing"

func TestActorKind(t *testing.T) {
	for id, want := range map[string]string{
		"node/vnodes/vnode-12":               "vnode",
		"node/coordinator/put-8812":          "put",
		"node/handoff/transfer-3-1733140000": "transfer",
		"node/repair/exchange-7-n2":          "exchange",
		"node/gossiper":                      "gossiper",
		"hints":                              "hints",
		"node/x/$12":                         "other",
		"":                                   "other",
	} {
		if got := actorKind(id); got != want {
			t.Errorf("actorKind(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestFailureTableCountsByKindAndDirective(t *testing.T) {
	var ft failureTable
	ft.add("node/vnodes/vnode-1", "RestartDirective")
	ft.add("node/vnodes/vnode-2", "RestartDirective")
	ft.add("node/coordinator/put-3", "StopDirective")
	got := ft.snapshot()
	want := []ActorFailure{{"put", "stop", 1}, {"vnode", "restart", 2}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("snapshot %+v, want %+v", got, want)
	}
}
