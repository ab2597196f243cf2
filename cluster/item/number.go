package item

import (
	"errors"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// DynamoDB's number limits (developer guide, "Constraints": data types,
// Number).
const (
	// MaxNumberDigits is the most significant digits a number may have.
	MaxNumberDigits = 38
	// maxNumberExp and minNumberExp bound a nonzero number's magnitude
	// written as 0.d1d2... × 10^exp: 9.99...E+125 is 0.999... × 10^126 and
	// 1E-130 is 0.1 × 10^-129.
	maxNumberExp = 126
	minNumberExp = -129
)

// ErrNumber reports a number DynamoDB would refuse.
var ErrNumber = errors.New("invalid number")

// Number is a DynamoDB number in canonical form: 0.Digits × 10^exp, with no
// leading or trailing zeros in Digits (zero has none). The canonical form
// makes == mean numeric equality (1.50 and 1.5 are one Number), gives the
// key encoding its layout directly and makes the size DynamoDB charges (one
// byte per two digits) plain to see. apd does the parsing and arithmetic.
type Number struct {
	neg    bool
	digits string
	exp    int
}

// Zero is the number 0.
var Zero = Number{}

// ParseNumber reads a number as DynamoDB's JSON carries it ("1.5", "-3e7",
// ".5", "+2E-3") and refuses what DynamoDB refuses: more than 38
// significant digits, a magnitude outside 1E-130 .. 9.99...E+125, and
// anything that is not a decimal number (NaN, infinities, spaces). It
// scans the text once rather than handing it to apd: a megabyte of zeros
// must cost a scan, not a big-integer conversion. The number may keep a
// part of s (its digits, when no point splits them) rather than a copy.
func ParseNumber(s string) (Number, error) {
	bad := func() (Number, error) {
		return Number{}, errorf(ErrNumber, "A value provided cannot be converted into a number: %.64q", s)
	}
	i := 0
	var n Number
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		n.neg = s[i] == '-'
		i++
	}
	var buf [MaxNumberDigits + 2]byte
	digits := buf[:0] // significant digits, leading zeros left out
	fraction := 0     // digits after the point
	seenDigit, seenPoint := false, false
	// first is where the significant digits start in s; split, that a
	// point comes between two of them: when not, they are s[first:] up
	// to their length, and the number takes them from s without a copy.
	first, split := -1, false
mantissa:
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			seenDigit = true
			if seenPoint {
				fraction++
			}
			if c != '0' || len(digits) > 0 {
				if first < 0 {
					first = i
				}
				digits = append(digits, c)
			}
		case c == '.' && !seenPoint:
			seenPoint = true
			split = first >= 0
		default:
			break mantissa
		}
	}
	if !seenDigit {
		return bad()
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		start := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if exp = exp*10 + int(s[i]-'0'); exp > maxExponentText {
				return Number{}, errorf(ErrNumber, "The exponent of %.64q is out of range", s)
			}
		}
		if i == start {
			return bad()
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return bad()
	}
	var trimmed string
	if first >= 0 && !split {
		trimmed = strings.TrimRight(s[first:first+len(digits)], "0")
	} else {
		trimmed = strings.TrimRight(string(digits), "0")
	}
	if trimmed == "" {
		return Zero, nil
	}
	// The value is digits × 10^(exp - fraction), that is 0.digits ×
	// 10^(len(digits) + exp - fraction); trailing zeros do not move it.
	n.digits = trimmed
	n.exp = len(digits) + exp - fraction
	return n.check()
}

// maxExponentText bounds the exponent written in a number's text (as apd
// bounds it): no number DynamoDB stores needs more than a few hundred, and
// the bound keeps the arithmetic on it in range.
const maxExponentText = apd.MaxExponent

// MustNumber is ParseNumber for constants in code and tests; it panics on
// a malformed number.
func MustNumber(s string) Number {
	n, err := ParseNumber(s)
	if err != nil {
		panic(err)
	}
	return n
}

