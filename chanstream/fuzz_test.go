package chanstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// FuzzReadModes drives a real Reader over a source the test controls and
// compares every read with a reference model: asyncio 3.13's StreamReader
// (a plain buffer and an EOF flag, readuntil with a tuple of separators,
// readline's discard on overrun, readexactly's IncompleteReadError) plus the
// Go rules of API.md (io.EOF, a source error after partial data, Unread,
// cancellation that consumes nothing), after every step (quic-go's
// FuzzFrameSorter).
//
// Which bytes the model sees. The Reader's goroutine hands chunks to the
// reading side one at a time, and a read takes in the next chunk only when
// what it holds does not answer it. The model is asyncio with feed_data
// called at exactly those points: buf is asyncio's _buffer, queue the
// chunks fed to the source and not yet taken in. A read that the model can
// answer (possibly after taking in queued chunks) runs with a plain ctx and
// must complete; a read that would need bytes not fed yet runs with a ctx
// cancelled once Buffered() shows that the Reader has received every fed
// byte (asyncio's _wait_for_data resumes reading, so it must get them),
// and must return ctx.Err() and consume nothing. How many queued chunks a
// cancelled read had taken in is a matter of timing, so the model keeps the
// set of states it cannot tell apart and drops those that later results
// contradict.
//
// Buffered() is compared exactly whenever the Reader's goroutine must have
// read everything fed to it; while back-pressure may hold it (more than
// 2×limit buffered, or five chunks queued behind a channel of four), only
// bounds are checked.
//
// The input is a limit byte (≥ 250: DefaultLimit; else 1 + limit%20) and a
// program: one opcode byte (op%16) then its arguments. Missing bytes end it.
//
//	0-3  feed        len%16, then len data bytes (each maps to fzAlphabet)
//	15   big feed    v < 0xf0: 16 + v%48 data bytes; else (twice at most) a
//	                 huge feed: 4096×(2 + v%8) bytes, 1 + p%8 data bytes
//	                 repeated, in 4 KiB chunks (the buffer outgrows a chunk)
//	4,13 ReadLine
//	5,14 ReadUntil   count%4 (0: none given, "\n"), then one byte per separator (fzSeps)
//	6    ReadExactly n%24
//	7    ReadUpTo    n%24
//	8    Unread      1 + len%4, then data bytes
//	9    v%15 < 5:   a read with an already cancelled ctx, kind v%5
//	     v%15 < 10:  read v%5 (0 ReadLine, 1 ReadUntil(one of fzSeps), 2
//	                 ReadExactly n%24, 3 ReadUpTo n%24, 4 Read n%24: one
//	                 argument byte but for 0), then Unread of 1 + len%4 data
//	                 bytes while it waits
//	     else:       the same reads, with FeedEOF while it waits
//	10   ReadAll
//	11   Read (io.Reader) with len(p) = n%24; skipped where it would block
//	12   end         v%5: 0 EOF, 1 source error, 2 FeedEOF, 3 data+EOF, 4 data+error
//	                 (3, 4: len%8 then data bytes); drain mode (v/5)%4
//
// Feeds after the end, or with fzMaxQueued chunks queued, are skipped.
// After the program the source ends with EOF (if it has not ended) and the
// rest is drained (0 ReadAll, 1 Lines, 2 WriteTo, 3 io.ReadAll over Read);
// then Buffered() must be 0, AtEOF() true, Err() the source's error or nil,
// and every returned slice the caller's: untouched by the Reader later.
func FuzzReadModes(f *testing.F) {
	f.Add(byte(3), []byte("\x00\x05\x00\x01\x02\x03\x00\x04\x04\x04\x0c\x03"))
	f.Fuzz(fzRun)
}

const (
	fzAlphabet = "ab\r\nx"
	fzMaxSteps = 300
	fzPatience = 5 * time.Second // a hang, not a slow machine, takes this long
	fzChanCap  = 4               // the Reader's chunk channel (chunkQueue)
	// fzMaxQueued bounds the chunks fed and not taken in: a cancelled read
	// multiplies the model's states by their number.
	fzMaxQueued = 12
)

var fzSeps = [][]byte{
	[]byte("\n"), []byte("\r\n"), []byte("ab"), []byte("aba"),
	[]byte("\r"), []byte("b"), []byte("bab"), []byte("x\n"),
}

var errFzSource = errors.New("fz: source failed")

// --- The source ---------------------------------------------------------

type fzMsg struct {
	data []byte
	err  error // non-nil: the last message, returned with data
}

// fzFeeder is how the harness gives the Reader its source's messages: an
// io.Reader for NewReader (fzSource), or the peer of a real TCP connection
// for New (fzSocket).
type fzFeeder interface {
	send(m fzMsg) bool     // false: no room for it
	taken() int64          // messages the Reader's goroutine has read whole
	entered() int64        // taken(), as of the goroutine's latest read of the source
	close()                // no more messages: an EOF for a Reader past FeedEOF
	failed(err error) bool // err is the source's failure (a message's err that is not io.EOF)
	overSocket() bool
}

// fzSource returns, from each Read, the next message the test sent.
type fzSource struct {
	ch        chan fzMsg
	takenN    atomic.Int64 // messages taken from ch
	enteredN  atomic.Int64 // taken, as of the latest call of Read
	rest      []byte       // a message longer than p (never with these sizes)
	restErr   error
	closeOnce sync.Once
}

func (s *fzSource) Read(p []byte) (int, error) {
	if len(s.rest) > 0 {
		n := copy(p, s.rest)
		s.rest = s.rest[n:]
		if len(s.rest) == 0 {
			return n, s.restErr
		}
		return n, nil
	}
	s.enteredN.Store(s.takenN.Load())
	m, ok := <-s.ch
	if !ok {
		return 0, io.EOF
	}
	s.takenN.Add(1)
	n := copy(p, m.data)
	if n < len(m.data) {
		s.rest, s.restErr = m.data[n:], m.err
		return n, nil
	}
	return n, m.err
}

func (s *fzSource) close() { s.closeOnce.Do(func() { close(s.ch) }) }

