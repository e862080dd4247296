package chanstream_test

// Helpers for readmodes_test.go: byte sources, a recorder of the chunks a
// Reader actually got, the read operations as data, and a reference model
// of asyncio 3.13's StreamReader (Lib/asyncio/streams.py) fed with those
// chunks. Every name starts with "rm".
//
// Why a model: asyncio's answers depend on what is buffered when a read
// looks (readuntil checks the limit after each chunk; readline discards what
// is buffered), so over a chunking matrix the expected results differ from
// chunking to chunking. The Reader takes in one chunk of its source per
// wait, exactly as asyncio's reader wakes once per feed_data while it
// waits; the model does the same with the chunks the source really
// delivered, and follows asyncio line by line (plus the API's documented
// differences: io.EOF, bytes returned with a source error, Unread).

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing/iotest"

	"github.com/cspstream/streams/chanstream"
)

// errRmSource is the error the failing test sources return.
var errRmSource = errors.New("rm: source failed")

// rmSourceErrs are the source errors rmErrString recognises.
var rmSourceErrs = []error{errRmSource, iotest.ErrTimeout}

// rmChunkSource delivers exactly the given chunks, one per Read, then end
// (io.EOF when nil). With withLast, the last chunk comes with end.
type rmChunkSource struct {
	chunks   []string
	end      error
	withLast bool
}

func (s *rmChunkSource) Read(p []byte) (int, error) {
	end := s.end
	if end == nil {
		end = io.EOF
	}
	if len(s.chunks) == 0 {
		return 0, end
	}
	c := s.chunks[0]
	n := copy(p, c)
	if n < len(c) {
		s.chunks[0] = c[n:]
		return n, nil
	}
	s.chunks = s.chunks[1:]
	if s.withLast && len(s.chunks) == 0 {
		return n, end
	}
	return n, nil
}

// rmSplit cuts s into chunks of n bytes (the last may be shorter).
func rmSplit(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// rmRecorder passes Reads through and records every non-empty chunk and
// the error that ended the source.
type rmRecorder struct {
	src    io.Reader
	mu     sync.Mutex
	chunks []string
	end    error
	pLen   int // len(p) of the first Read
}

func (r *rmRecorder) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	r.mu.Lock()
	if r.pLen == 0 {
		r.pLen = len(p)
	}
	if n > 0 {
		r.chunks = append(r.chunks, string(p[:n]))
	}
	if err != nil && r.end == nil {
		r.end = err
	}
	r.mu.Unlock()
	return n, err
}

func (r *rmRecorder) snapshot() (chunks []string, pLen int, end error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.chunks), r.pLen, r.end
}

// rmPredict reads a fresh copy of a deterministic source the way the
// Reader does (Reads of pLen bytes) and returns its chunks and end, so that
// the model knows the whole stream even where the Reader stalled.
func rmPredict(src io.Reader, pLen int) ([]string, error) {
	var chunks []string
	p := make([]byte, pLen)
	for range 1 << 22 {
		n, err := src.Read(p)
		if n > 0 {
			chunks = append(chunks, string(p[:n]))
		}
		if err != nil {
			return chunks, err
		}
	}
	return chunks, nil
}

// rmKind is a read operation.
type rmKind int

const (
	rmKLine rmKind = iota
	rmKUntil
	rmKExactly
	rmKUpTo
	rmKAll
	rmKRead
	rmKWriteTo
	rmKLines
	rmKUnread
)

// rmOp is one call on a Reader.
type rmOp struct {
	kind rmKind
	n    int
	seps []string
	p    string
}

func rmLine() rmOp                { return rmOp{kind: rmKLine} }
func rmUntil(seps ...string) rmOp { return rmOp{kind: rmKUntil, seps: seps} }
func rmExactly(n int) rmOp        { return rmOp{kind: rmKExactly, n: n} }
func rmUpTo(n int) rmOp           { return rmOp{kind: rmKUpTo, n: n} }
func rmAll() rmOp                 { return rmOp{kind: rmKAll} }
func rmRead(n int) rmOp           { return rmOp{kind: rmKRead, n: n} }
func rmWriteTo() rmOp             { return rmOp{kind: rmKWriteTo} }
func rmLinesOp() rmOp             { return rmOp{kind: rmKLines} }
func rmUnread(p string) rmOp      { return rmOp{kind: rmKUnread, p: p} }