func fromDecimal(d *apd.Decimal) (Number, error) {
	digits := d.Coeff.String()
	exp := int(d.Exponent)
	if digits == "0" {
		return Zero, nil
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	n := Number{neg: d.Negative, digits: trimmed, exp: exp + len(trimmed)}
	return n.check()
}

// check refuses a number DynamoDB cannot store, naming the limit.
func (n Number) check() (Number, error) {
	if n.exp > maxNumberExp {
		return Number{}, errorf(ErrNumber, "Number overflow. Attempting to store a number with magnitude larger than supported range (at most 9.9999999999999999999999999999999999999E+125)")
	}
	if n.exp < minNumberExp {
		return Number{}, errorf(ErrNumber, "Number underflow. Attempting to store a number with magnitude smaller than supported range (at least 1E-130)")
	}
	if len(n.digits) > MaxNumberDigits {
		return Number{}, errorf(ErrNumber, "Attempting to store more than %d significant digits in a Number", MaxNumberDigits)
	}
	return n, nil
}

func (n Number) decimal() *apd.Decimal {
	if n.digits == "" {
		return apd.New(0, 0)
	}
	var coeff apd.BigInt
	if _, ok := coeff.SetString(n.digits, 10); !ok {
		panic("item: corrupt number digits " + n.digits) // digits are checked when a Number is made
	}
	d := apd.NewWithBigInt(&coeff, int32(n.exp-len(n.digits)))
	d.Negative = n.neg
	return d
}

// Add is n + m, exact; a result DynamoDB cannot store (more than 38
// digits, or out of range) is an error, never rounded.
func (n Number) Add(m Number) (Number, error) { return n.arith(m, false) }

// Sub is n - m, exact, refused as Add refuses.
func (n Number) Sub(m Number) (Number, error) { return n.arith(m, true) }

func (n Number) arith(m Number, sub bool) (Number, error) {
	var d apd.Decimal
	var err error
	// BaseContext has precision 0: no rounding, the result is exact.
	if sub {
		_, err = apd.BaseContext.Sub(&d, n.decimal(), m.decimal())
	} else {
		_, err = apd.BaseContext.Add(&d, n.decimal(), m.decimal())
	}
	if err != nil {
		return Number{}, errorf(ErrNumber, "%v", err)
	}
	return fromDecimal(&d)
}

// Sign is -1, 0 or 1.
func (n Number) Sign() int {
	switch {
	case n.digits == "":
		return 0
	case n.neg:
		return -1
	}
	return 1
}

// Cmp orders numbers by value: -1 if n < m, 0 if equal, 1 if n > m.
func (n Number) Cmp(m Number) int {
	if s, t := n.Sign(), m.Sign(); s != t || s == 0 {
		return cmpInt(s, t)
	}
	c := cmpInt(n.exp, m.exp)
	if c == 0 {
		c = strings.Compare(n.digits, m.digits) // equal exponents: digit strings order the magnitudes
	}
	if n.neg {
		return -c
	}
	return c
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Digits is how many significant digits n has (0 for zero).
func (n Number) Digits() int { return len(n.digits) }

// size is what DynamoDB charges for a number: one byte per two significant
// digits plus one (developer guide, "Item sizes and formats").
func (n Number) size() int { return (len(n.digits)+1)/2 + 1 }

// String is n's canonical text: equal numbers have equal strings. It is
// always plain decimal notation ("-12.5", "0.001", "1200"), never with an
// exponent, as DynamoDB returns numbers (1.5E2 comes back as 150); at most
// 126 digits before the point or 130 after it.
func (n Number) String() string {
	if n.digits == "" {
		return "0"
	}
	var b strings.Builder
	if n.neg {
		b.WriteByte('-')
	}
	d, e := n.digits, n.exp
	switch {
	case e >= len(d):
		b.WriteString(d)
		b.WriteString(strings.Repeat("0", e-len(d)))
	case e > 0:
		b.WriteString(d[:e])
		b.WriteByte('.')
		b.WriteString(d[e:])
	default:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -e))
		b.WriteString(d)
	}
	return b.String()
}