func (s *fzSource) send(m fzMsg) bool {
	select {
	case s.ch <- m:
		return true
	default:
		return false
	}
}

func (s *fzSource) taken() int64          { return s.takenN.Load() }
func (s *fzSource) entered() int64        { return s.enteredN.Load() }
func (s *fzSource) failed(err error) bool { return errors.Is(err, errFzSource) }
func (s *fzSource) overSocket() bool      { return false }

// fzSocket sends each message over a real TCP connection on loopback to a
// stream made by New, and learns from the reader goroutine's reads
// (chanstream.WatchChunks) what it has read. The harness sends a message
// only while that goroutine waits in its read (never while it may stall),
// so each message is one read, as with fzSource. A source error is a
// reset, sent once the message's bytes have been read.
type fzSocket struct {
	peer  *net.TCPConn
	r     *chanstream.Reader
	unsee func()

	mu       sync.Mutex
	ends     []int64       // cumulative bytes at the end of each message sent
	endMsg   bool          // the last message sent ended the stream
	received int64         // bytes the goroutine read
	sawEnd   bool          // it read the end (EOF or the reset)
	reads    int64         // reads it finished (bytes or the end)
	change   chan struct{} // see → send: a read happened; cap 1, coalescing
}

func (s *fzSocket) see(c []byte, err error) {
	s.mu.Lock()
	if c != nil || err != nil { // a read finished
		s.reads++
	}
	s.received += int64(len(c))
	if err != nil {
		s.sawEnd = true
	}
	s.mu.Unlock()
	select {
	case s.change <- struct{}{}:
	default:
	}
}

func (s *fzSocket) takenLocked() int64 {
	n := int64(0)
	for i, e := range s.ends {
		if s.received < e || (i == len(s.ends)-1 && s.endMsg && !s.sawEnd) {
			break
		}
		n++
	}
	return n
}

func (s *fzSocket) taken() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takenLocked()
}

