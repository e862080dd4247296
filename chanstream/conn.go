package chanstream

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cspstream/streams/internal/connlabel"
	"golang.org/x/sync/errgroup"
)

// conn is one stream's core: what its two halves share and neither owns.
// It holds the connection, the stream's first failure, the closed and done
// signals, the errgroup of the stream's goroutines, the TLS shutdown bound
// and the AfterClose registrations. [Reader] and [Writer] are front ends
// over it; neither reaches into the other, and what needs both (Upgrade,
// the inline write's question "is the application answering?") goes
// through here.
//
// The goroutines of a stream, all in group:
//
//	New:       c.spawn(r.readLoop)   // the reader goroutine, for the stream's life
//	Write etc: c.spawn(w.run)        // the writer goroutine, while there is work
//	closeNow:  go c.join()           // waits for both (group.Wait), then closes done
//
// join is the only goroutine outside the group, and it starts only once
// the stream is closing, when no goroutine can join the group any more.
type conn struct {
	// Set at construction, never changed.
	r          *Reader // nil for NewWriter
	w          *Writer
	serverSide bool
	dialHost   string         // the host OpenConnection dialed, or ""
	closed     chan struct{}  // closed once, by closeNow, before the connection is closed; every blocking select watches it
	failed     atomic.Bool    // err is set: failure's lock-free answer while it is not
	group      errgroup.Group // the reader and writer goroutines; Wait is called once, by join
	labels     connlabel.Set  // the pprof labels every goroutine of the stream applies as it starts (labels.go)

	mu     sync.Mutex // guards the fields below; taken after Writer.mu and Reader.mu, never before
	phase  phase
	nc     net.Conn    // the connection; nil for NewWriter; replaced by Upgrade
	closer io.Closer   // what closeNow closes: nc, or NewWriter's sink; nil when there is nothing to close
	tlsCfg *tls.Config // ExtraInfo's "sslcontext": the config the stream's TLS layer was made with, or nil
	err    error       // the stream's first failure, from either side; sticky; failed says it is set

	// The TLS shutdown bound (tls.go).
	shutdownTimeout time.Duration // set at construction and by SetTLSShutdownTimeout
	shutdownTimer   *time.Timer   // armed by Close over TLS, stopped by closeNow

	// The end (afterclose.go).
	done   chan struct{} // Done's channel, made by its first call; closed by join
	afters []*afterFunc  // AfterClose registrations, started by join
}

// phase is where the stream is in its life.
type phase uint8

const (
	live    phase = iota // goroutines may start
	closing              // closeNow has run: the connection is closed; join waits for the goroutines
	ended                // every goroutine of the stream has returned: Done is closed
)

func newConn(c *config) *conn {
	return &conn{
		serverSide:      c.serverSide,
		dialHost:        c.dialHost,
		tlsCfg:          c.tls,
		closed:          make(chan struct{}),
		shutdownTimeout: c.shutdownTimeout,
	}
}

// spawn runs f in the stream's group and returns true, unless the stream
// is closing: then join may already be waiting and nothing may join.
func (c *conn) spawn(f func() error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase != live {
		return false
	}
	c.group.Go(f)
	return true
}

// join waits for every goroutine of the stream, then marks it ended:
// closes Done's channel and starts the AfterClose functions.
func (c *conn) join() {
	c.labels.Apply()
	_ = c.group.Wait()
	c.mu.Lock()
	c.phase = ended
	if c.done != nil {
		close(c.done) // the only closer, with Done
	}
	fs := c.afters
	c.afters = nil
	c.mu.Unlock()
	for _, a := range fs {
		go a.f() // labelled as join is
	}
}

// closeNow closes the connection once, recording cause as the stream's
// failure when it is the first. The closed channel is closed before the
// connection, so a goroutine woken by the failed Read or Write sees why;
// then join waits for the goroutines.
//
// Only the graceful close after Close's flush closes a TLS connection with
// its close_notify; Abort and failures close the socket under it at once,
// as asyncio's abort sends nothing.
func (c *conn) closeNow(cause error, graceful bool) {
	c.mu.Lock()
	if c.phase != live {
		c.mu.Unlock()
		return
	}
	c.phase = closing
	if cause != nil {
		c.failLocked(cause)
	}
	closer := c.closer
	c.mu.Unlock()
	close(c.closed)
	if tc, ok := closer.(*tls.Conn); ok && !graceful {
		closer = socketOf(tc) // an abort sends nothing, not even an inner layer's close_notify
	}
	if closer != nil {
		_ = closer.Close()
	}
	c.stopShutdown()
	go c.join()
}

// fail records err as the stream's failure if it is the first and the
// stream is live: an error met after a local close is its consequence.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.phase == live {
		c.failLocked(err)
	}
	c.mu.Unlock()
}

// failLocked records err as the stream's failure unless it has one, and
// raises failed with it: the one writer of err. c.mu is held.
func (c *conn) failLocked(err error) {
	if c.err == nil {
		c.err = err
		c.failed.Store(true)
	}
}

// failure returns the stream's first failure, or nil.
func (c *conn) failure() error {
	if !c.failed.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// readEnded is the reader goroutine's report that the source ended with
// err; it returns what reads are to return after the buffered bytes. A
// failure of a live stream aborts it, as asyncio does, and reads return
// the stream's first failure — also instead of io.EOF, since Linux reports
// a reset once: when a write met it, the reader sees a plain EOF.
func (c *conn) readEnded(err error) error {
	if err != io.EOF {
		c.closeNow(err, false)
	}
	if f := c.failure(); f != nil {
		return f
	}
	return err
}

// netConn returns the connection: New's, or the one Upgrade installed.
func (c *conn) netConn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

// replace installs nc, the connection Upgrade's fn returned.
func (c *conn) replace(nc net.Conn) {
	c.mu.Lock()
	c.nc, c.closer = nc, nc
	c.mu.Unlock()
}

// sinkClosed records that WriteEOF closed a NewWriter sink that cannot
// half-close: closeNow must not close it again.
func (c *conn) sinkClosed() {
	c.mu.Lock()
	c.closer = nil
	c.mu.Unlock()
}

// responding tells the Writer whether the application has consumed every
// byte received since the last inline write (at *mark): see inline.go.
func (c *conn) responding(mark *int64) bool {
	if c.r == nil {
		return false
	}
	return c.r.caughtUp(mark)
}
