package chanstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rawPair returns the two ends of a real TCP connection on 127.0.0.1,
// closed when t ends. (testutil imports this package, so the internal
// tests have their own.)
func rawPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestNewRawReaderChoosesPlainSockets(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw reads on this platform")
	}
	c, _ := rawPair(t)
	if newRawReader(c) == nil {
		t.Error("newRawReader(*net.TCPConn) = nil; want a raw reader")
	}

	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	uc, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	us, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	if newRawReader(uc) == nil {
		t.Error("newRawReader(unix stream) = nil; want a raw reader")
	}

	gram, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "g"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer gram.Close()
	pr, pw := net.Pipe()
	defer pr.Close()
	defer pw.Close()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, src := range map[string]io.Reader{
		"unixgram":  gram,
		"tls.Conn":  tls.Client(c, &tls.Config{}), // may hold decrypted bytes of its own
		"net.Pipe":  pr,
		"*os.File":  f,
		"io.Reader": io.LimitReader(f, 1),
	} {
		if newRawReader(src) != nil {
			t.Errorf("newRawReader(%s) is a raw reader; want nil (read through its Read)", name)
		}
	}
}

func TestRawReaderReads(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw reads on this platform")
	}
	t.Run("data then EOF", func(t *testing.T) {
		c, s := rawPair(t)
		rr := newRawReader(s)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		ch, n, err := readRaw(rr)
		if string(ch[:n]) != "hello" || err != nil {
			t.Fatalf("read() = %q, %v; want %q, nil", ch[:n], err, "hello")
		}
		putChunk(ch)
		c.Close()
		ch, n, err = readRaw(rr)
		if n != 0 || err != io.EOF {
			t.Fatalf("read() after the peer closed = %d, %v; want 0, io.EOF", n, err)
		}
		putChunk(ch)
	})
	t.Run("reset", func(t *testing.T) {
		c, s := rawPair(t)
		rr := newRawReader(s)
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close() // RST
		ch, n, err := readRaw(rr)
		putChunk(ch)
		var op *net.OpError
		if n != 0 || !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &op) || op.Op != "read" {
			t.Fatalf("read() after a reset = %d, %v; want 0 and a read *net.OpError with ECONNRESET", n, err)
		}
	})
	t.Run("local close wakes it", func(t *testing.T) {
		_, s := rawPair(t)
		rr := newRawReader(s)
		done := make(chan error, 1)
		go func() {
			ch, _, err := readRaw(rr)
			putChunk(ch)
			done <- err
		}()
		s.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read() after Close = %v; want net.ErrClosed", err)
		}
	})
	t.Run("past deadline wakes it", func(t *testing.T) {
		_, s := rawPair(t)
		rr := newRawReader(s)
		done := make(chan error, 1)
		go func() {
			ch, _, err := readRaw(rr)
			putChunk(ch)
			done <- err
		}()
		if err := s.SetReadDeadline(time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !isTimeout(err) {
			t.Fatalf("read() after a past deadline = %v; want a timeout", err)
		}
	})
}

// TestInlineWriteRestGoesFirst: a Write made inline that the socket takes
// only part of queues its rest in front of the Writes made meanwhile, and
// a Write made while the token is held is queued, not written.
func TestInlineWriteRestGoesFirst(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw writes on this platform")
	}
	c, peer := rawPair(t)
	if err := c.SetWriteBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	_, w := New(c)
	defer func() {
		_ = w.Abort()
		<-w.Done()
	}()
	a := bytes.Repeat([]byte{'a'}, 4<<20) // far more than the socket takes at once
	b := []byte("then b")
	hooked := false
	testHookInlineWrite = func() {
		if !hooked {
			hooked = true
			if n := w.Buffered(); n != len(a) {
				t.Errorf("Buffered() during the inline write = %d; want %d (being written)", n, len(a))
			}
			if _, err := w.Write(b); err != nil { // the token is held: this one queues
				t.Errorf("Write(b) during the inline write: %v", err)
			}
		}
	}
	defer func() { testHookInlineWrite = nil }()
	if _, err := w.Write(a); err != nil {
		t.Fatal(err)
	}
	if !hooked {
		t.Fatal("Write(a) on an idle stream did not go inline")
	}
	testHookInlineWrite = nil
	got := make([]byte, len(a)+len(b))
	if err := peer.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(a)], a) || !bytes.Equal(got[len(a):], b) {
		i := bytes.IndexByte(got, 't')
		t.Fatalf("peer got %q at %d of %d; want all of a, then b", got[i:min(i+len(b), len(got))], i, len(a))
	}
}

