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
		{"cap 0", []chanstream.Option{chanstream.WithMaxWriteBuffer(0)}, true},
		{"cap negative", []chanstream.Option{chanstream.WithMaxWriteBuffer(-1)}, false},
		{"cap below the default high", []chanstream.Option{chanstream.WithMaxWriteBuffer(chanstream.DefaultHighWater - 1)}, false},
		{"cap at the default high", []chanstream.Option{chanstream.WithMaxWriteBuffer(chanstream.DefaultHighWater)}, true},
		{"cap, then lower high", []chanstream.Option{chanstream.WithMaxWriteBuffer(100), chanstream.WithWriteBufferLimits(100, 10)}, true},
		{"lower high, then cap", []chanstream.Option{chanstream.WithWriteBufferLimits(100, 10), chanstream.WithMaxWriteBuffer(100)}, true},
		{"cap below high, limits after", []chanstream.Option{chanstream.WithMaxWriteBuffer(99), chanstream.WithWriteBufferLimits(100, 10)}, false},
		{"cap below high, limits first", []chanstream.Option{chanstream.WithWriteBufferLimits(100, 10), chanstream.WithMaxWriteBuffer(99)}, false},
	} {
		err := chanstream.CheckOptions(tc.opts...)
		if tc.valid != (err == nil) || (err != nil && !errors.Is(err, chanstream.ErrInvalidArgument)) {
			t.Errorf("%s: CheckOptions() = %v; want valid %v (else ErrInvalidArgument)", tc.name, err, tc.valid)
		}
	}
}
