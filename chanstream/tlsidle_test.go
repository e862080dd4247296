package chanstream_test

import (
	"context"
	"crypto/tls"
	"runtime"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// TestIdleTLSStreamHoldsNoChunk: a TLS stream's reader goroutine waits for
// the next record without a read chunk, so an idle TLS stream costs the
// TLS layer's own buffers and its goroutine, not a 32 KiB chunk more.
func TestIdleTLSStreamHoldsNoChunk(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 50 TLS connections")
	}
	const (
		conns   = 50
		perConn = 24 << 10 // heap per idle TLS stream, at most; with a held chunk it is over 32 KiB
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srvCfg, cliCfg := testutil.SelfSignedTLS(t)
	cliCfg = cliCfg.Clone()
	cliCfg.ServerName = "localhost"

	type pair struct {
		peer *tls.Conn
		w    *chanstream.Writer
	}
	pairs := make([]pair, 0, conns)
	t.Cleanup(func() {
		for _, p := range pairs {
			_ = p.w.Abort()
			<-p.w.Done()
			p.peer.Close()
		}
	})
	msg := []byte("ping\n")
	base := idleHeap()
	for range conns {
		cc, sc := testutil.TCPPair(t)
		peer := tls.Client(cc, cliCfg)
		ts := tls.Server(sc, srvCfg)
		hs := make(chan error, 1)
		go func() { hs <- ts.HandshakeContext(ctx) }()
		if err := peer.HandshakeContext(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-hs; err != nil {
			t.Fatal(err)
		}
		r, w := chanstream.New(ts)
		pairs = append(pairs, pair{peer, w})
		if _, err := peer.Write(msg); err != nil { // busy once
			t.Fatal(err)
		}
		if line, err := r.ReadLine(ctx); string(line) != string(msg) || err != nil {
			t.Fatalf("ReadLine() = %q, %v", line, err)
		}
	}
	grown := int64(idleHeap()) - int64(base)
	t.Logf("heap per idle TLS stream (with the peer's TLS client): %d bytes", grown/conns)
	if grown > conns*perConn {
		t.Errorf("heap grew %d bytes for %d idle TLS streams (%d each); want at most %d each", grown, conns, grown/conns, perConn)
	}
	runtime.KeepAlive(pairs)
}