// TestInlineWriteOnlyWhenAnswering: Writes go inline only after the
// application has read everything received since the last inline write;
// a run of Writes with no read between, or Writes while pipelined input is
// still buffered, are queued for the writer goroutine to batch.
func TestInlineWriteOnlyWhenAnswering(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw writes on this platform")
	}
	c, peer := rawPair(t)
	r, w := New(c)
	defer func() {
		_ = w.Abort()
		<-w.Done()
	}()
	inlined := 0
	testHookInlineWrite = func() { inlined++ }
	defer func() { testHookInlineWrite = nil }()
	ctx := context.Background()
	write := func(s string) {
		t.Helper()
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	readBack := func(n int) { // the peer reads what was written
		t.Helper()
		if _, err := io.ReadFull(peer, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}

	write("first") // nothing read yet, first Write: inline
	for range 50 {
		write("x") // no read between: queued
	}
	readBack(5 + 50)
	writerIdle(t, w) // the goroutine that wrote them has given the token back
	if inlined != 1 {
		t.Fatalf("%d inline writes for a first Write and 50 with no read between; want 1", inlined)
	}

	// A request, read whole, then the answer: inline.
	if _, err := peer.Write([]byte("req\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadLine(ctx); string(line) != "req\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v", line, err)
	}
	write("answer")
	readBack(6)
	if inlined != 2 {
		t.Fatalf("%d inline writes after answering a request; want 2", inlined)
	}

	// Two pipelined requests: the first answer is written while the
	// second request is still buffered, so it is queued.
	if _, err := peer.Write([]byte("a\nb\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both requests received", func() bool { return r.Buffered() >= 4 })
	if line, err := r.ReadLine(ctx); string(line) != "a\n" || err != nil {
		t.Fatalf("ReadLine() = %q, %v", line, err)
	}
	write("A")
	readBack(1)
	if inlined != 2 {
		t.Fatalf("%d inline writes answering with input still buffered; want 2 (queued)", inlined)
	}

	// A large Write goes inline even with input still buffered ("b\n"):
	// queuing it would cost a copy dearer than the system call. One byte
	// less is small, and queued.
	writerIdle(t, w)
	write(strings.Repeat("L", inlineLarge))
	readBack(inlineLarge)
	if inlined != 3 {
		t.Fatalf("%d inline writes after a Write of %d bytes with input buffered; want 3", inlined, inlineLarge)
	}
	writerIdle(t, w)
	write(strings.Repeat("s", inlineLarge-1))
	readBack(inlineLarge - 1)
	if inlined != 3 {
		t.Fatalf("%d inline writes after a Write of %d bytes with input buffered; want 3 (queued)", inlined, inlineLarge-1)
	}
}

// TestChunksInline: Reader.WriteTo and Writer.ReadFrom into a Writer over
// a socket offer each chunk to the socket inline; through a send buffer
// smaller than a chunk most are cut short and their rest is queued in the
// chunk itself. Every byte arrives, in order.
func TestChunksInline(t *testing.T) {
	if !rawReadSupported {
		t.Skip("no raw writes on this platform")
	}
	for _, via := range []string{"Reader.WriteTo", "Writer.ReadFrom"} {
		t.Run(via, func(t *testing.T) {
			srcPeer, srcConn := rawPair(t)
			dstConn, dstPeer := rawPair(t)
			if err := dstConn.SetWriteBuffer(64 << 10); err != nil { // with the kernel's overhead, less than a chunk: writes are cut short
				t.Fatal(err)
			}
			var (
				copyInto func(w *Writer) (int64, error)
				srcW     *Writer // the source's stream, if any
			)
			if via == "Reader.WriteTo" {
				var r *Reader
				r, srcW = New(srcConn)
				copyInto = func(w *Writer) (int64, error) { return r.WriteTo(w) }
			} else {
				copyInto = func(w *Writer) (int64, error) {
					return w.ReadFrom(struct{ io.Reader }{srcConn}) // a source with no WriteTo of its own
				}
			}
			_, w := New(dstConn)
			defer func() {
				_ = w.Abort()
				<-w.Done()
				if srcW != nil {
					_ = srcW.Abort()
					<-srcW.Done()
				}
			}()
			var inlined atomic.Int64
			testHookInlineWrite = func() { inlined.Add(1) }
			defer func() { testHookInlineWrite = nil }()

			want := make([]byte, 8<<20)
			for i := range want {
				want[i] = byte(i%251) ^ byte(i>>16)
			}
			deadline := time.Now().Add(60 * time.Second)
			_ = srcPeer.SetDeadline(deadline)
			_ = dstPeer.SetDeadline(deadline)
			sent := make(chan error, 1)
			go func() {
				_, err := srcPeer.Write(want)
				sent <- errors.Join(err, srcPeer.CloseWrite())
			}()
			copied := make(chan error, 1)
			go func() {
				n, err := copyInto(w)
				if err == nil && n != int64(len(want)) {
					err = fmt.Errorf("%s = %d bytes; want %d", via, n, len(want))
				}
				copied <- errors.Join(err, w.Close())
			}()
			got, err := io.ReadAll(dstPeer)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if err := <-copied; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("peer got %d bytes, first difference at %d; want the %d sent", len(got), i, len(want))
			}
			if inlined.Load() == 0 {
				t.Error("no chunk was offered to the socket inline")
			}
		})
	}
}

// writerIdle waits until no writer goroutine runs: the write token is
// free. The goroutine returns just after its last write, so a test that
// has seen the bytes arrive waits here for the token.
func writerIdle(t *testing.T, w *Writer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		running := w.owner != ownerNone
		w.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer goroutine is still running")
		}
		runtime.Gosched()
	}
}

// readRaw is rr.read as the reader goroutine uses it: when the pool had no
// chunk, one is allocated and the read made again.
func readRaw(rr *rawReader) ([]byte, int, error) {
	for {
		c, n, err := rr.read()
		if err != errNoChunk {
			return c, n, err
		}
		putChunk(newChunk())
	}
}
