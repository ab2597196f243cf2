package expr

import (
	"maps"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// Projection is a parsed ProjectionExpression: the document paths to
// return.
type Projection struct {
	paths []Path
}

// ParseProjection parses a ProjectionExpression: document paths separated
// by commas. Two paths that overlap (one a prefix of the other, or equal)
// are refused, as DynamoDB refuses them.
func ParseProjection(s string, attrs *Attributes) (*Projection, error) {
	p, err := newParser(KindProjection, s, attrs)
	if err != nil {
		return nil, err
	}
	pr := &Projection{}
	for {
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := checkOverlap(p, pr.paths, path); err != nil {
			return nil, err
		}
		pr.paths = append(pr.paths, path)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return pr, nil
}

func checkOverlap(p *parser, paths []Path, path Path) error {
	for _, q := range paths {
		if slices.Equal(q, path) {
			return p.errorf("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", q, path)
		}
		if overlaps(q, path) {
			return p.errorf("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", q, path)
		}
	}
	return nil
}

// Paths are the projected document paths.
func (pr *Projection) Paths() []Path { return slices.Clone(pr.paths) }

// node gathers the projected parts of one value: the whole value (leaf),
// or some of its map keys or list elements.
type node struct {
	leaf  item.Value
	keys  map[string]*node
	elems map[int]*node
}

// Apply is the item with only the projected paths. Selected elements of
// a list keep their order and close up ([a[3], a[1]] gives a list of two),
// and a path that leads nowhere is left out.
func (pr *Projection) Apply(it item.Item) item.Item {
	root := &node{keys: map[string]*node{}}
	for _, path := range pr.paths {
		v := Get(it, path)
		if v == nil {
			continue
		}
		n := root
		for _, e := range path {
			if e.IsIndex {
				if n.elems == nil {
					n.elems = map[int]*node{}
				}
				if n.elems[e.Index] == nil {
					n.elems[e.Index] = &node{}
				}
				n = n.elems[e.Index]
			} else {
				if n.keys == nil {
					n.keys = map[string]*node{}
				}
				if n.keys[e.Name] == nil {
					n.keys[e.Name] = &node{}
				}
				n = n.keys[e.Name]
			}
		}
		n.leaf = v
	}
	out := item.Item{}
	for k, n := range root.keys {
		out[k] = n.build()
	}
	return out
}

func (n *node) build() item.Value {
	switch {
	case n.leaf != nil:
		return n.leaf
	case n.elems != nil:
		l := item.L{}
		for _, i := range slices.Sorted(maps.Keys(n.elems)) {
			l = append(l, n.elems[i].build())
		}
		return l
	}
	m := item.M{}
	for k, c := range n.keys {
		m[k] = c.build()
	}
	return m
}
