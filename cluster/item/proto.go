package item

import (
	"errors"
	"fmt"

	"github.com/harmoniakv/harmonia/messages/itempb"
)

// ErrProto reports a protobuf value that is not a valid AttributeValue.
var ErrProto = errors.New("invalid AttributeValue message")

// ToProto is v as a protobuf AttributeValue (nil for a nil Value).
func ToProto(v Value) *itempb.AttributeValue {
	pb := &itempb.AttributeValue{}
	switch v := v.(type) {
	case S:
		pb.Value = &itempb.AttributeValue_S{S: string(v)}
	case Number:
		pb.Value = &itempb.AttributeValue_N{N: v.String()}
	case B:
		pb.Value = &itempb.AttributeValue_B{B: []byte(v)}
	case Bool:
		pb.Value = &itempb.AttributeValue_Bool{Bool: bool(v)}
	case Null:
		pb.Value = &itempb.AttributeValue_Null{Null: true}
	case L:
		l := &itempb.ListValue{Values: make([]*itempb.AttributeValue, len(v))}
		for i, e := range v {
			l.Values[i] = ToProto(e)
		}
		pb.Value = &itempb.AttributeValue_L{L: l}
	case M:
		pb.Value = &itempb.AttributeValue_M{M: &itempb.MapValue{Values: mapToProto(v)}}
	case SS:
		pb.Value = &itempb.AttributeValue_Ss{Ss: &itempb.StringSet{Values: append([]string{}, v...)}}
	case NS:
		ns := &itempb.NumberSet{Values: make([]string, len(v))}
		for i, n := range v {
			ns.Values[i] = n.String()
		}
		pb.Value = &itempb.AttributeValue_Ns{Ns: ns}
	case BS:
		bs := &itempb.BinarySet{Values: make([][]byte, len(v))}
		for i, b := range v {
			bs.Values[i] = []byte(b)
		}
		pb.Value = &itempb.AttributeValue_Bs{Bs: bs}
	default:
		return nil
	}
	return pb
}

func mapToProto(m map[string]Value) map[string]*itempb.AttributeValue {
	out := make(map[string]*itempb.AttributeValue, len(m))
	for k, v := range m {
		out[k] = ToProto(v)
	}
	return out
}

// ItemToProto is it as a protobuf Item.
func ItemToProto(it Item) *itempb.Item {
	return &itempb.Item{Attributes: mapToProto(it)}
}

// FromProto reads a protobuf AttributeValue and refuses a malformed one:
// no type set, NULL false, a number DynamoDB refuses, an empty set or one
// with duplicates, nesting beyond MaxDepth. Sets come back in canonical
// order.
func FromProto(pb *itempb.AttributeValue) (Value, error) {
	v, err := fromProto(pb, 0)
	if err != nil {
		return nil, err
	}
	if err := Validate(v); err != nil {
		return nil, err
	}
	return v, nil
}

// ItemFromProto reads a protobuf Item, checking its names and values (not
// its size or key: see KeySchema.ValidateItem).
func ItemFromProto(pb *itempb.Item) (Item, error) {
	m, err := mapFromProto(pb.GetAttributes(), 0)
	if err != nil {
		return nil, err
	}
	for k, v := range m {
		if err := Validate(v); err != nil {
			return nil, fmt.Errorf("attribute %.64q: %w", k, err)
		}
	}
	return Item(m), nil
}

func mapFromProto(pm map[string]*itempb.AttributeValue, level int) (map[string]Value, error) {
	m := make(map[string]Value, len(pm))
	for k, e := range pm {
		if err := checkName(k); err != nil {
			return nil, err
		}
		v, err := fromProto(e, level)
		if err != nil {
			return nil, fmt.Errorf("%.64q: %w", k, err)
		}
		m[k] = v
	}
	return m, nil
}

// fromProto converts pb, which lists and maps enclose level times; it
// refuses what the Go value cannot express (no type, NULL false, a
// malformed number) and nesting past MaxDepth before walking deeper, and
// leaves the rest of the checks to Validate. Sets come out in canonical
// order.
func fromProto(pb *itempb.AttributeValue, level int) (Value, error) {
	if level >= MaxDepth {
		return nil, ErrTooDeep
	}
	var v Value
	switch x := pb.GetValue().(type) {
	case nil:
		return nil, errorf(ErrProto, "No type is set")
	case *itempb.AttributeValue_S:
		v = S(x.S)
	case *itempb.AttributeValue_N:
		n, err := ParseNumber(x.N)
		if err != nil {
			return nil, err
		}
		v = n
	case *itempb.AttributeValue_B:
		v = B(append([]byte{}, x.B...))
	case *itempb.AttributeValue_Bool:
		v = Bool(x.Bool)
	case *itempb.AttributeValue_Null:
		if !x.Null {
			return nil, errorf(ErrProto, "Null attribute value types must have the value of true")
		}
		v = Null{}
	case *itempb.AttributeValue_L:
		l := make(L, 0, len(x.L.GetValues()))
		for i, e := range x.L.GetValues() {
			ev, err := fromProto(e, level+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l = append(l, ev)
		}
		v = l
	case *itempb.AttributeValue_M:
		m, err := mapFromProto(x.M.GetValues(), level+1)
		if err != nil {
			return nil, err
		}
		v = M(m)
	case *itempb.AttributeValue_Ss:
		v = SS(append([]string{}, x.Ss.GetValues()...))
	case *itempb.AttributeValue_Ns:
		ns := make(NS, 0, len(x.Ns.GetValues()))
		for _, s := range x.Ns.GetValues() {
			n, err := ParseNumber(s)
			if err != nil {
				return nil, err
			}
			ns = append(ns, n)
		}
		v = ns
	case *itempb.AttributeValue_Bs:
		bs := make(BS, 0, len(x.Bs.GetValues()))
		for _, b := range x.Bs.GetValues() {
			bs = append(bs, append([]byte{}, b...))
		}
		v = bs
	}
	return sortSet(v), nil
}
