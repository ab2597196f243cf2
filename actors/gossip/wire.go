package gossip

import (
	"maps"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// The wire form of gossip: the core's messages (membership.Gossip*) and
// states to and from their protobufs.

// gossipFromProto is the core's form of a gossip message that came from
// the gossiper at addr ("" when it came without a sender).
func gossipFromProto(m any, addr string) any {
	switch m := m.(type) {
	case *internalpb.GossipSyn:
		return membership.GossipSyn{From: m.From, Addr: addr, Params: paramsFromProto(m.Params), Digests: digestsFromProto(m.Digests), SenderNew: m.SenderNew}
	case *internalpb.GossipAck:
		return membership.GossipAck{From: m.From, Addr: addr, Params: paramsFromProto(m.Params), States: statesFromProto(m.States),
			Requests: digestsFromProto(m.Requests), SenderWas: m.SenderWas, SenderNew: m.SenderNew}
	case *internalpb.GossipAck2:
		return membership.GossipAck2{From: m.From, Addr: addr, Params: paramsFromProto(m.Params), States: statesFromProto(m.States)}
	case *internalpb.GossipRefused:
		r := membership.GossipRefused{From: m.From, Node: m.Node, Reason: m.Reason, Identity: m.Identity}
		if m.Holder != nil {
			r.Holder = &statesFromProto([]*internalpb.NodeState{m.Holder})[0]
		}
		return r
	}
	return nil
}

// gossipToProto is the wire form of a message the core sends.
func gossipToProto(m any) any {
	switch m := m.(type) {
	case membership.GossipSyn:
		return &internalpb.GossipSyn{From: m.From, Digests: digestsToProto(m.Digests), Params: paramsToProto(m.Params), SenderNew: m.SenderNew}
	case membership.GossipAck:
		ack := &internalpb.GossipAck{From: m.From, Params: paramsToProto(m.Params), States: statesToProto(m.States), SenderWas: m.SenderWas, SenderNew: m.SenderNew}
		if len(m.Requests) > 0 {
			ack.Requests = digestsToProto(m.Requests)
		}
		return ack
	case membership.GossipAck2:
		return &internalpb.GossipAck2{From: m.From, States: statesToProto(m.States), Params: paramsToProto(m.Params)}
	case membership.GossipRefused:
		r := &internalpb.GossipRefused{From: m.From, Node: m.Node, Reason: m.Reason, Identity: m.Identity}
		if m.Holder != nil {
			r.Holder = statesToProto([]membership.NodeState{*m.Holder})[0]
		}
		return r
	}
	return nil
}

func paramsToProto(p membership.Params) *internalpb.ClusterParams {
	return &internalpb.ClusterParams{Partitions: uint32(p.Partitions), Replicas: uint32(p.Replicas), SecretFingerprints: p.SecretFingerprints}
}

func paramsFromProto(p *internalpb.ClusterParams) membership.Params {
	return membership.Params{Partitions: int(p.GetPartitions()), Replicas: int(p.GetReplicas()), SecretFingerprints: p.GetSecretFingerprints()}
}

func statesToProto(states []membership.NodeState) []*internalpb.NodeState {
	out := make([]*internalpb.NodeState, len(states))
	for i, s := range states {
		p := &internalpb.NodeState{Id: s.ID, Generation: s.Generation, Heartbeat: s.Heartbeat, Since: s.Since}
		for _, k := range slices.Sorted(maps.Keys(s.App)) {
			p.App = append(p.App, &internalpb.AppEntry{Key: k, Value: s.App[k].Value, Version: s.App[k].Version})
		}
		out[i] = p
	}
	return out
}

func statesFromProto(states []*internalpb.NodeState) []membership.NodeState {
	out := make([]membership.NodeState, 0, len(states))
	for _, p := range states {
		s := membership.NodeState{ID: p.Id, Generation: p.Generation, Heartbeat: p.Heartbeat, Since: p.Since, App: map[string]membership.Versioned{}}
		for _, a := range p.App {
			s.App[a.Key] = membership.Versioned{Value: a.Value, Version: a.Version}
		}
		out = append(out, s)
	}
	return out
}

func digestsToProto(ds []membership.Digest) []*internalpb.GossipDigest {
	out := make([]*internalpb.GossipDigest, len(ds))
	for i, d := range ds {
		out[i] = &internalpb.GossipDigest{Id: d.ID, Generation: d.Generation, MaxVersion: d.MaxVersion}
	}
	return out
}

func digestsFromProto(ds []*internalpb.GossipDigest) []membership.Digest {
	out := make([]membership.Digest, len(ds))
	for i, d := range ds {
		out[i] = membership.Digest{ID: d.Id, Generation: d.Generation, MaxVersion: d.MaxVersion}
	}
	return out
}