// entered is taken() while the goroutine is in a read it began after
// every read it finished, else -1 (not waiting for the next message).
func (s *fzSocket) entered() int64 {
	begun := chanstream.ReadsBegun(s.r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if begun > s.reads {
		return s.takenLocked()
	}
	return -1
}

func (s *fzSocket) send(m fzMsg) bool {
	s.mu.Lock()
	end := int64(len(m.data))
	if n := len(s.ends); n > 0 {
		end += s.ends[n-1]
	}
	s.ends = append(s.ends, end)
	s.endMsg = m.err != nil
	s.mu.Unlock()
	if len(m.data) > 0 {
		if _, err := s.peer.Write(m.data); err != nil {
			return false
		}
	}
	switch {
	case m.err == io.EOF:
		return s.peer.CloseWrite() == nil
	case m.err != nil: // a reset, once the bytes before it are read
		deadline := time.After(fzPatience)
		for {
			s.mu.Lock()
			got := s.received
			s.mu.Unlock()
			if got >= end {
				break
			}
			select {
			case <-s.change:
			case <-deadline:
				return false
			}
		}
		_ = s.peer.SetLinger(0)
		return s.peer.Close() == nil
	}
	return true
}

func (s *fzSocket) close()                { s.peer.Close() }
func (s *fzSocket) failed(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
func (s *fzSocket) overSocket() bool      { return true }

// --- The model ----------------------------------------------------------

// fzModel is asyncio's StreamReader state with lazy feeding: buf is
// _buffer, queue the chunks not yet fed to it, eof/err how the source
// ended (after queue).
type fzModel struct {
	buf   []byte
	queue [][]byte // never empty chunks; never modified
	eof   bool
	err   error // with eof: nil for a clean end, else errFzSource
	owned bool  // buf's array is this model's alone: fill may append in place
}

// clone is cheap: the clone shares buf's array, which neither writes
// again (fill copies it first, Unread makes a new one).
func (m *fzModel) clone() *fzModel {
	m.owned = false
	return &fzModel{buf: m.buf, queue: slices.Clone(m.queue), eof: m.eof, err: m.err}
}

// absorbed returns m after taking in each number of its queued chunks,
// 0 to all: what a read that waited may have done.
func (m *fzModel) absorbed() []*fzModel {
	full := slices.Clip(m.buf)
	ends := []int{len(full)}
	for _, c := range m.queue {
		full = append(full, c...)
		ends = append(ends, len(full))
	}
	out := make([]*fzModel, len(ends))
	for j, e := range ends {
		out[j] = &fzModel{buf: full[:e:e], queue: slices.Clone(m.queue[j:]), eof: m.eof, err: m.err}
	}
	return out
}

func (m *fzModel) total() int {
	n := len(m.buf)
	for _, c := range m.queue {
		n += len(c)
	}
	return n
}

func (m *fzModel) equal(o *fzModel) bool {
	if m.eof != o.eof || m.err != o.err || len(m.queue) != len(o.queue) || !bytes.Equal(m.buf, o.buf) {
		return false
	}
	for i := range m.queue {
		if !bytes.Equal(m.queue[i], o.queue[i]) {
			return false
		}
	}
	return true
}

// fzQ quotes b, shortened when long.
func fzQ(b []byte) string {
	if len(b) <= 100 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q...(%d bytes)...%q", b[:50], len(b)-70, b[len(b)-20:])
}

func (m *fzModel) String() string {
	q := make([]string, len(m.queue))
	for i, c := range m.queue {
		q[i] = fzQ(c)
	}
	end := "open"
	if m.eof {
		end = "EOF"
		if m.err != nil {
			end = "error"
		}
	}
	return fmt.Sprintf("buf %s, queue [%s], %s", fzQ(m.buf), strings.Join(q, " "), end)
}

// fill is feed_data of the next queued chunk; false when there is none.
func (m *fzModel) fill() bool {
	if len(m.queue) == 0 {
		return false
	}
	if !m.owned {
		m.buf, m.owned = slices.Clip(m.buf), true // append copies
	}
	m.buf = append(m.buf, m.queue[0]...)
	m.queue = m.queue[1:]
	return true
}

func (m *fzModel) take(n int) []byte {
	d := m.buf[:n:n]
	m.buf = m.buf[n:]
	return d
}

func (m *fzModel) takeAll() []byte {
	d := m.buf
	m.buf = nil
	return d
}

// end is a read's result when the source ended before it could complete:
// after a source error, every buffered byte with the error; after a clean
// EOF, the IncompleteReadError (Expected expected) or, when expected is 0,
// io.EOF. Either way the buffer is emptied.
func (m *fzModel) end(expected int) fzRes {
	d := m.takeAll()
	switch {
	case m.err != nil:
		return fzRes{kind: fzFailed, data: d}
	case expected == 0:
		return fzRes{kind: fzEOF}
	default:
		return fzRes{kind: fzIncomplete, data: d, n: expected}
	}
}

type fzKind int

const (
	fzOK fzKind = iota
	fzEOF
	fzCanceled
	fzIncomplete
	fzOverrun
	fzFailed // the source's error, with data
)

type fzRes struct {
	blocked bool // needs bytes not fed yet
	kind    fzKind
	data    []byte // the result; Partial for fzIncomplete
	n       int    // Consumed for fzOverrun, Expected for fzIncomplete
}

func (r fzRes) String() string {
	switch {
	case r.blocked:
		return "blocked"
	case r.kind == fzOK:
		return fmt.Sprintf("%s, <nil>", fzQ(r.data))
	case r.kind == fzEOF:
		return `"", io.EOF`
	case r.kind == fzCanceled:
		return `"", context.Canceled`
	case r.kind == fzIncomplete:
		return fmt.Sprintf(`"", IncompleteReadError{Partial: %s, Expected: %d}`, fzQ(r.data), r.n)
	case r.kind == fzOverrun:
		return fmt.Sprintf(`"", LimitOverrunError{Consumed: %d}`, r.n)
	default:
		return fmt.Sprintf("%s, source error", fzQ(r.data))
	}
}

// read is asyncio's read(n) (ReadUpTo, and Read with len(p) = n).
func (m *fzModel) read(n int) fzRes {
	if n == 0 {
		return fzRes{kind: fzOK, data: []byte{}}
	}
	for len(m.buf) == 0 {
		if m.fill() {
			continue
		}
		if m.eof {
			return m.end(0) // the buffer is empty
		}
		return fzRes{blocked: true}
	}
	return fzRes{kind: fzOK, data: m.take(min(n, len(m.buf)))}
}

// readAll is asyncio's read(-1).
func (m *fzModel) readAll() fzRes {
	if !m.eof {
		return fzRes{blocked: true} // (without taking in the queue: blocked results are not used)
	}
	if len(m.queue) > 0 { // every fill at once
		b := make([]byte, 0, m.total())
		b = append(b, m.buf...)
		for _, c := range m.queue {
			b = append(b, c...)
		}
		m.buf, m.queue, m.owned = b, nil, true
	}
	d := m.takeAll()
	if d == nil {
		d = []byte{}
	}
	if m.err != nil {
		return fzRes{kind: fzFailed, data: d}
	}
	return fzRes{kind: fzOK, data: d}
}

// readExactly is asyncio's readexactly.
func (m *fzModel) readExactly(n int) fzRes {
	if n == 0 {
		return fzRes{kind: fzOK, data: []byte{}}
	}
	for len(m.buf) < n {
		if m.fill() {
			continue
		}
		if m.eof {
			return m.end(n)
		}
		return fzRes{blocked: true}
	}
	return fzRes{kind: fzOK, data: m.take(n)}
}

// until is asyncio 3.13's readuntil with a tuple of separators, line for line.
func (m *fzModel) until(seps [][]byte, limit int) fzRes {
	sorted := slices.Clone(seps)
	slices.SortStableFunc(sorted, func(a, b []byte) int { return len(a) - len(b) })
	minLen, maxLen := len(sorted[0]), len(sorted[len(sorted)-1])
	offset := 0
	for {
		buflen := len(m.buf)
		if buflen-offset >= minLen {
			matchStart, matchEnd := -1, -1
			for _, sep := range sorted {
				i := bytes.Index(m.buf[offset:], sep)
				if i < 0 {
					continue
				}
				i += offset
				if end := i + len(sep); matchEnd < 0 || end < matchEnd {
					matchStart, matchEnd = i, end
				}
			}
			if matchEnd >= 0 {
				if matchStart > limit {
					return fzRes{kind: fzOverrun, n: matchStart}
				}
				return fzRes{kind: fzOK, data: m.take(matchEnd)}
			}
			offset = max(0, buflen+1-maxLen)
			if offset > limit {
				return fzRes{kind: fzOverrun, n: offset}
			}
		}
		if m.fill() { // _wait_for_data
			continue
		}
		if m.eof {
			return m.end(-1)
		}
		return fzRes{blocked: true}
	}
}

var fzNewline = [][]byte{[]byte("\n")}

// readLine is asyncio's readline, with API.md's io.EOF at the end.
func (m *fzModel) readLine(limit int) fzRes {
	res := m.until(fzNewline, limit)
	switch {
	case res.blocked:
	case res.kind == fzOverrun:
		if c := res.n; c < len(m.buf) && m.buf[c] == '\n' {
			m.buf = m.buf[c+1:]
		} else {
			m.buf = nil
		}
	case res.kind == fzIncomplete:
		if len(res.data) == 0 {
			return fzRes{kind: fzEOF}
		}
		return fzRes{kind: fzOK, data: res.data}
	}
	return res
}

// --- Operations -------------------------------------------------------

type fzOpKind int

const (
	fzReadLine fzOpKind = iota
	fzReadUntil
	fzReadExactly
	fzReadUpTo
	fzReadAll
	fzRead // io.Reader
)

type fzOp struct {
	kind      fzOpKind
	n         int
	seps      [][]byte
	cancelled bool // run with a ctx that has already ended
}

func (op fzOp) String() string {
	var s string
	switch op.kind {
	case fzReadLine:
		s = "ReadLine()"
	case fzReadUntil:
		q := make([]string, len(op.seps))
		for i, sep := range op.seps {
			q[i] = fmt.Sprintf("%q", sep)
		}
		s = "ReadUntil(" + strings.Join(q, ", ") + ")"
	case fzReadExactly:
		s = fmt.Sprintf("ReadExactly(%d)", op.n)
	case fzReadUpTo:
		s = fmt.Sprintf("ReadUpTo(%d)", op.n)
	case fzReadAll:
		s = "ReadAll()"
	case fzRead:
		s = fmt.Sprintf("Read(len %d)", op.n)
	}
	if op.cancelled {
		s += " [ctx already cancelled]"
	}
	return s
}

func (op fzOp) model(m *fzModel, limit int) fzRes {
	if op.cancelled {
		return fzRes{kind: fzCanceled}
	}
	switch op.kind {
	case fzReadLine:
		return m.readLine(limit)
	case fzReadUntil:
		seps := op.seps
		if len(seps) == 0 {
			seps = fzNewline
		}
		return m.until(seps, limit)
	case fzReadExactly:
		return m.readExactly(op.n)
	case fzReadAll:
		return m.readAll()
	default: // fzReadUpTo, fzRead
		return m.read(op.n)
	}
}

func (op fzOp) do(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
	switch op.kind {
	case fzReadLine:
		return r.ReadLine(ctx)
	case fzReadUntil:
		return r.ReadUntil(ctx, op.seps...)
	case fzReadExactly:
		return r.ReadExactly(ctx, op.n)
	case fzReadUpTo:
		return r.ReadUpTo(ctx, op.n)
	case fzReadAll:
		return r.ReadAll(ctx)
	default:
		p := make([]byte, op.n)
		n, err := r.Read(p)
		return p[:n], err
	}
}

// fzCheck returns "" when (got, err) is want, else what differs.
func fzCheck(got []byte, err error, want fzRes, failed func(error) bool) string {
	if err == nil { // the common case, without errors.As
		if want.kind != fzOK || !bytes.Equal(got, want.data) {
			return "data or error"
		}
		return ""
	}
	var ire *chanstream.IncompleteReadError
	var loe *chanstream.LimitOverrunError
	isIRE, isLOE := errors.As(err, &ire), errors.As(err, &loe)
	switch want.kind {
	case fzOK:
		if err != nil || !bytes.Equal(got, want.data) {
			return "data or error"
		}
	case fzEOF:
		if err != io.EOF || len(got) != 0 {
			return "want exactly (nil, io.EOF)"
		}
	case fzCanceled:
		if !errors.Is(err, context.Canceled) || len(got) != 0 {
			return "want ctx.Err()"
		}
	case fzIncomplete:
		if !isIRE || !bytes.Equal(ire.Partial, want.data) || ire.Expected != want.n || len(got) != 0 {
			return "IncompleteReadError"
		}
		if len(want.data) > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
			return "IncompleteReadError with bytes does not unwrap to io.ErrUnexpectedEOF"
		}
		if len(want.data) == 0 && !errors.Is(err, io.EOF) {
			return "IncompleteReadError without bytes does not unwrap to io.EOF"
		}
	case fzOverrun:
		if !isLOE || loe.Consumed != want.n || len(got) != 0 {
			return "LimitOverrunError"
		}
	case fzFailed:
		if !failed(err) || isIRE || isLOE || !bytes.Equal(got, want.data) {
			return "source error with the buffered bytes"
		}
	}
	return ""
}

// --- The harness ------------------------------------------------------

type fzGot struct {
	b   []byte
	err error
}

type fzKept struct{ got, want []byte }

type fzHarness struct {
	t     *testing.T
	r     *chanstream.Reader
	src   fzFeeder
	limit int

	states []*fzModel // the states the Reader may be in; never empty
	sent   int64      // messages sent to src

	mayStall bool // the Reader's goroutine may not read the next message promptly
	behind   bool // a message was sent while mayStall, maybe not read yet
	ended    bool // the end was sent (or FeedEOF): no more messages
	closed   bool // FeedEOF, and src closed
	srcErr   bool // the end is errFzSource

	trace   []string
	kept    []fzKept // returned slices that must stay as they were
	results int
}

func (h *fzHarness) logf(format string, args ...any) {
	h.trace = append(h.trace, fmt.Sprintf(format, args...))
}

func (h *fzHarness) fail(format string, args ...any) {
	h.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, format, args...)
	fmt.Fprintf(&b, "\nlimit %d; steps:\n", h.limit)
	tr := h.trace
	if len(tr) > 60 {
		fmt.Fprintf(&b, "\t... %d earlier steps\n", len(tr)-60)
		tr = tr[len(tr)-60:]
	}
	for _, s := range tr {
		fmt.Fprintf(&b, "\t%s\n", s)
	}
	b.WriteString("model states:\n")
	for _, s := range h.states {
		fmt.Fprintf(&b, "\t%v\n", s)
	}
	h.t.Fatal(b.String())
}