func (o rmOp) String() string {
	switch o.kind {
	case rmKLine:
		return "ReadLine()"
	case rmKUntil:
		q := make([]string, len(o.seps))
		for i, s := range o.seps {
			q[i] = strconv.Quote(s)
		}
		return "ReadUntil(" + strings.Join(q, ", ") + ")"
	case rmKExactly:
		return fmt.Sprintf("ReadExactly(%d)", o.n)
	case rmKUpTo:
		return fmt.Sprintf("ReadUpTo(%d)", o.n)
	case rmKAll:
		return "ReadAll()"
	case rmKRead:
		return fmt.Sprintf("Read([%d]byte)", o.n)
	case rmKWriteTo:
		return "WriteTo()"
	case rmKLines:
		return "Lines()"
	case rmKUnread:
		return fmt.Sprintf("Unread(%q)", o.p)
	}
	return "?"
}

func (o rmOp) sepBytes() [][]byte {
	b := make([][]byte, len(o.seps))
	for i, s := range o.seps {
		b[i] = []byte(s)
	}
	return b
}

// rmRes is one result: the bytes returned and the error, canonicalised by
// rmErrString so that the Reader's and the model's can be compared.
type rmRes struct {
	op   string
	data string
	err  string
}

func (r rmRes) same(o rmRes) bool { return r.data == o.data && r.err == o.err }

// Expected results for tables.
func rmOK(s string) rmRes { return rmRes{data: s, err: "<nil>"} }
func rmEOF() rmRes        { return rmRes{err: "EOF"} }
func rmIRE(partial string, expected int) rmRes {
	return rmRes{err: rmErrString(&chanstream.IncompleteReadError{Partial: []byte(partial), Expected: expected})}
}
func rmLOE(consumed int) rmRes {
	return rmRes{err: rmErrString(&chanstream.LimitOverrunError{Consumed: consumed})}
}
func rmSrcErr(data string) rmRes { return rmRes{data: data, err: rmErrString(errRmSource)} }

