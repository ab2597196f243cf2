package expr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// Kind names an expression parameter, as DynamoDB's messages name it.
type Kind string

// The expression parameters.
const (
	KindCondition    Kind = "ConditionExpression"
	KindFilter       Kind = "FilterExpression"
	KindKeyCondition Kind = "KeyConditionExpression"
	KindProjection   Kind = "ProjectionExpression"
	KindUpdate       Kind = "UpdateExpression"
)

type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // a bare word: an attribute name, keyword or function
	tName           // #name
	tValue          // :value
	tNumber         // digits (a list index)
	tPunct          // ( ) [ ] , . = <> < <= > >= + -
)

type token struct {
	kind tokKind
	text string
	off  int
}

// lex splits s into tokens; ok is false at a character no token starts
// with, and bad is that token.
func lex(s string) (toks []token, bad token, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			toks = append(toks, token{tIdent, s[start:i], start})
		case c >= '0' && c <= '9':
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			toks = append(toks, token{tNumber, s[start:i], start})
		case c == '#' || c == ':':
			i++
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			if i == start+1 {
				return nil, token{tPunct, s[start:i], start}, false
			}
			kind := tName
			if c == ':' {
				kind = tValue
			}
			toks = append(toks, token{kind, s[start:i], start})
		case c == '<' || c == '>':
			i++
			if i < len(s) && (s[i] == '=' || c == '<' && s[i] == '>') {
				i++
			}
			toks = append(toks, token{tPunct, s[start:i], start})
		case strings.IndexByte("()[],.=+-", c) >= 0:
			i++
			toks = append(toks, token{tPunct, s[start:i], start})
		default:
			end := i + 1
			for end < len(s) && s[end] >= 0x80 && s[end] < 0xC0 { // the rest of a UTF-8 character
				end++
			}
			return nil, token{tPunct, s[start:end], start}, false
		}
	}
	return append(toks, token{tEOF, "<EOF>", len(s)}), token{}, true
}

type parser struct {
	kind  Kind
	src   string
	toks  []token
	pos   int
	attrs *Attributes
	ops   int
	// names are the top-level attribute names the expression refers to.
	names map[string]bool
}

func newParser(kind Kind, src string, attrs *Attributes) (*parser, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errorf(ErrInvalid, "Invalid %s: The expression can not be empty", kind)
	}
	if len(src) > MaxExpressionLength {
		return nil, errorf(ErrInvalid, "Invalid %s: Expression size has exceeded the maximum allowed size (%d bytes, the limit is %d)", kind, len(src), MaxExpressionLength)
	}
	toks, bad, ok := lex(src)
	if !ok {
		return nil, errorf(ErrInvalid, "Invalid %s: Syntax error; token: %q, near: %q", kind, bad.text, near(src, bad.off, bad.off+len(bad.text)))
	}
	return &parser{kind: kind, src: src, toks: toks, attrs: attrs, names: map[string]bool{}}, nil
}

func near(src string, from, to int) string {
	const context = 8
	return src[max(0, from-context):min(len(src), to+context)]
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekAt(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errorf(format string, args ...any) error {
	return errorf(ErrInvalid, "Invalid %s: %s", p.kind, fmt.Sprintf(format, args...))
}

// syntax is a syntax error at token t.
func (p *parser) syntax(t token) error {
	return p.errorf("Syntax error; token: %q, near: %q", t.text, near(p.src, t.off, t.off+len(t.text)))
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) expect(s string) error {
	if !p.isPunct(s) {
		return p.syntax(p.peek())
	}
	p.next()
	return nil
}

// isKeyword reports whether the next token is the keyword kw (keywords
// are case-insensitive; function names are not).
func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) end() error {
	if t := p.peek(); t.kind != tEOF {
		return p.syntax(t)
	}
	return nil
}

// operator counts one operator or function against MaxOperators.
func (p *parser) operator() error {
	p.ops++
	if p.ops > MaxOperators {
		return p.errorf("The expression has more than %d operators or functions", MaxOperators)
	}
	return nil
}

// isFunction reports whether the next tokens are a function call.
func (p *parser) isFunction() bool {
	return p.peek().kind == tIdent && p.peekAt(1).kind == tPunct && p.peekAt(1).text == "("
}

// path reads a document path: name or #name, then .name, .#name or [n].
func (p *parser) path() (Path, error) {
	first, err := p.pathName()
	if err != nil {
		return nil, err
	}
	path := Path{{Name: first}}
	p.names[first] = true
	for {
		switch {
		case p.isPunct("."):
			p.next()
			n, err := p.pathName()
			if err != nil {
				return nil, err
			}
			path = append(path, PathElem{Name: n})
		case p.isPunct("["):
			p.next()
			t := p.next()
			if t.kind != tNumber {
				return nil, p.syntax(t)
			}
			i, err := strconv.Atoi(t.text)
			if err != nil || i > item.MaxItemSize { // no list has more elements than an item has bytes
				return nil, p.errorf("The list index %.32s is out of range", t.text)
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			path = append(path, PathElem{Index: i, IsIndex: true})
		default:
			return path, nil
		}
		if len(path) > MaxPathDepth {
			return nil, p.errorf("The document path has more than %d elements; Nesting Levels have exceeded supported limits", MaxPathDepth)
		}
	}
}

func (p *parser) pathName() (string, error) {
	t := p.next()
	switch t.kind {
	case tName:
		return p.attrs.name(t.text)
	case tIdent:
		if IsReserved(t.text) {
			return "", p.errorf("Attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		return t.text, nil
	}
	return "", p.syntax(t)
}

// value reads a :value placeholder.
func (p *parser) value() (*valueOp, error) {
	t := p.next()
	if t.kind != tValue {
		return nil, p.syntax(t)
	}
	v, err := p.attrs.value(t.text)
	if err != nil {
		return nil, err
	}
	return &valueOp{v: v, name: t.text}, nil
}

// args reads a function's parenthesised arguments, each with read.
func (p *parser) args(fn string, n int, read func(i int) error) error {
	if err := p.expect("("); err != nil {
		return err
	}
	for i := range n {
		if i > 0 {
			if !p.isPunct(",") {
				return p.errorf("Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", fn, i)
			}
			p.next()
		}
		if err := read(i); err != nil {
			return err
		}
	}
	if p.isPunct(",") {
		return p.errorf("Incorrect number of operands for operator or function; operator or function: %s, number of operands: more than %d", fn, n)
	}
	return p.expect(")")
}

func (p *parser) topNames() []string {
	out := make([]string, 0, len(p.names))
	for n := range p.names {
		out = append(out, n)
	}
	return out
}