// waitFor polls cond, which waits for a state rather than for time; it
// fails the test after fzPatience.
func (h *fzHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	if cond() {
		return
	}
	deadline := time.Now().Add(fzPatience)
	for i := 0; !cond(); i++ {
		if i%128 == 0 && time.Now().After(deadline) {
			h.fail("waited %v for %s; Buffered() = %d", fzPatience, what, h.r.Buffered())
		}
		if i < 1000 {
			runtime.Gosched()
		} else { // a loaded machine: leave the CPU to the goroutine we wait for
			time.Sleep(20 * time.Microsecond)
		}
	}
}

func (h *fzHarness) totals() []int {
	var ts []int
	for _, s := range h.states {
		if t := s.total(); !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// caughtUp reports whether the Reader's goroutine has read every message.
func (h *fzHarness) caughtUp() bool {
	switch {
	case h.closed:
		return true
	case h.ended:
		return h.src.taken() == h.sent
	default:
		return h.src.entered() == h.sent
	}
}

// exact checks Buffered() against the states' totals, keeping those that
// match.
func (h *fzHarness) exact(what string) {
	h.t.Helper()
	b := h.r.Buffered()
	var next []*fzModel
	for _, s := range h.states {
		if s.total() == b {
			next = append(next, s)
		}
	}
	if len(next) == 0 {
		h.fail("after %s: Buffered() = %d; want one of %v", what, b, h.totals())
	}
	h.states = next
	switch {
	case !h.ended && h.r.AtEOF():
		h.fail("after %s: AtEOF() = true before the source ended", what)
	case h.ended && b == 0: // the goroutine took the end: it finishes now
		h.waitFor("AtEOF() at the end with nothing buffered", h.r.AtEOF)
	}
}

// waitExact waits until the Reader's goroutine has read every message,
// then checks Buffered().
func (h *fzHarness) waitExact(what string) {
	h.t.Helper()
	h.waitFor("the Reader to read every message of its source", h.caughtUp)
	if h.ended && !h.closed { // the last message's bytes are counted just after Read returns
		ts := h.totals()
		h.waitFor(fmt.Sprintf("Buffered() in %v", ts), func() bool { return slices.Contains(ts, h.r.Buffered()) })
	}
	h.exact(what)
}

func (h *fzHarness) bounds(what string) {
	h.t.Helper()
	lo, hi := h.states[0].total(), 0
	for _, s := range h.states {
		lo, hi = min(lo, len(s.buf)), max(hi, s.total())
	}
	if b := h.r.Buffered(); b < lo || b > hi {
		h.fail("after %s: Buffered() = %d; want within [%d, %d]", what, b, lo, hi)
	}
}

// risky reports whether, with everything received, the goroutine may stop
// reading: more than 2×limit buffered (it pauses), or a full chunk channel
// plus one chunk in hand.
func (h *fzHarness) risky(states []*fzModel) bool {
	for _, s := range states {
		if s.total() > 2*h.limit || len(s.queue) > fzChanCap {
			return true
		}
	}
	return false
}

// catchable reports whether a stalled goroutine must read again now: at
// most limit buffered (the read that consumed down to it resumed it) and
// room in the channel for every queued chunk.
func (h *fzHarness) catchable() bool {
	for _, s := range h.states {
		if s.total() > h.limit || len(s.queue) > fzChanCap {
			return false
		}
	}
	return true
}

// settle checks Buffered() after a step that did not send a message.
func (h *fzHarness) settle(what string) {
	h.t.Helper()
	switch {
	case (h.behind || h.mayStall) && h.catchable():
		h.waitExact(what)
		h.behind, h.mayStall = false, false
	case h.behind:
		h.bounds(what)
	case h.mayStall: // everything was read: Buffered() only changes by our reads
		h.exact(what)
	default:
		h.waitExact(what)
	}
}

func (h *fzHarness) setStates(next []*fzModel) {
	var out []*fzModel
	for _, s := range next {
		if !slices.ContainsFunc(out, s.equal) {
			out = append(out, s)
		}
	}
	h.states = out
}

// send gives the source one more message; chunk goes to every state.
func (h *fzHarness) send(m fzMsg, what string) {
	h.t.Helper()
	if !h.src.send(m) {
		h.fail("the source took no more messages (%d sent)", h.sent)
	}
	h.sent++
	for _, s := range h.states {
		if len(m.data) > 0 {
			s.queue = append(s.queue, m.data)
		}
		if m.err != nil {
			s.eof = true
			if m.err != io.EOF {
				s.err = m.err
			}
		}
	}
	if h.mayStall {
		h.behind = true
		h.bounds(what)
		return
	}
	// The goroutine waits in Read: it takes this message now.
	ts := h.totals()
	h.waitFor("the Reader to read "+what, func() bool {
		return h.src.taken() == h.sent && slices.Contains(ts, h.r.Buffered())
	})
	if !h.ended && h.risky(h.states) {
		h.mayStall = true
		h.exact(what)
		return
	}
	h.waitExact(what)
}

func (h *fzHarness) feed(data []byte) {
	h.t.Helper()
	if h.ended {
		h.logf("feed %s: skipped, the source has ended", fzQ(data))
		return
	}
	for _, s := range h.states {
		if len(s.queue) >= fzMaxQueued {
			h.logf("feed %s: skipped, %d chunks queued", fzQ(data), len(s.queue))
			return
		}
	}
	if h.src.overSocket() && (len(data) == 0 || h.mayStall || h.behind) {
		// A socket has no empty message, and bytes sent while the
		// goroutine may not read at once could arrive in one read with
		// the next ones: chunks the model does not know.
		h.logf("feed %s: skipped over a socket", fzQ(data))
		return
	}
	h.logf("feed %s", fzQ(data))
	h.send(fzMsg{data: data}, fmt.Sprintf("feed %s", fzQ(data)))
}

const (
	fzEndEOF = iota
	fzEndError
	fzEndFeedEOF
	fzEndDataEOF
	fzEndDataError
)

func (h *fzHarness) end(variant int, data []byte) {
	h.t.Helper()
	if h.ended {
		h.logf("end: skipped, already ended")
		return
	}
	if variant == fzEndFeedEOF && (h.mayStall || h.behind) {
		variant = fzEndEOF // FeedEOF drops what the goroutine has not handed over
	}
	if h.src.overSocket() && variant != fzEndFeedEOF {
		// Over a socket the end is a read of its own: the data goes first,
		// as a feed, and when the goroutine may not read at once the end is
		// a FIN behind what is in flight (a reset could overtake it).
		if len(data) > 0 {
			h.feed(data)
			data = nil
		}
		if h.mayStall || h.behind {
			variant = fzEndEOF
		}
	}
	switch variant {
	case fzEndFeedEOF:
		h.logf("FeedEOF")
		h.r.FeedEOF()
		h.src.close()
		h.ended, h.closed = true, true
		for _, s := range h.states {
			s.eof = true
		}
		h.exact("FeedEOF")
	case fzEndEOF, fzEndDataEOF:
		h.logf("end: %s then EOF", fzQ(data))
		h.ended = true
		h.send(fzMsg{data: data, err: io.EOF}, "EOF")
	default:
		h.logf("end: %s then source error", fzQ(data))
		h.ended, h.srcErr = true, true
		h.send(fzMsg{data: data, err: errFzSource}, "source error")
	}
}

func (h *fzHarness) unread(p []byte) {
	h.t.Helper()
	h.logf("Unread(%s)", fzQ(p))
	h.r.Unread(p)
	for _, s := range h.states {
		s.buf = append(slices.Clone(p), s.buf...)
	}
	for i := range p { // Unread copies p
		p[i] = 0xee
	}
	h.settle("Unread")
}

// keep makes sure a returned slice is the caller's: every other one is
// scribbled over (the Reader must not read it again), the rest must stay
// as they were.
func (h *fzHarness) keep(b []byte) {
	if len(b) == 0 {
		return
	}
	h.results++
	if h.results%2 == 0 {
		for i := range b {
			b[i] = 0xdd
		}
		return
	}
	h.kept = append(h.kept, fzKept{got: b, want: slices.Clone(b)})
}

func fzResultData(got []byte, err error) []byte {
	var ire *chanstream.IncompleteReadError
	if errors.As(err, &ire) {
		return ire.Partial
	}
	return got
}

// call runs op and fails the test if it does not return in fzPatience.
func (h *fzHarness) call(op fzOp) ([]byte, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fzPatience)
	defer cancel()
	if op.cancelled {
		c, cancel := context.WithCancel(ctx)
		cancel()
		ctx = c
	}
	done := make(chan fzGot, 1)
	go func() {
		b, err := op.do(ctx, h.r)
		done <- fzGot{b, err}
	}()
	timer := time.NewTimer(fzPatience + time.Second)
	defer timer.Stop()
	select {
	case g := <-done:
		if errors.Is(g.err, context.DeadlineExceeded) {
			h.fail("%v did not complete in %v (returned %s, %v)", op, fzPatience, fzQ(g.b), g.err)
		}
		return g.b, g.err
	case <-timer.C:
		h.fail("%v did not return in %v", op, fzPatience)
		return nil, nil
	}
}

func (h *fzHarness) read(op fzOp) {
	h.t.Helper()
	type cand struct {
		res  fzRes
		next *fzModel
	}
	cands := make([]cand, len(h.states))
	blocked := 0
	for i, s := range h.states {
		c := s.clone()
		cands[i] = cand{op.model(c, h.limit), c}
		if cands[i].res.blocked {
			blocked++
		}
	}
	switch {
	case blocked == len(cands):
		h.readBlocked(op, "cancelled while waiting", nil, nil)
		return
	case blocked > 0:
		h.logf("%v: skipped, blocks in some of the states only", op)
		return
	}
	got, err := h.call(op)
	h.logf("%v = %s, %v", op, fzQ(got), err)
	var next []*fzModel
	var wants []string
	for _, c := range cands {
		if fzCheck(got, err, c.res, h.src.failed) == "" {
			next = append(next, c.next)
		} else if w := c.res.String(); !slices.Contains(wants, w) {
			wants = append(wants, w)
		}
	}
	if len(next) == 0 {
		h.fail("%v = %s, %v; want %s (%s)", op, fzQ(got), err, strings.Join(wants, " or "), fzCheck(got, err, cands[0].res, h.src.failed))
	}
	h.setStates(next)
	h.keep(fzResultData(got, err))
	h.settle(op.String())
}

// readBlocked runs a read that needs bytes not fed yet: it must wait and
// receive every fed byte (asyncio's _wait_for_data resumes reading). Then
// poke, if any, runs while it waits (Unread or FeedEOF, which apply makes
// in the model): a read the model then completes must return its result.
// A read still waiting is cancelled and must return ctx.Err() and consume
// nothing.
func (h *fzHarness) readBlocked(op fzOp, what string, poke func(), apply func(*fzModel)) {
	h.t.Helper()
	ts := h.totals()
	if len(ts) != 1 {
		h.logf("%v: skipped, the states hold different amounts %v", op, ts)
		return
	}
	// While it waits it takes in any number of the queued chunks. The
	// states hold the same bytes (the same total), split differently: the
	// one with the most chunks queued has every split of the others.
	most := h.states[0]
	for _, s := range h.states {
		if len(s.queue) > len(most.queue) {
			most = s
		}
	}
	base := most.absorbed()
	for _, s := range h.states {
		if !slices.ContainsFunc(base, s.equal) {
			h.fail("model: state %v is no split of %v", s, most)
		}
	}
	if apply != nil {
		for _, c := range base {
			apply(c)
		}
	}
	type cand struct {
		res  fzRes
		next *fzModel
	}
	var cands []cand
	blocked := 0
	for _, b := range base {
		c := b.clone()
		res := op.model(c, h.limit)
		if res.blocked {
			blocked++
		} else {
			cands = append(cands, cand{res, c})
		}
	}
	if op.kind == fzRead && blocked > 0 { // no ctx to cancel it with
		h.logf("%v: skipped, it would block", op)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fzPatience)
	defer cancel()
	done := make(chan fzGot, 1)
	go func() {
		b, err := op.do(ctx, h.r)
		done <- fzGot{b, err}
	}()
	h.waitFor(fmt.Sprintf("Buffered() = %d while %v waits (asyncio resumes reading in _wait_for_data)", ts[0], op),
		func() bool { return h.r.Buffered() == ts[0] || len(done) > 0 })
	if poke != nil {
		poke()
	}
	if blocked > 0 {
		cancel()
	}
	var g fzGot
	select {
	case g = <-done:
	case <-time.After(fzPatience + time.Second):
		h.fail("%v did not return (%s)", op, what)
	}
	h.logf("%v [%s] = %s, %v", op, what, fzQ(g.b), g.err)
	if errors.Is(g.err, context.DeadlineExceeded) {
		h.fail("%v did not complete in %v (%s)", op, fzPatience, what)
	}
	if blocked > 0 && errors.Is(g.err, context.Canceled) && len(g.b) == 0 {
		h.setStates(base) // consumed nothing
	} else {
		var next []*fzModel
		var wants []string
		for _, c := range cands {
			if fzCheck(g.b, g.err, c.res, h.src.failed) == "" {
				next = append(next, c.next)
			} else if w := c.res.String(); !slices.Contains(wants, w) {
				wants = append(wants, w)
			}
		}
		if blocked > 0 {
			wants = append(wants, "ctx.Err()")
		}
		if len(next) == 0 {
			h.fail("%v [%s] = %s, %v; want %s", op, what, fzQ(g.b), g.err, strings.Join(wants, " or "))
		}
		h.setStates(next)
		h.keep(fzResultData(g.b, g.err))
	}
	// Every byte was received, but a goroutine paused before stays paused
	// until Buffered() ≤ limit (asyncio's hysteresis), and a full channel
	// holds one more chunk in the goroutine's hand.
	h.mayStall = h.mayStall || h.behind || h.risky(h.states)
	h.behind = false
	h.settle(op.String())
}

// readPoked runs op; where the model says it waits, poke runs while it
// does: Unread(p), or FeedEOF when p is nil.
func (h *fzHarness) readPoked(op fzOp, p []byte) {
	h.t.Helper()
	blocked := true
	for _, s := range h.states {
		blocked = blocked && op.model(s.clone(), h.limit).blocked
	}
	feedEOF := p == nil
	if feedEOF && (h.ended || h.mayStall || h.behind) {
		h.read(op)
		return
	}
	if !blocked {
		h.read(op)
		if feedEOF {
			h.end(fzEndFeedEOF, nil)
		} else {
			h.unread(p)
		}
		return
	}
	if feedEOF {
		h.readBlocked(op, "FeedEOF while it waits", func() {
			h.r.FeedEOF()
			h.src.close()
			h.ended, h.closed = true, true
		}, func(m *fzModel) { m.eof = true })
		return
	}
	h.readBlocked(op, fmt.Sprintf("Unread(%s) while it waits", fzQ(p)), func() {
		h.r.Unread(p)
		for i := range p {
			p[i] = 0xee
		}
	}, func(m *fzModel) { m.buf = append(slices.Clone(p), m.buf...) })
}

// drain reads the rest of the stream in one of four ways.
func (h *fzHarness) drain(mode int) {
	h.t.Helper()
	switch mode {
	case 0:
		h.read(fzOp{kind: fzReadAll})
	case 1:
		h.drainLines()
		h.read(fzOp{kind: fzReadAll}) // what Lines left after an error
	case 2:
		h.drainWriteTo()
	case 3:
		h.drainReadAllIO()
	}
	h.exact("drain")
	for _, s := range h.states {
		if s.total() != 0 {
			h.fail("model not drained: %v", s)
		}
	}
	if !h.r.AtEOF() {
		h.fail("AtEOF() = false after the stream was drained")
	}
	if err := h.r.Err(); (err == nil) == h.srcErr || (h.srcErr && !h.src.failed(err)) {
		h.fail("Err() = %v; source error: %v", err, h.srcErr)
	}
	for _, k := range h.kept {
		if !bytes.Equal(k.got, k.want) {
			h.fail("a returned slice changed after it was returned: %s, was %s", fzQ(k.got), fzQ(k.want))
		}
	}
}

func (h *fzHarness) drainLines() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fzPatience)
	defer cancel()
	var got []fzGot
	for line, err := range h.r.Lines(ctx) {
		got = append(got, fzGot{line, err})
		if len(got) > 100000 {
			break
		}
	}
	h.logf("Lines() yielded %d", len(got))
	var next []*fzModel
	var why []string
	for _, s := range h.states {
		c := s.clone()
		var ws []fzRes
		for {
			res := c.readLine(h.limit)
			if res.blocked {
				h.fail("model: ReadLine blocks after the end")
			}
			if res.kind == fzEOF {
				break
			}
			ws = append(ws, res)
			if res.kind != fzOK {
				break
			}
		}
		i := 0
		for i < len(ws) && i < len(got) && fzCheck(got[i].b, got[i].err, ws[i], h.src.failed) == "" {
			i++
		}
		switch {
		case i == len(ws) && i == len(got):
			next = append(next, c)
		case i < len(ws) && i < len(got):
			why = append(why, fmt.Sprintf("line %d = %s, %v; want %v", i, fzQ(got[i].b), got[i].err, ws[i]))
		default:
			why = append(why, fmt.Sprintf("%d lines; want %d", len(got), len(ws)))
		}
	}
	if len(next) == 0 {
		h.fail("Lines(): %s", strings.Join(why, " or "))
	}
	h.setStates(next)
	for _, g := range got {
		h.keep(fzResultData(g.b, g.err))
	}
}

