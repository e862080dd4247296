package connlabel

import (
	"bytes"
	"net"
	"net/netip"
	"runtime/pprof"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

// goleak directly: testutil imports chanstream, which imports this package.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOfAddrs(t *testing.T) {
	local := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:80"))
	remote := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::1]:4711"))
	for _, tc := range []struct {
		name          string
		s             Set
		local, remote string // "" when absent
	}{
		{"both", OfAddrs(local, remote), "127.0.0.1:80", "[::1]:4711"},
		{"listener", OfAddrs(local, nil), "127.0.0.1:80", ""},
		{"none", OfAddrs(nil, nil), "", ""},
		{"not a conn", Of(struct{}{}), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for key, want := range map[string]string{Local: tc.local, Remote: tc.remote} {
				got, ok := tc.s.Value(key)
				if got != want || ok != (want != "") {
					t.Errorf("Value(%q) = %q, %v; want %q, %v", key, got, ok, want, want != "")
				}
			}
		})
	}
}

// applyRuns counts TestApply's runs.
var applyRuns atomic.Int64

// TestApply: a goroutine that applies a Set shows its labels in the
// goroutine profile, and goroutines it starts inherit them.
func TestApply(t *testing.T) {
	// A port of its own per run: with -count, a child of the run before may
	// not have exited yet, and must not be counted.
	port := 60000 + applyRuns.Add(1)%5000
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	s := OfAddrs(nil, net.TCPAddrFromAddrPort(addr))
	stop, ready := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Apply()
		inner := make(chan struct{})
		go func() { // inherits
			defer close(inner)
			<-stop
		}()
		close(ready)
		<-inner
	}()
	<-ready
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	close(stop)
	<-done
	if n := bytes.Count(b.Bytes(), []byte(`"chanstream.remote":"`+addr.String()+`"`)); n != 2 {
		t.Fatalf("profile has the label on %d records; want 2 (the goroutine and its child):\n%s", n, b.Bytes())
	}
}
