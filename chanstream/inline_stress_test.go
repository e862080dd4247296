package chanstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// Adversarial tests of the inline write paths: Writes of 16 KiB or more
// made inline while read-ahead is buffered, and Reader.WriteTo offering
// whole pooled chunks to the socket inline. Two byte streams share one
// connection and can be told apart byte by byte: the copied stream
// (Reader.WriteTo) uses only bytes below 0x80, and every record written by
// a Write uses only bytes from 0x80 up, starting with 0xFF. A record split
// by other bytes, a record out of its writer's order, a lost, repeated or
// changed byte of either stream all show.

// advCopyByte is byte i of the copied stream: below 0x80, and not periodic
// with any chunk size.
func advCopyByte(i int) byte { return (byte(i%113) ^ byte(i>>13)) & 0x7f }

// advCopyStream returns the first n bytes of the copied stream.
func advCopyStream(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = advCopyByte(i)
	}
	return b
}

// advSizes are the records' sizes: around inlineLarge (16 KiB) and a chunk.
var advSizes = []int{4, 150, 3000, 16383, 16384, 16385, 40000, 65536, 70001}

// advRecord returns writer g's record i: 0xFF, g, i in two 7-bit bytes,
// then filler in 0x80..0xFE.
func advRecord(g, i int) []byte {
	b := make([]byte, advSizes[(i*7+g)%len(advSizes)])
	b[0], b[1], b[2], b[3] = 0xFF, 0x80|byte(g), 0x80|byte(i&0x7f), 0x80|byte(i>>7&0x7f)
	for k := 4; k < len(b); k++ {
		b[k] = 0x80 | byte((k+g*31+i)%127)
	}
	return b
}

// advWriteRecord writes record rec of writer goroutine i with Write,
// WriteString or WriteLines (split, with an empty part), by i.
func advWriteRecord(w *chanstream.Writer, i int, rec []byte) (int, error) {
	switch i % 4 {
	case 1:
		return w.WriteString(string(rec))
	case 2:
		k := len(rec) / 3
		return w.WriteLines(rec[:k], nil, rec[k:2*k], rec[2*k:])
	case 3:
		return w.WriteLines(nil, rec)
	}
	return w.Write(rec)
}

// advCheck parses what the peer received: copyLen bytes of the copied
// stream, in order, and each writer's accepted records whole and in order.
func advCheck(got []byte, copyLen int, accepted [][]int) error {
	copied := 0
	next := make([]int, len(accepted))
	for pos := 0; pos < len(got); {
		b := got[pos]
		switch {
		case b < 0x80:
			if copied >= copyLen {
				return fmt.Errorf("byte %d: copied-stream byte past the %d copied", pos, copyLen)
			}
			if b != advCopyByte(copied) {
				return fmt.Errorf("byte %d: copied-stream byte %d is %#x; want %#x", pos, copied, b, advCopyByte(copied))
			}
			copied++
			pos++
		case b == 0xFF:
			if pos+4 > len(got) {
				return fmt.Errorf("byte %d: record header cut at the end", pos)
			}
			g, i := int(got[pos+1]&0x7f), int(got[pos+2]&0x7f)|int(got[pos+3]&0x7f)<<7
			if g >= len(accepted) || next[g] >= len(accepted[g]) || accepted[g][next[g]] != i {
				want := -1
				if g < len(accepted) && next[g] < len(accepted[g]) {
					want = accepted[g][next[g]]
				}
				return fmt.Errorf("byte %d: record %d of writer %d; want record %d of it", pos, i, g, want)
			}
			rec := advRecord(g, i)
			if pos+len(rec) > len(got) || !bytes.Equal(got[pos:pos+len(rec)], rec) {
				end := min(pos+len(rec), len(got))
				k := 0
				for k < end-pos && got[pos+k] == rec[k] {
					k++
				}
				return fmt.Errorf("byte %d: record %d of writer %d (%d bytes) differs at its byte %d (split or changed)", pos, i, g, len(rec), k)
			}
			next[g]++
			pos += len(rec)
		default:
			return fmt.Errorf("byte %d: %#x outside any record", pos, b)
		}
	}
	if copied != copyLen {
		return fmt.Errorf("%d copied-stream bytes arrived; want %d", copied, copyLen)
	}
	for g := range accepted {
		if next[g] != len(accepted[g]) {
			return fmt.Errorf("writer %d: %d records arrived; want %d", g, next[g], len(accepted[g]))
		}
	}
	return nil
}

