package chanstream_test

import (
	"errors"
	"testing"

	"github.com/cspstream/streams/chanstream"
)

func TestCheckOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []chanstream.Option
		valid bool
	}{
		{"none", nil, true},
		{"good", []chanstream.Option{chanstream.WithLimit(10), chanstream.WithWriteBufferLimits(8, 0)}, true},
		{"limit 0", []chanstream.Option{chanstream.WithLimit(0)}, false},
		{"high < low", []chanstream.Option{chanstream.WithWriteBufferLimits(1, 2)}, false},
		{"negative low", []chanstream.Option{chanstream.WithWriteBufferLimits(1, -1)}, false},
	} {
		err := chanstream.CheckOptions(tc.opts...)
		if tc.valid != (err == nil) || (err != nil && !errors.Is(err, chanstream.ErrInvalidArgument)) {
			t.Errorf("%s: CheckOptions() = %v; want valid %v (else ErrInvalidArgument)", tc.name, err, tc.valid)
		}
	}
}
