package item

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		rule string
		in   string
		want string // canonical text; "" when refused
	}{
		{"an integer is itself", "42", "42"},
		{"a negative decimal is itself", "-12.5", "-12.5"},
		{"trailing zeros after the point do not count", "1.500", "1.5"},
		{"leading zeros do not count", "000123", "123"},
		{"zero has one form", "-0.000", "0"},
		{"an exponent is applied", "15e-1", "1.5"},
		{"a large integer is written plainly", "12e5", "1200000"},
		{"a huge number is written plainly", "1.5E+20", "150000000000000000000"},
		{"a tiny number is written plainly", "-2.5E-9", "-0.0000000025"},
		{"38 significant digits are accepted", strings.Repeat("9", 38), strings.Repeat("9", 38)},
		{"39 significant digits are refused", "1" + strings.Repeat("0", 37) + "1", ""},
		{"39 digits whose last is a trailing zero are 38 significant digits", strings.Repeat("9", 38) + "0", strings.Repeat("9", 38) + "0"},
		{"the largest magnitude is accepted", "9.9999999999999999999999999999999999999E+125", strings.Repeat("9", 38) + strings.Repeat("0", 88)},
		{"the most negative number is accepted", "-9.9999999999999999999999999999999999999E+125", "-" + strings.Repeat("9", 38) + strings.Repeat("0", 88)},
		{"above the largest magnitude is refused", "1E+126", ""},
		{"the smallest magnitude is accepted", "1E-130", "0." + strings.Repeat("0", 129) + "1"},
		{"below the smallest magnitude is refused", "1E-131", ""},
		{"a negative number below the smallest magnitude is refused", "-0.9E-130", ""},
		{"NaN is refused", "NaN", ""},
		{"infinity is refused", "Infinity", ""},
		{"an empty string is refused", "", ""},
		{"words are refused", "twelve", ""},
		{"an exponent of a million digits' worth is refused", "1e999999999999", ""},
		{"a zero with a huge exponent is refused", "0e999999999999", ""},
		{"a plus sign is allowed", "+7", "7"},
		{"a leading point is allowed", ".5", "0.5"},
		{"a trailing point is allowed", "5.", "5"},
		{"an exponent of zero with a sign", "1E-0", "1"},
		{"a leading space is refused", " 1", ""},
		{"a trailing space is refused", "1 ", ""},
		{"an exponent without digits is refused", "1e", ""},
		{"two points are refused", "1.2.3", ""},
		{"a sign alone is refused", "-", ""},
		{"an exponent alone is refused", "e5", ""},
		{"a point alone is refused", ".", ""},
		{"hexadecimal is refused", "0x10", ""},
		{"digit separators are refused", "1_000", ""},
		{"many leading zeros after the point move the exponent", "0000." + strings.Repeat("0", 129) + "1", "0." + strings.Repeat("0", 129) + "1"},
		{"trailing zeros before the point stay in the text", "1" + strings.Repeat("0", 125) + ".000", "1" + strings.Repeat("0", 125)},
		{"a million zeros below the smallest magnitude are refused", "0." + strings.Repeat("0", 1_000_000) + "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			n, err := ParseNumber(tt.in)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrNumber) {
					t.Fatalf("ParseNumber(%q) = %v, %v; want ErrNumber", tt.in, n, err)
				}
				return
			}
			if err != nil || n.String() != tt.want {
				t.Fatalf("ParseNumber(%q) = %v, %v; want %s", tt.in, n, err, tt.want)
			}
		})
	}
}

func TestNumberLimitErrorsNameTheLimit(t *testing.T) {
	for in, want := range map[string]string{
		strings.Repeat("1", 39): "38 significant digits",
		"1E+126":                "overflow",
		"1E-131":                "underflow",
	} {
		if _, err := ParseNumber(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseNumber(%s) = %v; want an error naming %q", in, err, want)
		}
	}
}

// randNumber is a random valid number: 1 to 38 digits at any exponent in
// range, either sign, or zero.
func randNumber(r *rand.Rand) Number {
	if r.IntN(20) == 0 {
		return Zero
	}
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteByte('-')
	}
	nd := 1 + r.IntN(MaxNumberDigits)
	if r.IntN(2) == 0 {
		nd = 1 + r.IntN(3) // short numbers share prefixes more often
	}
	for i := range nd {
		d := r.IntN(10)
		if i == 0 && d == 0 {
			d = 1
		}
		b.WriteByte(byte('0' + d))
	}
	exp := minNumberExp + r.IntN(maxNumberExp-minNumberExp+1) - 1 // exponent of the last digit's unit: 0.d.. × 10^(exp+nd)
	if r.IntN(2) == 0 {
		exp = r.IntN(9) - 4 // near 1, where plain notation is used
	}
	b.WriteString("E")
	b.WriteString(itoa(exp - nd + 1))
	n, err := ParseNumber(b.String())
	if err != nil {
		return Zero // out of range after all: zero keeps the generator total
	}
	return n
}