// advPeer reads conn to its end in small reads, slowly enough that the
// sender's inline writes are cut short; after each read it reports the
// total to progress. It returns every byte and the error that ended it
// (nil at EOF).
func advPeer(conn net.Conn, progress *advProgress) <-chan advGot {
	ch := make(chan advGot, 1)
	go func() {
		var got []byte
		buf := make([]byte, 8<<10)
		for {
			n, err := conn.Read(buf)
			got = append(got, buf[:n]...)
			if progress != nil && n > 0 {
				progress.n.Store(int64(len(got)))
				select {
				case progress.ch <- struct{}{}:
				default: // one is pending: the waiter looks again
				}
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				ch <- advGot{got, err}
				return
			}
		}
	}()
	return ch
}

// advProgress is what a peer has received so far, and a wake-up.
type advProgress struct {
	n  atomic.Int64
	ch chan struct{}
}

func newAdvProgress() *advProgress { return &advProgress{ch: make(chan struct{}, 1)} }

// waitFor waits until at least n bytes were received.
func (p *advProgress) waitFor(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for p.n.Load() < int64(n) {
		select {
		case <-p.ch:
		case <-ctx.Done():
			t.Fatalf("peer received %d bytes at the watchdog; waiting for %d", p.n.Load(), n)
		}
	}
}

type advGot struct {
	b   []byte
	err error
}

// advRecv waits for the peer's result.
func advRecv(t *testing.T, ctx context.Context, ch <-chan advGot) advGot {
	t.Helper()
	select {
	case g := <-ch:
		return g
	case <-ctx.Done():
		t.Fatalf("peer still reading at the watchdog")
		return advGot{}
	}
}

// advSource starts a copy source: a raw peer conn writing the first n
// bytes of the copied stream in uneven pieces, then half-closing, and the
// stream over the other end. The peer's goroutine is joined at cleanup.
func advSource(t *testing.T, ctx context.Context, n int) (*chanstream.Reader, *chanstream.Writer) {
	t.Helper()
	peer, conn := testutil.TCPPair(t)
	wtDeadline(t, ctx, peer)
	r, w := wtNew(t, conn)
	src := advCopyStream(n)
	done := wtGo(func() error {
		pieces := []int{1, 7000, 65536, 100, 131072, 65535, 30000, 65537}
		for k := 0; len(src) > 0; k++ {
			m := min(pieces[k%len(pieces)], len(src))
			if _, err := peer.Write(src[:m]); err != nil {
				return err
			}
			src = src[m:]
		}
		return peer.(*net.TCPConn).CloseWrite()
	})
	t.Cleanup(func() {
		_ = w.Abort()
		_ = peer.Close()
		<-done
	})
	return r, w
}

// advSink returns a stream over one end of a connection with small socket
// buffers and the raw peer at the other end.
func advSink(t *testing.T, ctx context.Context, opts ...chanstream.Option) (*chanstream.Reader, *chanstream.Writer, net.Conn) {
	t.Helper()
	conn, peer := testutil.TCPPair(t)
	if err := conn.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	wtDeadline(t, ctx, peer)
	r, w := wtNew(t, conn, opts...)
	return r, w, peer
}

// advWriters starts n goroutines each writing records records to w (Drain
// every few); each returns the records its Writes accepted. A Write
// refused with ErrWriteBufferFull is skipped; any other error stops it.
func advWriters(ctx context.Context, w *chanstream.Writer, n, records int, stopOnErr bool) (wait func() ([][]int, []error)) {
	accepted := make([][]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range records {
				rec := advRecord(g, i)
				k, err := advWriteRecord(w, i+g, rec)
				if errors.Is(err, chanstream.ErrWriteBufferFull) && k == 0 {
					continue
				}
				if err != nil || k != len(rec) {
					if k != 0 {
						errs[g] = fmt.Errorf("writer %d record %d: (%d, %v); an error must queue nothing", g, i, k, err)
					} else if !stopOnErr {
						errs[g] = fmt.Errorf("writer %d record %d: %v", g, i, err)
					}
					return
				}
				accepted[g] = append(accepted[g], i)
				if i%5 == 4 {
					if err := w.Drain(ctx); err != nil {
						if !stopOnErr {
							errs[g] = fmt.Errorf("writer %d drain: %v", g, err)
						}
						return
					}
				}
			}
		}()
	}
	return func() ([][]int, []error) {
		wg.Wait()
		return accepted, errs
	}
}

