package server_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
)

// TestLabels: the handler goroutine and the stream's reader goroutine
// carry the connection's pprof labels, and the accept loop the listening
// address, in the goroutine profile (debug=1).
func TestLabels(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := testCtx(t)
	running, release := make(chan struct{}), make(chan struct{})
	h := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		if _, err := r.ReadLine(ctx); err != nil { // the reader goroutine has run
			return err
		}
		close(running)
		<-release
		return nil
	}
	s, err := server.Start(ctx, "127.0.0.1:0", h)
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	defer s.Shutdown(ctx)
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer c.Close()
	c.Write([]byte("hello\n"))
	<-running
	profile := testutil.LabeledGoroutines()
	close(release)

	conn := `"chanstream.local":"` + c.RemoteAddr().String() + `", "chanstream.remote":"` + c.LocalAddr().String() + `"`
	want := map[string]string{
		"handler":          conn,
		"reader goroutine": conn,
		"accept loop":      `{"chanstream.local":"` + s.Addrs()[0].String() + `"}`,
	}
	fns := map[string]string{
		"handler":          "server_test.TestLabels.func1",
		"reader goroutine": "chanstream.(*Reader).readLoop",
		"accept loop":      "server.(*Server).acceptLoop",
	}
	for name, labels := range want {
		found := false
		for _, rec := range strings.Split(profile, "\n\n") {
			if strings.Contains(rec, labels) && strings.Contains(rec, fns[name]) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no record with %s and %s in the labelled goroutines:\n%s", name, labels, fns[name], profile)
		}
	}
}
