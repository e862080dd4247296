package chanstream_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/cspstream/streams/testutil"
)

// TestConcurrentWritesStayWhole: Writes from several goroutines to a peer
// that reads slowly through small socket buffers — so that Writes made
// inline are cut short and their rest queued while other Writes arrive —
// each reach the peer whole, and each goroutine's in its order.
func TestConcurrentWritesStayWhole(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	c, s := testutil.Loopback(t)
	wtSmallBuffers(t, c.W.Conn(), s.W.Conn())
	const (
		writers = 6
		records = 60
		size    = 24 << 10 // several times the socket buffers
	)
	// record returns writer g's record i: its header, then filler.
	record := func(g, i int) []byte {
		b := wtPattern(size, byte(g*records+i))
		binary.BigEndian.PutUint32(b[0:], uint32(g))
		binary.BigEndian.PutUint32(b[4:], uint32(i))
		return b
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range records {
				if n, err := c.W.Write(record(g, i)); n != size || err != nil {
					errs <- fmt.Errorf("writer %d: Write(record %d) = %d, %v", g, i, n, err)
					return
				}
				if i%10 == 9 {
					if err := c.W.Drain(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	next := make([]int, writers)
	for range writers * records {
		b, err := s.R.ReadExactly(ctx, size)
		if err != nil {
			t.Fatalf("ReadExactly: %v", err)
		}
		g, i := int(binary.BigEndian.Uint32(b[0:])), int(binary.BigEndian.Uint32(b[4:]))
		if g >= writers || i != next[g] {
			t.Fatalf("got record %d of writer %d; want record %d of it (records interleaved or reordered)", i, g, next[g%writers])
		}
		if !bytes.Equal(b, record(g, i)) {
			t.Fatalf("record %d of writer %d arrived changed (interleaved with another)", i, g)
		}
		next[g]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_ = c.W.Close()
	if b, err := s.R.ReadUpTo(ctx, 1); err != io.EOF {
		t.Errorf("after every record: %d more bytes, %v; want io.EOF", len(b), err)
	}
	if err := c.W.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestInlineWriteThenClose: a Close right after Writes flushes every byte
// before closing, whichever way each Write went out.
func TestInlineWriteThenClose(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	for round := range 20 {
		c, s := testutil.Loopback(t)
		msg := wtPattern(1000+round*997, byte(round))
		if _, err := c.W.Write(msg[:len(msg)/2]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.W.Write(msg[len(msg)/2:]); err != nil {
			t.Fatal(err)
		}
		_ = c.W.Close()
		got, err := s.R.ReadAll(ctx)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round %d: peer read %d bytes (equal %v), %v; want the %d written, then EOF", round, len(got), bytes.Equal(got, msg), err, len(msg))
		}
		if err := c.W.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