// advWaitWriters waits for the writers, bounded by ctx.
func advWaitWriters(t *testing.T, ctx context.Context, wait func() ([][]int, []error)) [][]int {
	t.Helper()
	type res struct {
		a [][]int
		e []error
	}
	ch := make(chan res, 1)
	go func() { a, e := wait(); ch <- res{a, e} }()
	select {
	case r := <-ch:
		for _, err := range r.e {
			if err != nil {
				t.Error(err)
			}
		}
		return r.a
	case <-ctx.Done():
		t.Fatal("writers still writing at the watchdog")
		return nil
	}
}

// advInlined fails t when no inline write was made.
func advInlined(t *testing.T, count func() int64) {
	t.Helper()
	if n := count(); n == 0 {
		t.Error("no inline write was made: the test missed the path it is for")
	} else {
		t.Logf("%d inline writes", n)
	}
}

// advFinish closes w, then checks what the peer got (got): the copied
// stream's n bytes and every accepted record, whole and in order; then
// that w closed with nothing left queued and its counts in step.
func advFinish(t *testing.T, ctx context.Context, w *chanstream.Writer, got <-chan advGot, n int, accepted [][]int) {
	t.Helper()
	_ = w.Close()
	g := advRecv(t, ctx, got)
	if g.err != nil {
		t.Fatalf("peer: %v", g.err)
	}
	if err := advCheck(g.b, n, accepted); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
	advSettled(t, w, len(g.b))
}

// advSettled checks what a Writer reports once its stream has closed after
// writing everything: nothing buffered, and BytesWritten the bytes the
// peer received.
func advSettled(t *testing.T, w *chanstream.Writer, received int) {
	t.Helper()
	if n := w.Buffered(); n != 0 {
		t.Errorf("Buffered() = %d after everything was written; want 0", n)
	}
	if n := w.Stats().BytesWritten; n != int64(received) {
		t.Errorf("Stats().BytesWritten = %d; the peer received %d", n, received)
	}
}

// TestInlineStressMixedWritersReadAhead: several goroutines Write, WriteString and
// WriteLines records of sizes around 16 KiB and 64 KiB while the writing
// end holds unread input (so small Writes queue and large ones go inline),
// through small socket buffers. Every record arrives whole, each writer's
// in order, and BytesWritten and Buffered agree with the peer.
func TestInlineStressMixedWritersReadAhead(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	inlined := chanstream.CountInlineWrites(t)
	defer advInlined(t, inlined)
	r, w, peer := advSink(t, ctx)
	// Read-ahead the application never consumes.
	if _, err := peer.Write(bytes.Repeat([]byte("x"), 5000)); err != nil {
		t.Fatal(err)
	}
	pre, err := r.ReadExactly(ctx, 5000)
	if err != nil {
		t.Fatal(err)
	}
	r.Unread(pre) // buffered again: the application is not answering
	got := advPeer(peer, nil)
	accepted := advWaitWriters(t, ctx, advWriters(ctx, w, 6, 40, false))
	advFinish(t, ctx, w, got, 0, accepted)
}

// TestInlineStressWriteToInterleavedWriters: Reader.WriteTo copies a stream into a
// Writer whose socket buffers are small while other goroutines write
// records to it. The copied stream arrives complete and in order, every
// record whole, each writer's in order; WriteTo returns the bytes copied.
func TestInlineStressWriteToInterleavedWriters(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	const n = 3 << 20
	inlined := chanstream.CountInlineWrites(t)
	defer advInlined(t, inlined)
	sr, _ := advSource(t, ctx, n)
	_, w, peer := advSink(t, ctx)
	got := advPeer(peer, nil)
	copied := wtGo(func() error {
		k, err := sr.WriteTo(w)
		if err == nil && k != n {
			err = fmt.Errorf("WriteTo = %d; want %d", k, n)
		}
		return err
	})
	accepted := advWaitWriters(t, ctx, advWriters(ctx, w, 4, 30, false))
	if err := wtWait(t, ctx, copied, "WriteTo"); err != nil {
		t.Fatal(err)
	}
	advFinish(t, ctx, w, got, n, accepted)
}