// drainAll compares a whole-stream read (WriteTo, io.ReadAll) with ReadAll's model.
func (h *fzHarness) drainAll(what string, got []byte, err error) {
	h.t.Helper()
	h.logf("%s = %s, %v", what, fzQ(got), err)
	var next []*fzModel
	var wants []string
	for _, s := range h.states {
		c := s.clone()
		res := c.readAll()
		if fzCheck(got, err, res, h.src.failed) == "" {
			next = append(next, c)
		} else {
			wants = append(wants, res.String())
		}
	}
	if len(next) == 0 {
		h.fail("%s = %s, %v; want %s", what, fzQ(got), err, strings.Join(wants, " or "))
	}
	h.setStates(next)
	h.keep(got)
}

func (h *fzHarness) drainWriteTo() {
	h.t.Helper()
	var buf bytes.Buffer
	n, err := h.r.WriteTo(&buf)
	if n != int64(buf.Len()) {
		h.fail("WriteTo = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	if err == nil && buf.Len() == 0 {
		h.drainAll("WriteTo", []byte{}, nil)
		return
	}
	h.drainAll("WriteTo", buf.Bytes(), err)
}

func (h *fzHarness) drainReadAllIO() {
	h.t.Helper()
	got, err := io.ReadAll(h.r)
	h.drainAll("io.ReadAll(Read)", got, err)
}

// --- Decoding -----------------------------------------------------------

type fzDec struct {
	b []byte
	i int
}

func (d *fzDec) more() bool { return d.i < len(d.b) }

func (d *fzDec) next() byte {
	if d.i >= len(d.b) {
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

// data returns up to n bytes of the input, mapped to fzAlphabet.
func (d *fzDec) data(n int) []byte {
	n = min(n, len(d.b)-d.i)
	p := make([]byte, n)
	for i := range p {
		p[i] = fzAlphabet[int(d.next())%len(fzAlphabet)]
	}
	return p
}

func fzRun(t *testing.T, limitByte byte, prog []byte) {
	t.Run("NewReader", func(t *testing.T) { fzRunOver(t, false, limitByte, prog) })
	t.Run("socket", func(t *testing.T) { fzRunOver(t, true, limitByte, prog) })
}

// fzRunOver runs prog over a source the test controls — an io.Reader for
// NewReader, or the peer of a real TCP connection for New.
func fzRunOver(t *testing.T, socket bool, limitByte byte, prog []byte) {
	limit := chanstream.DefaultLimit
	var opts []chanstream.Option
	if limitByte < 250 {
		limit = 1 + int(limitByte%20)
		opts = append(opts, chanstream.WithLimit(limit))
	}
	var (
		r   *chanstream.Reader
		src fzFeeder
	)
	if socket {
		peer, c := fzTCPPair(t)
		var w *chanstream.Writer
		r, w = chanstream.New(c, opts...)
		sock := &fzSocket{peer: peer, r: r, change: make(chan struct{}, 1)}
		sock.unsee = chanstream.WatchChunks(r, sock.see)
		t.Cleanup(func() { // stop the stream's goroutines on every path
			sock.unsee()
			_ = w.Abort()
			<-w.Done()
			peer.Close()
		})
		src = sock
	} else {
		// Every message is sent before it is read: room for one per input
		// byte, the end, and the chunks of two huge feeds.
		fs := &fzSource{ch: make(chan fzMsg, len(prog)+2+2*9)}
		fs.enteredN.Store(-1) // until the goroutine first calls Read
		r = chanstream.NewReader(fs, opts...)
		t.Cleanup(func() { // stop the Reader's goroutine on every path
			r.FeedEOF()
			fs.close()
		})
		src = fs
	}
	h := &fzHarness{t: t, r: r, src: src, limit: limit, states: []*fzModel{{}}}
	h.waitExact("NewReader")

	d := &fzDec{b: prog}
	drain := len(prog) % 4
	huge := 0
	for step := 0; step < fzMaxSteps && d.more(); step++ {
		switch op := d.next(); op % 16 {
		case 0, 1, 2, 3:
			h.feed(d.data(int(d.next() % 16)))
		case 15:
			v := d.next()
			if v < 0xf0 || huge >= 2 {
				h.feed(d.data(16 + int(v%48)))
				break
			}
			// 8 to 36 KiB in 4 KiB chunks: the buffer outgrows one read chunk.
			huge++
			pat := d.data(1 + int(d.next()%8))
			if len(pat) == 0 {
				pat = []byte("x")
			}
			n := 4096 * (2 + int(v%8))
			big := bytes.Repeat(pat, n/len(pat)+1)[:n]
			for off := 0; off < n; off += 4096 {
				h.feed(big[off : off+4096])
			}
		case 4, 13:
			h.read(fzOp{kind: fzReadLine})
		case 5, 14:
			var seps [][]byte
			for range d.next() % 4 {
				seps = append(seps, fzSeps[int(d.next())%len(fzSeps)])
			}
			h.read(fzOp{kind: fzReadUntil, seps: seps})
		case 6:
			h.read(fzOp{kind: fzReadExactly, n: int(d.next() % 24)})
		case 7:
			h.read(fzOp{kind: fzReadUpTo, n: int(d.next() % 24)})
		case 8:
			h.unread(d.data(1 + int(d.next()%4)))
		case 9:
			v := int(d.next())
			if v%15 < 5 {
				kinds := []fzOp{
					{kind: fzReadLine}, {kind: fzReadUntil, seps: fzSeps[2:4]},
					{kind: fzReadExactly, n: 1}, {kind: fzReadUpTo, n: 1}, {kind: fzReadAll},
				}
				o := kinds[v%5]
				o.cancelled = true
				h.read(o)
				break
			}
			var o fzOp
			switch v % 5 {
			case 0:
				o = fzOp{kind: fzReadLine}
			case 1:
				o = fzOp{kind: fzReadUntil, seps: [][]byte{fzSeps[int(d.next())%len(fzSeps)]}}
			case 2:
				o = fzOp{kind: fzReadExactly, n: int(d.next() % 24)}
			case 3:
				o = fzOp{kind: fzReadUpTo, n: int(d.next() % 24)}
			case 4:
				o = fzOp{kind: fzRead, n: int(d.next() % 24)}
			}
			var p []byte // nil: FeedEOF
			if v%15 < 10 {
				p = d.data(1 + int(d.next()%4))
				if len(p) == 0 {
					p = []byte("x")
				}
			}
			h.readPoked(o, p)
		case 10:
			h.read(fzOp{kind: fzReadAll})
		case 11:
			h.read(fzOp{kind: fzRead, n: int(d.next() % 24)})
		case 12:
			v := int(d.next())
			drain = (v / 5) % 4
			var data []byte
			if v%5 == fzEndDataEOF || v%5 == fzEndDataError {
				data = d.data(int(d.next() % 8))
			}
			h.end(v%5, data)
		}
	}
	if !h.ended {
		h.end(fzEndEOF, nil)
	}
	h.drain(drain)
}

// fzTCPPair returns the two ends of a TCP connection on 127.0.0.1.
func fzTCPPair(t *testing.T) (peer *net.TCPConn, c net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err = ln.Accept()
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	return pc.(*net.TCPConn), c
}