// rmErrString canonicalises an error: io.EOF must be io.EOF itself (io's
// rule); the typed errors show their fields; a source error, a ctx error or
// ErrInvalidArgument may be wrapped.
func rmErrString(err error) string {
	if err == nil {
		return "<nil>"
	}
	if err == io.EOF {
		return "EOF"
	}
	var ire *chanstream.IncompleteReadError
	if errors.As(err, &ire) {
		return fmt.Sprintf("IncompleteReadError{Partial: %q, Expected: %d}", ire.Partial, ire.Expected)
	}
	var loe *chanstream.LimitOverrunError
	if errors.As(err, &loe) {
		return fmt.Sprintf("LimitOverrunError{Consumed: %d}", loe.Consumed)
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return "source error: connection reset"
	}
	for _, s := range rmSourceErrs {
		if errors.Is(err, s) {
			return fmt.Sprintf("source error %q", s.Error())
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "context canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded"
	case errors.Is(err, chanstream.ErrInvalidArgument):
		return "invalid argument"
	}
	return "unexpected error: " + err.Error()
}

// rmDo runs o on r and returns its results: one, none for Unread, one per
// yield for Lines. Read and WriteTo take no ctx: when ctx ends first they
// are unblocked with FeedEOF and reported as blocked.
func rmDo(ctx context.Context, r *chanstream.Reader, o rmOp) []rmRes {
	res := func(b []byte, err error) []rmRes {
		return []rmRes{{op: o.String(), data: string(b), err: rmErrString(err)}}
	}
	switch o.kind {
	case rmKLine:
		return res(r.ReadLine(ctx))
	case rmKUntil:
		return res(r.ReadUntil(ctx, o.sepBytes()...))
	case rmKExactly:
		return res(r.ReadExactly(ctx, o.n))
	case rmKUpTo:
		return res(r.ReadUpTo(ctx, o.n))
	case rmKAll:
		return res(r.ReadAll(ctx))
	case rmKRead, rmKWriteTo:
		done := make(chan []rmRes, 1)
		go func() {
			if o.kind == rmKRead {
				p := make([]byte, o.n)
				n, err := r.Read(p)
				done <- res(p[:n], err)
				return
			}
			var b bytes.Buffer
			n, err := r.WriteTo(&b)
			out := res(b.Bytes(), err)
			if n != int64(b.Len()) {
				out[0].err += fmt.Sprintf(" (WriteTo returned n=%d, wrote %d)", n, b.Len())
			}
			done <- out
		}()
		select {
		case out := <-done:
			return out
		case <-ctx.Done():
			r.FeedEOF()
			<-done
			return res(nil, fmt.Errorf("%s blocked: %w", o, ctx.Err()))
		}
	case rmKLines:
		var out []rmRes
		for line, err := range r.Lines(ctx) {
			out = append(out, rmRes{op: o.String(), data: string(line), err: rmErrString(err)})
		}
		return out
	case rmKUnread:
		r.Unread([]byte(o.p))
		return nil
	}
	panic("rmDo: unknown op")
}

// errRmBlocked is the model's answer when a read would wait for a chunk
// the recording does not have (the real source had not ended).
var errRmBlocked = errors.New("model: would block, the recorded source had not ended")

// rmModel is asyncio 3.13's StreamReader fed lazily with recorded chunks:
// one chunk each time a read waits for data (asyncio's _wait_for_data
// returning after one feed_data), then the end (feed_eof, or the source's
// error for the API's error rules).
type rmModel struct {
	limit  int
	chunks []string
	end    error
	buf    []byte
	eof    bool
	term   error // io.EOF or the source's error, once eof
}

func rmNewModel(limit int, chunks []string, end error) *rmModel {
	return &rmModel{limit: limit, chunks: chunks, end: end}
}

// more is one _wait_for_data: one chunk, or the end. false: blocked.
func (m *rmModel) more() bool {
	if len(m.chunks) > 0 {
		m.buf = append(m.buf, m.chunks[0]...)
		m.chunks = m.chunks[1:]
		return true
	}
	if m.end == nil {
		return false
	}
	m.eof, m.term = true, m.end
	return true
}

func (m *rmModel) take(n int) []byte {
	b := bytes.Clone(m.buf[:n])
	m.buf = m.buf[n:]
	return b
}

func (m *rmModel) takeAll() []byte { return m.take(len(m.buf)) }

// readuntil is asyncio's readuntil; at the end of a failed source it
// returns the buffered bytes with the error (API).
func (m *rmModel) readuntil(seps [][]byte) ([]byte, error) {
	for _, s := range seps {
		if len(s) == 0 {
			return nil, chanstream.ErrInvalidArgument
		}
	}
	sorted := slices.Clone(seps)
	slices.SortStableFunc(sorted, func(a, b []byte) int { return cmp.Compare(len(a), len(b)) })
	minLen, maxLen := len(sorted[0]), len(sorted[len(sorted)-1])
	offset := 0
	for {
		buflen := len(m.buf)
		if buflen-offset >= minLen {
			matchStart, matchEnd := -1, -1
			for _, sep := range sorted {
				isep := bytes.Index(m.buf[offset:], sep)
				if isep != -1 {
					isep += offset
					end := isep + len(sep)
					if matchEnd == -1 || end < matchEnd {
						matchStart, matchEnd = isep, end
					}
				}
			}
			if matchEnd != -1 {
				if matchStart > m.limit {
					return nil, &chanstream.LimitOverrunError{Consumed: matchStart}
				}
				return m.take(matchEnd), nil
			}
			offset = max(0, buflen+1-maxLen)
			if offset > m.limit {
				return nil, &chanstream.LimitOverrunError{Consumed: offset}
			}
		}
		if m.eof {
			if m.term == io.EOF {
				return nil, &chanstream.IncompleteReadError{Partial: m.takeAll(), Expected: -1}
			}
			return m.takeAll(), m.term
		}
		if !m.more() {
			return nil, errRmBlocked
		}
	}
}

// readline is asyncio's readline, with the API's io.EOF for b”.
func (m *rmModel) readline() ([]byte, error) {
	line, err := m.readuntil([][]byte{{'\n'}})
	var loe *chanstream.LimitOverrunError
	if errors.As(err, &loe) {
		if loe.Consumed < len(m.buf) && m.buf[loe.Consumed] == '\n' {
			m.buf = m.buf[loe.Consumed+1:]
		} else {
			m.buf = nil
		}
		return nil, err
	}
	var ire *chanstream.IncompleteReadError
	if errors.As(err, &ire) {
		if len(ire.Partial) == 0 {
			return nil, io.EOF
		}
		return ire.Partial, nil
	}
	return line, err
}

func (m *rmModel) readexactly(n int) ([]byte, error) {
	if n < 0 {
		return nil, chanstream.ErrInvalidArgument
	}
	if n == 0 {
		return []byte{}, nil
	}
	for len(m.buf) < n {
		if m.eof {
			if m.term == io.EOF {
				return nil, &chanstream.IncompleteReadError{Partial: m.takeAll(), Expected: n}
			}
			return m.takeAll(), m.term
		}
		if !m.more() {
			return nil, errRmBlocked
		}
	}
	return m.take(n), nil
}

// read is asyncio's read(n) for n > 0; at the end, io.EOF or the error.
func (m *rmModel) read(n int) ([]byte, error) {
	if n < 0 {
		return m.readall()
	}
	if n == 0 {
		return []byte{}, nil
	}
	for {
		if len(m.buf) > 0 {
			return m.take(min(n, len(m.buf))), nil
		}
		if m.eof {
			if m.term == io.EOF {
				return nil, io.EOF
			}
			return nil, m.term
		}
		if !m.more() {
			return nil, errRmBlocked
		}
	}
}

// readall is asyncio's read(-1); a source error comes with the bytes.
func (m *rmModel) readall() ([]byte, error) {
	for !m.eof {
		if !m.more() {
			return nil, errRmBlocked
		}
	}
	b := m.takeAll()
	if m.term != io.EOF {
		return b, m.term
	}
	return b, nil
}

func (m *rmModel) do(o rmOp) []rmRes {
	res := func(b []byte, err error) []rmRes {
		return []rmRes{{op: o.String(), data: string(b), err: rmErrString(err)}}
	}
	switch o.kind {
	case rmKLine:
		return res(m.readline())
	case rmKUntil:
		seps := o.sepBytes()
		if len(seps) == 0 {
			seps = [][]byte{{'\n'}}
		}
		return res(m.readuntil(seps))
	case rmKExactly:
		return res(m.readexactly(o.n))
	case rmKUpTo, rmKRead:
		return res(m.read(o.n))
	case rmKAll:
		return res(m.readall())
	case rmKWriteTo:
		return res(m.readall())
	case rmKLines:
		var out []rmRes
		for {
			line, err := m.readline()
			if err == io.EOF {
				return out
			}
			out = append(out, rmRes{op: o.String(), data: string(line), err: rmErrString(err)})
			if err != nil {
				return out
			}
		}
	case rmKUnread:
		m.buf = append([]byte(o.p), m.buf...)
		return nil
	}
	panic("rmModel.do: unknown op")
}

// rmSocket is the matrix's socket column: a stream made by New over a real
// TCP connection on loopback, whose peer sends a case's chunks one at a
// time — each once the Reader has received the one before, so that the
// reader goroutine reads them as sent — then a FIN or a reset. It records
// what the reader goroutine read, as rmRecorder does for NewReader.
type rmSocket struct {
	more chan struct{} // see → the peer: a read was recorded; cap 1, coalescing

	w     *chanstream.Writer
	peer  *net.TCPConn
	unsee func()
	fed   chan struct{} // closed by the peer's goroutine when it returns

	mu       sync.Mutex
	chunks   []string
	end      error
	received int
}

func (s *rmSocket) start(ctx context.Context, c *rmCase, src rmSrc, limit int) (*chanstream.Reader, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	pc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	conn, err := ln.Accept()
	if err != nil {
		pc.Close()
		return nil, err
	}
	s.peer = pc.(*net.TCPConn)
	r, w := chanstream.New(conn, chanstream.WithLimit(limit))
	s.w = w
	s.unsee = chanstream.WatchChunks(r, s.see)
	chunks, reset := src.peer(c)
	s.fed = make(chan struct{})
	go func() {
		defer close(s.fed)
		sent := 0
		for _, c := range chunks {
			if _, err := s.peer.Write([]byte(c)); err != nil {
				return
			}
			sent += len(c)
			for s.got() < sent {
				select {
				case <-s.more:
				case <-ctx.Done():
					return
				}
			}
		}
		if reset {
			_ = s.peer.SetLinger(0)
			s.peer.Close()
			return
		}
		_ = s.peer.CloseWrite()
	}()
	return r, nil
}

func (s *rmSocket) see(c []byte, err error) {
	s.mu.Lock()
	if len(c) > 0 {
		s.chunks = append(s.chunks, string(c))
		s.received += len(c)
	}
	if err != nil && s.end == nil {
		s.end = err
	}
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
}

func (s *rmSocket) got() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

func (s *rmSocket) snapshot() ([]string, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.chunks), 0, s.end
}

// stop ends the stream and the peer, and waits for both.
func (s *rmSocket) stop() {
	s.unsee()
	_ = s.w.Abort()
	<-s.w.Done()
	s.peer.Close()
	<-s.fed
}