// TestInlineStressWriteToEndRace: Close, WriteEOF, Abort or Detach of the Writer
// at varying points of a Reader.WriteTo into it. WriteTo ends with an
// error wrapping ErrClosed (or nil, having copied everything); after
// Close, WriteEOF and Detach the peer has received exactly the bytes
// WriteTo reports, after Abort a prefix of them; nothing panics or leaks.
func TestInlineStressWriteToEndRace(t *testing.T) {
	testutil.CheckLeaks(t)
	const n = 2 << 20
	ends := []string{"close", "eof", "abort", "detach"}
	for round := range 16 {
		end := ends[round%len(ends)]
		t.Run(fmt.Sprintf("%d-%s", round, end), func(t *testing.T) {
			ctx := wtCtx(t)
			sr, sw := advSource(t, ctx, n)
			_, w, peer := advSink(t, ctx)
			progress := newAdvProgress()
			got := advPeer(peer, progress)
			type copyRes struct {
				k   int64
				err error
			}
			copied := make(chan copyRes, 1)
			go func() {
				k, err := sr.WriteTo(w)
				copied <- copyRes{k, err}
			}()
			at := 1 + round*97_000 // bytes received before the end
			progress.waitFor(t, ctx, at)
			var dc net.Conn
			switch end {
			case "close":
				_ = w.Close()
			case "eof":
				if err := w.WriteEOF(); err != nil {
					t.Fatal(err)
				}
			case "abort":
				_ = w.Abort()
			case "detach":
				c, unread, err := w.Detach(ctx)
				if err != nil {
					t.Fatalf("Detach: %v", err)
				}
				if len(unread) != 0 {
					t.Errorf("Detach: %d unread bytes; the peer sent none", len(unread))
				}
				dc = c
			}
			var res copyRes
			select {
			case res = <-copied:
			case <-ctx.Done():
				t.Fatal("WriteTo still running at the watchdog")
			}
			_ = sw.Abort() // the source peer stops writing
			if res.err != nil && !errors.Is(res.err, chanstream.ErrClosed) {
				t.Errorf("WriteTo = %d, %v; want an error wrapping ErrClosed", res.k, res.err)
			}
			if res.err == nil && res.k != n {
				t.Errorf("WriteTo = %d, nil; want %d", res.k, n)
			}
			marker := []byte{0xFF, 0xFF, 0xFF, 0xFF}
			if dc != nil {
				if _, err := dc.Write(marker); err != nil {
					t.Errorf("write to the detached conn: %v", err)
				}
				_ = dc.Close()
			}
			g := advRecv(t, ctx, got)
			want := advCopyStream(int(res.k))
			switch end {
			case "abort":
				if len(g.b) > len(want) || !bytes.Equal(g.b, want[:len(g.b)]) {
					t.Fatalf("after Abort the peer got %d bytes, not a prefix of the %d copied", len(g.b), len(want))
				}
			case "detach":
				want = append(want, marker...)
				fallthrough
			default:
				if g.err != nil {
					t.Errorf("peer: %v", g.err)
				}
				if !bytes.Equal(g.b, want) {
					i := 0
					for i < min(len(g.b), len(want)) && g.b[i] == want[i] {
						i++
					}
					t.Fatalf("peer got %d bytes, first difference at %d; want the %d WriteTo reported (+marker after Detach)", len(g.b), i, len(want))
				}
			}
			_ = w.Close() // after WriteEOF the stream reads on
			if err := w.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
			if end != "abort" {
				want := len(g.b)
				if dc != nil {
					want -= len(marker)
				}
				advSettled(t, w, want)
			}
		})
	}
}

