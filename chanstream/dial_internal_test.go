package chanstream

import (
	"net/netip"
	"slices"
	"testing"
)

// TestInterleave follows CPython's test_base_events
// (test_interleave_addrinfos): grouped by family in order of first
// appearance, first-1 of the first family lead, then they alternate.
func TestInterleave(t *testing.T) {
	a := netip.MustParseAddr
	six := []netip.Addr{a("2001:db8::a"), a("2001:db8::b"), a("2001:db8::c"), a("2001:db8::d")}
	four := []netip.Addr{a("192.0.2.1"), a("192.0.2.2"), a("192.0.2.3"), a("192.0.2.4")}
	in := []netip.Addr{six[0], six[1], six[2], four[0], four[1], four[2], four[3], six[3]}
	tests := []struct {
		name  string
		in    []netip.Addr
		first int
		want  []netip.Addr
	}{
		{"first 1", in, 1, []netip.Addr{six[0], four[0], six[1], four[1], six[2], four[2], six[3], four[3]}},
		{"first 2", in, 2, []netip.Addr{six[0], six[1], four[0], six[2], four[1], six[3], four[2], four[3]}},
		{"first 3", in, 3, []netip.Addr{six[0], six[1], six[2], four[0], six[3], four[1], four[2], four[3]}},
		{"first past the family", in, 9, []netip.Addr{six[0], six[1], six[2], six[3], four[0], four[1], four[2], four[3]}},
		{"off", in, 0, in},
		{"one family", four, 1, four},
		{"v4 first", []netip.Addr{four[0], four[1], six[0]}, 1, []netip.Addr{four[0], six[0], four[1]}},
		{"two", []netip.Addr{four[0], four[1]}, 1, []netip.Addr{four[0], four[1]}},
		{"none", nil, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := interleave(in, tt.first); !slices.Equal(got, tt.want) {
				t.Fatalf("interleave(%v, %d) = %v; want %v", tt.in, tt.first, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Fatalf("interleave modified its input: %v", in)
			}
		})
	}
}