func itoa(i int) string { return apd.New(int64(i), 0).String() }

func apdOf(t testing.TB, n Number) *apd.Decimal {
	d, _, err := apd.NewFromString(n.String())
	if err != nil {
		t.Fatalf("apd cannot read %s: %v", n, err)
	}
	return d
}

func TestNumberPropertiesAgainstApd(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		a, b := randNumber(r), randNumber(r)
		// String is canonical: it reads back as the same Number.
		if back, err := ParseNumber(a.String()); err != nil || back != a {
			t.Fatalf("ParseNumber(%s) = %v, %v", a, back, err)
		}
		// Cmp agrees with apd's comparison of the values.
		if got, want := a.Cmp(b), apdOf(t, a).Cmp(apdOf(t, b)); got != want {
			t.Fatalf("Cmp(%s, %s) = %d; apd says %d", a, b, got, want)
		}
		// == is numeric equality.
		if (a == b) != (apdOf(t, a).Cmp(apdOf(t, b)) == 0) {
			t.Fatalf("%s == %s disagrees with apd", a, b)
		}
		// Add is exact where it succeeds, and refuses only results
		// DynamoDB cannot store.
		var want apd.Decimal
		if _, err := apd.BaseContext.Add(&want, apdOf(t, a), apdOf(t, b)); err != nil {
			t.Fatal(err)
		}
		sum, err := a.Add(b)
		if err == nil && apdOf(t, sum).Cmp(&want) != 0 {
			t.Fatalf("%s + %s = %s; want %s", a, b, sum, want.String())
		}
		if err != nil {
			if _, err2 := fromDecimal(&want); err2 == nil {
				t.Fatalf("%s + %s refused (%v) but %s is storable", a, b, err, want.String())
			}
		}
	}
}

func TestNumberArithmetic(t *testing.T) {
	tests := []struct {
		rule    string
		a, b    string
		sub     bool
		want    string // "" when refused
		wantErr string
	}{
		{"addition is exact", "0.1", "0.2", false, "0.3", ""},
		{"subtraction is exact", "1", "0.0001", true, "0.9999", ""},
		// 37 nines + 9 × 10^37 = 10^38 - 1: 38 nines.
		{"a result of 38 digits is kept", strings.Repeat("9", 37), "9" + strings.Repeat("0", 37), false, strings.Repeat("9", 38), ""},
		{"a result needing more than 38 digits is refused, not rounded", "1E+50", "1", false, "", "38 significant digits"},
		{"a result above the largest magnitude is refused", "9.9999999999999999999999999999999999999E+125", "9.9999999999999999999999999999999999999E+125", false, "", "overflow"},
		{"equal numbers subtract to zero", "-7.25", "-7.25", true, "0", ""},
		{"a sum below the smallest magnitude is refused", "1.1E-130", "1E-130", true, "", "underflow"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			a, b := MustNumber(tt.a), MustNumber(tt.b)
			var got Number
			var err error
			if tt.sub {
				got, err = a.Sub(b)
			} else {
				got, err = a.Add(b)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// parseWithApd is the reference ParseNumber is checked against: apd reads
// the text, fromDecimal applies DynamoDB's limits.
func parseWithApd(s string) (Number, error) {
	d, _, err := apd.BaseContext.NewFromString(s)
	if err != nil || d.Form != apd.Finite {
		return Number{}, ErrNumber
	}
	return fromDecimal(d)
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1.5", "-0.00120e+3", ".5", "5.", "+1E-130", "99999999999999999999999999999999999999", "1e126", "0e5", "1.2.3", "e", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNumber(s)
		if len(s) > 200 {
			return // apd is slow on long text
		}
		want, werr := parseWithApd(s)
		if (err == nil) != (werr == nil) || err == nil && n != want {
			t.Fatalf("ParseNumber(%q) = %v, %v; apd reads %v, %v", s, n, err, want, werr)
		}
	})
}