// TestInlineStressPeerResetDuringWriteTo: the peer resets the connection part way
// through a Reader.WriteTo into the Writer while other goroutines Write
// large records. WriteTo and the Writes end with an error (WriteTo may
// finish first), the stream closes with the failure recorded, and what
// the peer read before the reset is consistent.
func TestInlineStressPeerResetDuringWriteTo(t *testing.T) {
	testutil.CheckLeaks(t)
	for round := range 6 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			ctx := wtCtx(t)
			const n = 8 << 20
			sr, sw := advSource(t, ctx, n)
			r, w, peer := advSink(t, ctx)
			copied := wtGo(func() error {
				k, err := sr.WriteTo(w)
				if err == nil && k != n {
					return fmt.Errorf("WriteTo = %d, nil; want %d", k, n)
				}
				if err == nil {
					return errors.New("WriteTo finished: the peer reset too late")
				}
				return nil
			})
			wait := advWriters(ctx, w, 3, 200, true)
			// Read some, then reset.
			buf := make([]byte, 4096)
			var got []byte
			for len(got) < 50_000+round*150_000 {
				k, err := peer.Read(buf)
				got = append(got, buf[:k]...)
				if err != nil {
					t.Fatalf("peer read: %v", err)
				}
			}
			_ = peer.(*net.TCPConn).SetLinger(0)
			_ = peer.Close()
			accepted := advWaitWriters(t, ctx, wait)
			if err := wtWait(t, ctx, copied, "WriteTo"); err != nil {
				t.Log(err)
			}
			_ = sw.Abort()
			select {
			case <-w.Done():
			case <-ctx.Done():
				t.Fatal("the stream did not close after the reset")
			}
			if err := r.Err(); err == nil {
				t.Error("Reader.Err() = nil after the peer reset")
			}
			if _, err := w.Write([]byte{1}); err == nil {
				t.Error("Write after the reset succeeded")
			}
			// What arrived before the reset is consistent: parse what is
			// complete (the last record or copied run may be cut).
			if err := advCheckPrefix(got, accepted); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// advCheckPrefix is advCheck for a prefix: the copied bytes are in order,
// records whole except the last, each writer's accepted ones in order
// (possibly not all).
func advCheckPrefix(got []byte, accepted [][]int) error {
	copied := 0
	next := make([]int, len(accepted))
	for pos := 0; pos < len(got); {
		b := got[pos]
		switch {
		case b < 0x80:
			if b != advCopyByte(copied) {
				return fmt.Errorf("byte %d: copied-stream byte %d is %#x; want %#x", pos, copied, b, advCopyByte(copied))
			}
			copied++
			pos++
		case b == 0xFF:
			if pos+4 > len(got) {
				return nil
			}
			g, i := int(got[pos+1]&0x7f), int(got[pos+2]&0x7f)|int(got[pos+3]&0x7f)<<7
			if g >= len(accepted) || next[g] >= len(accepted[g]) || accepted[g][next[g]] != i {
				return fmt.Errorf("byte %d: record %d of writer %d out of order", pos, i, g)
			}
			rec := advRecord(g, i)
			end := min(pos+len(rec), len(got))
			if !bytes.Equal(got[pos:end], rec[:end-pos]) {
				return fmt.Errorf("byte %d: record %d of writer %d split or changed", pos, i, g)
			}
			next[g]++
			pos = end
		default:
			return fmt.Errorf("byte %d: %#x outside any record", pos, b)
		}
	}
	return nil
}

// TestInlineStressUpgradeDuringWriteTo: Writer.Upgrade three times during a
// Reader.WriteTo into the Writer with other goroutines writing records:
// first to a wrapper conn (no inline writes), then back to the plain TCP
// conn (inline writes again), then to a wrapper again. Nothing is lost,
// repeated, reordered or split.
func TestInlineStressUpgradeDuringWriteTo(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	const n = 3 << 20
	inlined := chanstream.CountInlineWrites(t)
	defer advInlined(t, inlined)
	sr, _ := advSource(t, ctx, n)
	_, w, peer := advSink(t, ctx)
	progress := newAdvProgress()
	got := advPeer(peer, progress)
	copied := wtGo(func() error {
		k, err := sr.WriteTo(w)
		if err == nil && k != n {
			err = fmt.Errorf("WriteTo = %d; want %d", k, n)
		}
		return err
	})
	wait := advWriters(ctx, w, 3, 30, false)
	var plain net.Conn
	for u, at := range []int{200_000, 900_000, 1_800_000} {
		progress.waitFor(t, ctx, at)
		err := w.Upgrade(ctx, func(_ context.Context, c net.Conn, unread []byte) (net.Conn, error) {
			if len(unread) != 0 {
				return nil, fmt.Errorf("%d unread bytes; the peer sent none", len(unread))
			}
			if u == 1 {
				return plain, nil
			}
			plain = c
			return struct{ net.Conn }{c}, nil
		})
		if err != nil {
			t.Fatalf("Upgrade %d: %v", u, err)
		}
	}
	accepted := advWaitWriters(t, ctx, wait)
	if err := wtWait(t, ctx, copied, "WriteTo"); err != nil {
		t.Fatal(err)
	}
	advFinish(t, ctx, w, got, n, accepted)
}

// TestInlineStressMaxWriteBufferWriteTo: with WithMaxWriteBuffer, Reader.WriteTo
// and records written concurrently (some refused with
// ErrWriteBufferFull) never hold more than the cap, and what was accepted
// arrives as in TestInlineStressWriteToInterleavedWriters.
func TestInlineStressMaxWriteBufferWriteTo(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	const (
		n   = 2 << 20
		max = 160 << 10
	)
	sr, _ := advSource(t, ctx, n)
	_, w, peer := advSink(t, ctx, chanstream.WithMaxWriteBuffer(max))
	got := advPeer(peer, nil)
	copied := wtGo(func() error {
		k, err := sr.WriteTo(w)
		if err == nil && k != n {
			err = fmt.Errorf("WriteTo = %d; want %d", k, n)
		}
		return err
	})
	accepted := advWaitWriters(t, ctx, advWriters(ctx, w, 4, 40, false))
	if err := wtWait(t, ctx, copied, "WriteTo"); err != nil {
		t.Fatal(err)
	}
	if peak := w.Stats().WriteQueuedPeak; peak > max || peak == 0 {
		t.Errorf("Stats().WriteQueuedPeak = %d; want 1 to the cap %d (Buffered never above it)", peak, max)
	}
	advFinish(t, ctx, w, got, n, accepted)
}

// TestInlineStressEchoWriteToSelf: a server echoes with Reader.WriteTo into its own
// Writer (read-ahead buffered, chunks inline) while the client streams
// 4 MiB through small socket buffers and reads the echo concurrently, and
// a second server goroutine writes records into the same Writer. The
// client gets the copied stream complete and in order with every record
// whole.
func TestInlineStressEchoWriteToSelf(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	inlined := chanstream.CountInlineWrites(t)
	defer advInlined(t, inlined)
	const n = 4 << 20
	cc, sc := testutil.TCPPair(t)
	for _, c := range []net.Conn{cc, sc} {
		if err := c.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
	}
	wtDeadline(t, ctx, cc)
	sr, sw := wtNew(t, sc)
	echoed := wtGo(func() error {
		k, err := sr.WriteTo(sw)
		if err == nil && k != n {
			err = fmt.Errorf("WriteTo = %d; want %d", k, n)
		}
		return err
	})
	got := advPeer(cc, nil)
	wait := advWriters(ctx, sw, 2, 25, false)
	src := advCopyStream(n)
	sent := wtGo(func() error {
		for k := 0; len(src) > 0; k++ {
			m := min(1+k*9973%100_000, len(src))
			if _, err := cc.Write(src[:m]); err != nil {
				return err
			}
			src = src[m:]
		}
		return cc.(*net.TCPConn).CloseWrite()
	})
	if err := wtWait(t, ctx, sent, "client write"); err != nil {
		t.Fatal(err)
	}
	accepted := advWaitWriters(t, ctx, wait)
	if err := wtWait(t, ctx, echoed, "WriteTo"); err != nil {
		t.Fatal(err)
	}
	advFinish(t, ctx, sw, got, n, accepted)
}

// TestInlineStressWriteFailsAfterPeerGone: the peer closes (FIN, then RST to
// what arrives after), so an inline write of 16 KiB or more — Write,
// WriteLines, or Reader.WriteTo's whole chunk, with other goroutines
// writing meanwhile — meets EPIPE or ECONNRESET. The failure is reported
// (later Writes, WriteTo and Err return it), the stream closes, nothing
// panics or leaks.
func TestInlineStressWriteFailsAfterPeerGone(t *testing.T) {
	testutil.CheckLeaks(t)
	for _, via := range []string{"write", "writelines", "writeto"} {
		t.Run(via, func(t *testing.T) {
			ctx := wtCtx(t)
			inlined := chanstream.CountInlineWrites(t)
			defer advInlined(t, inlined)
			conn, peer := testutil.TCPPair(t)
			r, w := wtNew(t, conn)
			_ = peer.Close() // FIN: the stream's reader sees EOF, its writes are still allowed
			if b, err := r.ReadAll(ctx); err != nil || len(b) != 0 {
				t.Fatalf("ReadAll = %d bytes, %v; want the peer's EOF", len(b), err)
			}
			wait := advWriters(ctx, w, 2, 1000, true)
			big := advRecord(0, 5) // 70001 bytes
			var werr error
			if via == "writeto" {
				sr, _ := advSource(t, ctx, 8<<20)
				_, werr = sr.WriteTo(w)
			} else {
				for k := 0; k < 100_000 && werr == nil && ctx.Err() == nil; k++ {
					if via == "write" {
						_, werr = w.Write(big)
					} else {
						_, werr = w.WriteLines(big[:20000], big[20000:])
					}
					if werr == nil {
						werr = w.Drain(ctx)
					}
				}
			}
			if werr == nil {
				t.Fatal("writes to a peer that has gone kept succeeding")
			}
			advWaitWriters(t, ctx, wait)
			select {
			case <-w.Done():
			case <-ctx.Done():
				t.Fatal("the stream did not close after the write failed")
			}
			if err := r.Err(); err == nil {
				t.Error("Reader.Err() = nil after the write failed")
			}
			if _, err := w.Write(big); err == nil {
				t.Error("Write after the failure succeeded")
			}
			t.Logf("%s ended with: %v", via, werr)
		})
	}
}

// TestInlineStressNewWriterLargeInline: NewWriter over a plain TCP conn has no
// Reader, so only Writes of 16 KiB or more go inline there (new with the
// change). Concurrent writers of mixed sizes through small buffers, then
// Close: every record arrives whole and in its writer's order, the sink
// is closed, and the counts agree.
func TestInlineStressNewWriterLargeInline(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	inlined := chanstream.CountInlineWrites(t)
	defer advInlined(t, inlined)
	conn, peer := testutil.TCPPair(t)
	if err := conn.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	wtDeadline(t, ctx, peer)
	w := chanstream.NewWriter(conn)
	defer func() {
		_ = w.Abort()
		<-w.Done()
	}()
	got := advPeer(peer, nil)
	accepted := advWaitWriters(t, ctx, advWriters(ctx, w, 5, 40, false))
	advFinish(t, ctx, w, got, 0, accepted)
}

// TestInlineStressDetachDuringWrites: Detach while several goroutines write large
// and small records (many inline) through small buffers. Detach returns
// the conn with every accepted record written and nothing after: the
// peer reads exactly the accepted records, whole and in order, then what
// the caller writes to the detached conn; Writes after Detach are refused
// with ErrClosed.
func TestInlineStressDetachDuringWrites(t *testing.T) {
	testutil.CheckLeaks(t)
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			ctx := wtCtx(t)
			_, w, peer := advSink(t, ctx)
			progress := newAdvProgress()
			got := advPeer(peer, progress)
			wait := advWriters(ctx, w, 4, 60, true)
			progress.waitFor(t, ctx, 100_000+round*300_000)
			dc, unread, err := w.Detach(ctx)
			if err != nil {
				t.Fatalf("Detach: %v", err)
			}
			if len(unread) != 0 {
				t.Errorf("Detach: %d unread bytes; the peer sent none", len(unread))
			}
			accepted := advWaitWriters(t, ctx, wait)
			if _, err := w.Write(advRecord(0, 5)); !errors.Is(err, chanstream.ErrClosed) {
				t.Errorf("Write after Detach: %v; want ErrClosed", err)
			}
			marker := []byte{3, 2, 1, 0} // copied-stream-like bytes: advCheck counts them
			if _, err := dc.Write(marker); err != nil {
				t.Fatal(err)
			}
			_ = dc.Close()
			g := advRecv(t, ctx, got)
			if g.err != nil {
				t.Fatalf("peer: %v", g.err)
			}
			if len(g.b) < 4 || !bytes.Equal(g.b[len(g.b)-4:], marker) {
				t.Fatalf("the detached conn's bytes did not come last")
			}
			if err := advCheck(g.b[:len(g.b)-4], 0, accepted); err != nil {
				t.Fatal(err)
			}
			if err := w.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
			advSettled(t, w, len(g.b)-4)
		})
	}
}

