package tableapi

import (
	"errors"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/expr"
	"github.com/harmoniakv/harmonia/cluster/item"
)

func TestClassify(t *testing.T) {
	_, numErr := item.ParseNumber("1e999")
	_, exprErr := expr.ParseCondition("a <", nil)
	own := Errorf(KindConditionFailed, "The conditional request failed")
	for _, tt := range []struct {
		name string
		err  error
		want Kind
	}{
		{"an invalid number is the client's", numErr, KindValidation},
		{"an invalid expression is the client's", exprErr, KindValidation},
		{"an error with a kind keeps it", own, KindConditionFailed},
		{"a wrapped error with a kind keeps it", errors.Join(errors.New("context"), own), KindConditionFailed},
		{"any other error is the node's", errors.New("disk on fire"), KindInternal},
	} {
		if got := KindOf(Classify(tt.err)); got != tt.want {
			t.Errorf("%s: kind %d, want %d (%v)", tt.name, got, tt.want, tt.err)
		}
	}
	if Classify(nil) != nil {
		t.Error("nil classified as an error")
	}
	if got := Classify(exprErr).Error(); got != exprErr.Error() {
		t.Errorf("the client's message changed: %q", got)
	}
}