// TestInlineStressEndDuringWritesAndWriteTo: Close, WriteEOF or Abort while both
// Reader.WriteTo and several record writers feed the Writer. After Close
// and WriteEOF the peer receives exactly what was accepted — WriteTo's
// reported bytes and every record whose Write returned nil — and after
// Abort a consistent prefix of it.
func TestInlineStressEndDuringWritesAndWriteTo(t *testing.T) {
	testutil.CheckLeaks(t)
	ends := []string{"close", "eof", "abort"}
	for round := range 9 {
		end := ends[round%len(ends)]
		t.Run(fmt.Sprintf("%d-%s", round, end), func(t *testing.T) {
			ctx := wtCtx(t)
			const n = 4 << 20
			sr, sw := advSource(t, ctx, n)
			_, w, peer := advSink(t, ctx)
			progress := newAdvProgress()
			got := advPeer(peer, progress)
			type copyRes struct {
				k   int64
				err error
			}
			copied := make(chan copyRes, 1)
			go func() {
				k, err := sr.WriteTo(w)
				copied <- copyRes{k, err}
			}()
			wait := advWriters(ctx, w, 3, 100, true)
			progress.waitFor(t, ctx, 50_000+round*110_000)
			switch end {
			case "close":
				_ = w.Close()
			case "eof":
				if err := w.WriteEOF(); err != nil {
					t.Fatal(err)
				}
			case "abort":
				_ = w.Abort()
			}
			accepted := advWaitWriters(t, ctx, wait)
			var res copyRes
			select {
			case res = <-copied:
			case <-ctx.Done():
				t.Fatal("WriteTo still running at the watchdog")
			}
			_ = sw.Abort()
			if res.err != nil && !errors.Is(res.err, chanstream.ErrClosed) {
				t.Errorf("WriteTo = %d, %v; want an error wrapping ErrClosed", res.k, res.err)
			}
			g := advRecv(t, ctx, got)
			if end == "abort" {
				if err := advCheckPrefix(g.b, accepted); err != nil {
					t.Fatal(err)
				}
			} else {
				if g.err != nil {
					t.Fatalf("peer: %v", g.err)
				}
				if err := advCheck(g.b, int(res.k), accepted); err != nil {
					t.Fatal(err)
				}
			}
			_ = w.Close()
			if err := w.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
			if end != "abort" {
				advSettled(t, w, len(g.b))
			}
		})
	}
}

// TestInlineStressWriteToNewWriter: Reader.WriteTo into a NewWriter over a plain
// TCP conn (no Reader: only chunks of 16 KiB or more go inline) with
// record writers alongside; then Close. Everything arrives as accepted.
func TestInlineStressWriteToNewWriter(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := wtCtx(t)
	inlined := chanstream.CountInlineWrites(t)
	defer advInlined(t, inlined)
	const n = 3 << 20
	sr, _ := advSource(t, ctx, n)
	conn, peer := testutil.TCPPair(t)
	for _, c := range []net.Conn{conn, peer} {
		if err := c.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
	}
	wtDeadline(t, ctx, peer)
	w := chanstream.NewWriter(conn)
	defer func() {
		_ = w.Abort()
		<-w.Done()
	}()
	got := advPeer(peer, nil)
	copied := wtGo(func() error {
		k, err := sr.WriteTo(w)
		if err == nil && k != n {
			err = fmt.Errorf("WriteTo = %d; want %d", k, n)
		}
		return err
	})
	accepted := advWaitWriters(t, ctx, advWriters(ctx, w, 3, 30, false))
	if err := wtWait(t, ctx, copied, "WriteTo"); err != nil {
		t.Fatal(err)
	}
	advFinish(t, ctx, w, got, n, accepted)
}
