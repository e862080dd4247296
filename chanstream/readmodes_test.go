package chanstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// rmTimeout bounds every test (and every run of the matrix).
const rmTimeout = 10 * time.Second

// rmChunk is the Reader's read size (one chunk), for the memory bound.
const rmChunk = 32 << 10

// rmData is test_streams.py's DATA.
const rmData = "line1\nline2\nline3\n"

// rmCase is one row of the read-mode table. in is the input as the chunks
// the "given" source delivers; want, where set, is what asyncio 3.13
// returns, with limit (0: DefaultLimit), when the whole input arrives as
// one chunk at the first wait for data. The rows marked test_streams.py
// are its test cases; the others were checked with python3.13. The model
// (readsrc_test.go) was checked against python3.13 over every cell of the
// matrix with an EOF source, feeding one chunk per wait.
type rmCase struct {
	name  string
	limit int
	in    []string
	ops   []rmOp
	want  []rmRes
	large bool // skip the byte-by-byte sources
}

func (c *rmCase) input() string { return strings.Join(c.in, "") }

func (c *rmCase) effLimit() int {
	if c.limit == 0 {
		return chanstream.DefaultLimit
	}
	return c.limit
}

func rmOps(ops ...rmOp) []rmOp       { return ops }
func rmWant(res ...rmRes) []rmRes    { return res }
func rmIn(chunks ...string) []string { return chunks }

var rmCases = []rmCase{
	// ReadLine: test_streams.py.
	{name: "readline/chunks", in: rmIn("chunk1 ", "chunk2 ", "chunk3 ", "\n chunk4"),
		ops: rmOps(rmLine(), rmLine(), rmLine()), want: rmWant(rmOK("chunk1 chunk2 chunk3 \n"), rmOK(" chunk4"), rmEOF())},
	{name: "readline/limit-existing-found", limit: 3, in: rmIn("li", "ne1\nline2\n"),
		ops: rmOps(rmLine(), rmLine(), rmLine()), want: rmWant(rmLOE(5), rmLOE(5), rmEOF())},
	{name: "readline/limit-existing-notfound", limit: 3, in: rmIn("li", "ne1", "li"),
		ops: rmOps(rmLine(), rmAll()), want: rmWant(rmLOE(7), rmOK(""))},
	{name: "readline/limit-18", limit: 7, in: rmIn("chunk1", "chunk2", "chunk3\n"),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmLOE(18), rmEOF())},
	{name: "readline/limit-next-line", limit: 7, in: rmIn("chunk1", "chunk2\n", "chunk3\n"),
		ops: rmOps(rmLine(), rmLine(), rmLine()), want: rmWant(rmLOE(12), rmOK("chunk3\n"), rmEOF())},
	{name: "readline/limit-exact", limit: 7, in: rmIn("1234567\n"),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmOK("1234567\n"), rmEOF())},
	{name: "readline/limit-plus-one", limit: 7, in: rmIn("12345678\n"),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmLOE(8), rmEOF())},
	{name: "readline/limit-no-newline", limit: 7, in: rmIn("12345678"),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmLOE(8), rmEOF())},
	{name: "readline/nowait", in: rmIn(rmData[:6], rmData[6:]),
		ops: rmOps(rmLine(), rmLine(), rmLine(), rmLine()), want: rmWant(rmOK("line1\n"), rmOK("line2\n"), rmOK("line3\n"), rmEOF())},
	{name: "readline/eof", in: rmIn("some data"),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmOK("some data"), rmEOF())},
	{name: "readline/empty", in: rmIn(""),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmEOF(), rmEOF())},
	{name: "readline/then-read", in: rmIn(rmData),
		ops: rmOps(rmLine(), rmUpTo(7), rmAll()), want: rmWant(rmOK("line1\n"), rmOK("line2\nl"), rmOK("ine3\n"))},
	// ReadLine: checked with python3.13.
	{name: "readline/limit-eof-at-limit", limit: 3, in: rmIn("abc"),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmOK("abc"), rmEOF())},
	{name: "readline/limit-eof-over", limit: 3, in: rmIn("abcd"),
		ops: rmOps(rmLine(), rmLine()), want: rmWant(rmLOE(4), rmEOF())},
	{name: "readline/empty-lines", in: rmIn("\n\n", "\nx"),
		ops: rmOps(rmLine(), rmLine(), rmLine(), rmLine(), rmLine()), want: rmWant(rmOK("\n"), rmOK("\n"), rmOK("\n"), rmOK("x"), rmEOF())},
	{name: "readline/crlf", in: rmIn("a\r", "\nb\r\n"),
		ops: rmOps(rmLine(), rmLine(), rmLine()), want: rmWant(rmOK("a\r\n"), rmOK("b\r\n"), rmEOF())},
	{name: "readline/limit1", limit: 1, in: rmIn("a\nb", "c\nd"),
		ops: rmOps(rmLine(), rmLine(), rmLine(), rmLine()), want: rmWant(rmOK("a\n"), rmLOE(2), rmOK("d"), rmEOF())},
	{name: "readline/limit-discard-then-next", limit: 4, in: rmIn("abcdef", "gh\nxy\n"),
		ops: rmOps(rmLine(), rmLine(), rmLine()), want: rmWant(rmLOE(8), rmOK("xy\n"), rmEOF())},
	{name: "readline/newline-own-chunk", in: rmIn("abc", "\n", "def\n"),
		ops: rmOps(rmLine(), rmLine(), rmLine()), want: rmWant(rmOK("abc\n"), rmOK("def\n"), rmEOF())},

	// ReadUntil: test_streams.py.
	{name: "readuntil/sep", in: rmIn("lineAAA"),
		ops: rmOps(rmUntil("AAA"), rmAll()), want: rmWant(rmOK("lineAAA"), rmOK(""))},
	{name: "readuntil/sep-rest", in: rmIn("lineAAAxxx"),
		ops: rmOps(rmUntil("AAA"), rmAll()), want: rmWant(rmOK("lineAAA"), rmOK("xxx"))},
	{name: "readuntil/multi-chunks-1", in: rmIn("QWEaa", "XYaa", "a"),
		ops: rmOps(rmUntil("aaa")), want: rmWant(rmOK("QWEaaXYaaa"))},
	{name: "readuntil/multi-chunks-2", in: rmIn("QWEaa", "XYa", "aa"),
		ops: rmOps(rmUntil("aaa")), want: rmWant(rmOK("QWEaaXYaaa"))},
	{name: "readuntil/only-sep", in: rmIn("aaa"),
		ops: rmOps(rmUntil("aaa"), rmUntil("aaa")), want: rmWant(rmOK("aaa"), rmIRE("", -1))},
	{name: "readuntil/one-before", in: rmIn("Xaaa"),
		ops: rmOps(rmUntil("aaa")), want: rmWant(rmOK("Xaaa"))},
	{name: "readuntil/sep-byte-chunks", in: rmIn("XXX", "a", "a", "a"),
		ops: rmOps(rmUntil("aaa")), want: rmWant(rmOK("XXXaaa"))},
	{name: "readuntil/eof", in: rmIn("some dataAA"),
		ops: rmOps(rmUntil("AAA"), rmAll()), want: rmWant(rmIRE("some dataAA", -1), rmOK(""))},
	{name: "readuntil/limit-notfound", limit: 3, in: rmIn("some dataAA"),
		ops: rmOps(rmUntil("AAA"), rmUntil("AAA"), rmAll()), want: rmWant(rmLOE(9), rmLOE(9), rmOK("some dataAA"))},
	{name: "readuntil/limit-found", limit: 3, in: rmIn("some dataAA", "A"),
		ops: rmOps(rmUntil("AAA"), rmAll()), want: rmWant(rmLOE(9), rmOK("some dataAAA"))},
	{name: "readuntil/multi-sep", in: rmIn("line 1\nline 2\r"),
		ops: rmOps(rmUntil("\r", "\n"), rmUntil("\r", "\n"), rmUntil("\r", "\n")), want: rmWant(rmOK("line 1\n"), rmOK("line 2\r"), rmIRE("", -1))},
	{name: "readuntil/first-end-wins", in: rmIn("ABCDEFG"),
		ops: rmOps(rmUntil("DEF", "BCDE"), rmAll()), want: rmWant(rmOK("ABCDE"), rmOK("FG"))},
	{name: "readuntil/multi-sep-limit", limit: 3, in: rmIn("some dataA"),
		ops: rmOps(rmUntil("A", "ome dataA"), rmUntil("ome dataA", "A"), rmAll()), want: rmWant(rmLOE(9), rmLOE(9), rmOK("some dataA"))},
	{name: "readuntil/negative-offset", in: rmIn("data", "Z", "Aaaa"),
		ops: rmOps(rmUntil("A", "long sep"), rmAll()), want: rmWant(rmOK("dataZA"), rmOK("aaa"))},
	{name: "readuntil/crlf", in: rmIn("some data\r\n"),
		ops: rmOps(rmUntil("\r\n")), want: rmWant(rmOK("some data\r\n"))},
	// ReadUntil: checked with python3.13.
	{name: "readuntil/crlf-split", in: rmIn("hello\r", "\nworld\r", "\n"),
		ops: rmOps(rmUntil("\r\n"), rmUntil("\r\n"), rmUntil("\r\n")), want: rmWant(rmOK("hello\r\n"), rmOK("world\r\n"), rmIRE("", -1))},
	{name: "readuntil/default-sep", in: rmIn("a\nb"),
		ops: rmOps(rmUntil(), rmUntil()), want: rmWant(rmOK("a\n"), rmIRE("b", -1))},
	{name: "readuntil/prefix-short-first", in: rmIn("xxabcd"),
		ops: rmOps(rmUntil("ab", "abc"), rmAll()), want: rmWant(rmOK("xxab"), rmOK("cd"))},
	{name: "readuntil/prefix-long-first", in: rmIn("xxa", "bcd"),
		ops: rmOps(rmUntil("abc", "ab"), rmAll()), want: rmWant(rmOK("xxab"), rmOK("cd"))},
	{name: "readuntil/suffix-tie-limit", limit: 1, in: rmIn("xabc"),
		ops: rmOps(rmUntil("abc", "bc"), rmAll()), want: rmWant(rmLOE(2), rmOK("xabc"))},
	{name: "readuntil/suffix-tie-ok", limit: 2, in: rmIn("xab", "c"),
		ops: rmOps(rmUntil("abc", "bc"), rmAll()), want: rmWant(rmOK("xabc"), rmOK(""))},
	{name: "readuntil/overlap", in: rmIn("baaab"),
		ops: rmOps(rmUntil("aa"), rmUntil("aa")), want: rmWant(rmOK("baa"), rmIRE("ab", -1))},
	{name: "readuntil/overlap-abab", in: rmIn("xababab"),
		ops: rmOps(rmUntil("abab"), rmUntil("abab")), want: rmWant(rmOK("xabab"), rmIRE("ab", -1))},
	{name: "readuntil/overlapping-seps", in: rmIn("abcd"),
		ops: rmOps(rmUntil("cd", "abcd", "bc"), rmAll()), want: rmWant(rmOK("abc"), rmOK("d"))},
	{name: "readuntil/duplicate-seps", in: rmIn("a--b"),
		ops: rmOps(rmUntil("--", "--"), rmAll()), want: rmWant(rmOK("a--"), rmOK("b"))},
	{name: "readuntil/sep-first-byte", in: rmIn("\nabc"),
		ops: rmOps(rmUntil("\n"), rmAll()), want: rmWant(rmOK("\n"), rmOK("abc"))},
	{name: "readuntil/limit-eof-at-limit", limit: 3, in: rmIn("abc"),
		ops: rmOps(rmUntil("X"), rmAll()), want: rmWant(rmIRE("abc", -1), rmOK(""))},
	{name: "readuntil/limit-eof-over", limit: 3, in: rmIn("abcd"),
		ops: rmOps(rmUntil("X"), rmAll()), want: rmWant(rmLOE(4), rmOK("abcd"))},
	{name: "readuntil/limit-found-over", limit: 3, in: rmIn("abcdXY"),
		ops: rmOps(rmUntil("XY"), rmAll()), want: rmWant(rmLOE(4), rmOK("abcdXY"))},
	{name: "readuntil/limit-found-at", limit: 3, in: rmIn("abcXY"),
		ops: rmOps(rmUntil("XY")), want: rmWant(rmOK("abcXY"))},
	{name: "readuntil/limit-partial-sep", limit: 3, in: rmIn("abcdX"),
		ops: rmOps(rmUntil("XY"), rmAll()), want: rmWant(rmLOE(4), rmOK("abcdX"))},
	{name: "readuntil/limit-partial-sep-eof", limit: 3, in: rmIn("abcX"),
		ops: rmOps(rmUntil("XY"), rmAll()), want: rmWant(rmIRE("abcX", -1), rmOK(""))},
	{name: "readuntil/limit-found-far", limit: 3, in: rmIn("abcdefg\n"),
		ops: rmOps(rmUntil("\n"), rmLine(), rmLine()), want: rmWant(rmLOE(7), rmLOE(7), rmEOF())},
	{name: "readuntil/long-sep-small-limit", limit: 2, in: rmIn("ab<END>cd"),
		ops: rmOps(rmUntil("<END>"), rmAll()), want: rmWant(rmOK("ab<END>"), rmOK("cd"))},

	// ReadExactly: test_streams.py.
	{name: "readexactly/zero", in: rmIn(rmData),
		ops: rmOps(rmExactly(0), rmAll()), want: rmWant(rmOK(""), rmOK(rmData))},
	{name: "readexactly/two-of-three", in: rmIn(rmData, rmData, rmData),
		ops: rmOps(rmExactly(36), rmAll()), want: rmWant(rmOK(rmData+rmData), rmOK(rmData))},
	{name: "readexactly/limit", limit: 3, in: rmIn("chunk"),
		ops: rmOps(rmExactly(5)), want: rmWant(rmOK("chunk"))},
	{name: "readexactly/eof", in: rmIn(rmData),
		ops: rmOps(rmExactly(36), rmAll()), want: rmWant(rmIRE(rmData, 36), rmOK(""))},
	// ReadExactly: checked with python3.13.
	{name: "readexactly/all-then-eof", in: rmIn("abc"),
		ops: rmOps(rmExactly(3), rmExactly(1)), want: rmWant(rmOK("abc"), rmIRE("", 1))},
	{name: "readexactly/steps", in: rmIn("abcd", "efgh"),
		ops: rmOps(rmExactly(3), rmExactly(3), rmExactly(3)), want: rmWant(rmOK("abc"), rmOK("def"), rmIRE("gh", 3))},
	{name: "readexactly/over-twice-limit", limit: 2, in: rmIn("0123456789", "abcdefghij"),
		ops: rmOps(rmExactly(11), rmAll()), want: rmWant(rmOK("0123456789a"), rmOK("bcdefghij"))},

	// ReadUpTo, ReadAll, Read, WriteTo: test_streams.py.
	{name: "readupto/zero", in: rmIn(rmData),
		ops: rmOps(rmUpTo(0), rmAll()), want: rmWant(rmOK(""), rmOK(rmData))},
	{name: "readupto/more-than-there", in: rmIn(rmData),
		ops: rmOps(rmUpTo(30), rmUpTo(30)), want: rmWant(rmOK(rmData), rmEOF())},
	{name: "readupto/line-breaks", in: rmIn("line1", "line2"),
		ops: rmOps(rmUpTo(5), rmUpTo(5), rmUpTo(5)), want: rmWant(rmOK("line1"), rmOK("line2"), rmEOF())},
	{name: "readupto/eof", in: rmIn(""),
		ops: rmOps(rmUpTo(1024)), want: rmWant(rmEOF())},
	{name: "readupto/negative", in: rmIn("chunk1\n", "chunk2"),
		ops: rmOps(rmUpTo(-1), rmUpTo(-1)), want: rmWant(rmOK("chunk1\nchunk2"), rmOK(""))},
	{name: "readall/until-eof", in: rmIn("chunk1\n", "chunk2"),
		ops: rmOps(rmAll(), rmAll()), want: rmWant(rmOK("chunk1\nchunk2"), rmOK(""))},
	{name: "readall/limit", limit: 3, in: rmIn("chunk1\n", "chunk2"),
		ops: rmOps(rmAll()), want: rmWant(rmOK("chunk1\nchunk2"))},
	{name: "readupto/limit", limit: 3, in: rmIn("chunk"),
		ops: rmOps(rmUpTo(5)), want: rmWant(rmOK("chunk"))},
	{name: "readall/empty", in: rmIn(""),
		ops: rmOps(rmAll()), want: rmWant(rmOK(""))},
	{name: "read/basic", in: rmIn("hello world"),
		ops: rmOps(rmRead(4), rmRead(100), rmRead(1)), want: rmWant(rmOK("hell"), rmOK("o world"), rmEOF())},
	{name: "read/empty-p", in: rmIn("abc"),
		ops: rmOps(rmRead(0), rmAll()), want: rmWant(rmOK(""), rmOK("abc"))},
	{name: "writeto/rest", in: rmIn("a\nb", "cd"),
		ops: rmOps(rmLine(), rmWriteTo()), want: rmWant(rmOK("a\n"), rmOK("bcd"))},
	{name: "writeto/empty", in: rmIn(""),
		ops: rmOps(rmWriteTo()), want: rmWant(rmOK(""))},

	// Unread, Lines.
	{name: "unread/front", in: rmIn("world\n"),
		ops: rmOps(rmUnread("hello "), rmLine()), want: rmWant(rmOK("hello world\n"))},
	{name: "unread/after-line", in: rmIn("ab\ncd\n"),
		ops: rmOps(rmLine(), rmUnread("ab\n"), rmLine(), rmLine(), rmLine()), want: rmWant(rmOK("ab\n"), rmOK("ab\n"), rmOK("cd\n"), rmEOF())},
	{name: "unread/twice", in: rmIn("c"),
		ops: rmOps(rmUnread("b"), rmUnread("a"), rmAll()), want: rmWant(rmOK("abc"))},
	{name: "unread/at-eof", in: rmIn("x"),
		ops: rmOps(rmAll(), rmUnread("y\n"), rmLine(), rmLine()), want: rmWant(rmOK("x"), rmOK("y\n"), rmEOF())},
	{name: "unread/completes-sep", in: rmIn("B\n"),
		ops: rmOps(rmUnread("A"), rmUntil("AB"), rmAll()), want: rmWant(rmOK("AB"), rmOK("\n"))},
	{name: "unread/exactly", in: rmIn("cd"),
		ops: rmOps(rmUnread("ab"), rmExactly(4)), want: rmWant(rmOK("abcd"))},
	{name: "unread/mid-line", in: rmIn("abc\ndef"),
		ops: rmOps(rmUpTo(2), rmUnread("ab"), rmLine(), rmLine()), want: rmWant(rmOK("ab"), rmOK("abc\n"), rmOK("def"))},
	{name: "unread/over-limit", limit: 2, in: rmIn("\n"),
		ops: rmOps(rmUnread("abc"), rmLine(), rmLine(), rmLine()), want: rmWant(rmLOE(3), rmOK("\n"), rmEOF())},
	{name: "lines/basic", in: rmIn("a\nbb\nccc"),
		ops: rmOps(rmLinesOp()), want: rmWant(rmOK("a\n"), rmOK("bb\n"), rmOK("ccc"))},
	{name: "lines/empty", in: rmIn(""),
		ops: rmOps(rmLinesOp(), rmAll()), want: rmWant(rmOK(""))},
	{name: "lines/limit", limit: 2, in: rmIn("a\nbbbb\ncc\n"),
		ops: rmOps(rmLinesOp(), rmLine(), rmLine()), want: rmWant(rmOK("a\n"), rmLOE(4), rmOK("cc\n"), rmEOF())},

	// Larger than one chunk: lines across chunk boundaries, lines over
	// the default limit, ReadExactly over 2×limit.
	{name: "large/lines", in: rmSplit(rmLargeLines(), 4093), ops: rmOps(rmLinesOp()), large: true},
	{name: "large/long-lines", in: rmSplit(rmLongLines(), 5000),
		ops: rmOps(rmLine(), rmLine(), rmLine(), rmLine(), rmLine(), rmLine(), rmLine()), large: true},
	{name: "large/until", in: rmSplit(rmLargeLines(), 999),
		ops: rmOps(rmUntil("x\n", "yy\n", "\nz"), rmUntil("x\n", "yy\n", "\nz"), rmUntil("aaaa", "bbbbbbbbbb"), rmExactly(70000), rmUpTo(100000)), large: true},
	{name: "large/exactly", in: rmSplit(rmLargeLines(), 3001),
		ops: rmOps(rmExactly(140000), rmExactly(100)), large: true},
}

// rmLargeLines is about 100 KiB of lines of 0 to 3000 bytes, unterminated.
func rmLargeLines() string {
	var b strings.Builder
	for i := 0; b.Len() < 100<<10; i++ {
		n := (i * 7919) % 3001
		for j := range n {
			b.WriteByte("abxyz"[(i+j)%5])
		}
		b.WriteByte('\n')
	}
	b.WriteString("tail")
	return b.String()
}

// rmLongLines holds lines around the default limit.
func rmLongLines() string {
	var b strings.Builder
	for _, n := range []int{70000, 10, 65536, 65537, 65535, 3} {
		b.WriteString(strings.Repeat("L", n))
		b.WriteByte('\n')
	}
	b.WriteString("tail")
	return b.String()
}

// rmSrc makes the source of a case for one column of the chunking matrix:
// an io.Reader for NewReader (make), or what a peer sends over a real TCP
// connection to a stream made by New (peer).
type rmSrc struct {
	name string
	fine bool // byte-by-byte or nearly: skipped for large cases
	make func(c *rmCase) io.Reader
	peer func(c *rmCase) (chunks []string, reset bool) // over a socket: chunks sent one at a time, then a FIN or a reset
}

var rmSources = []rmSrc{
	{name: "whole", fine: false, make: func(c *rmCase) io.Reader { return bytes.NewReader([]byte(c.input())) }},
	{name: "onebyte", fine: true, make: func(c *rmCase) io.Reader { return iotest.OneByteReader(bytes.NewReader([]byte(c.input()))) }},
	{name: "half", fine: false, make: func(c *rmCase) io.Reader { return iotest.HalfReader(bytes.NewReader([]byte(c.input()))) }},
	{name: "dataerr", fine: false, make: func(c *rmCase) io.Reader { return iotest.DataErrReader(bytes.NewReader([]byte(c.input()))) }},
	{name: "given", fine: false, make: func(c *rmCase) io.Reader { return &rmChunkSource{chunks: slices.Clone(c.in)} }},
	{name: "split2", fine: true, make: func(c *rmCase) io.Reader { return &rmChunkSource{chunks: rmSplit(c.input(), 2)} }},
	{name: "split3", fine: true, make: func(c *rmCase) io.Reader { return &rmChunkSource{chunks: rmSplit(c.input(), 3)} }},
	// The source fails instead of ending: the API returns what was read with the error.
	{name: "given+err", fine: false, make: func(c *rmCase) io.Reader {
		return &rmChunkSource{chunks: slices.Clone(c.in), end: errRmSource}
	}},
	{name: "split2+err-with-data", fine: true, make: func(c *rmCase) io.Reader {
		return &rmChunkSource{chunks: rmSplit(c.input(), 2), end: errRmSource, withLast: true}
	}},
	{name: "timeout", fine: false, make: func(c *rmCase) io.Reader { return iotest.TimeoutReader(bytes.NewReader([]byte(c.input()))) }},
	// Over a real socket, New's reader goroutine reading it.
	{name: "tcp-whole", peer: func(c *rmCase) ([]string, bool) { return []string{c.input()}, false }},
	{name: "tcp-given", peer: func(c *rmCase) ([]string, bool) { return slices.Clone(c.in), false }},
	{name: "tcp-split3", fine: true, peer: func(c *rmCase) ([]string, bool) { return rmSplit(c.input(), 3), false }},
	{name: "tcp-given+reset", peer: func(c *rmCase) ([]string, bool) { return slices.Clone(c.in), true }},
}

func rmLimits(c *rmCase) []int {
	ls := []int{c.effLimit(), 1, 3, 8, chanstream.DefaultLimit}
	slices.Sort(ls)
	return slices.Compact(ls)
}

// rmRun is one cell of the matrix: a case over a source with a limit.
type rmRun struct {
	c      *rmCase
	src    rmSrc
	limit  int
	got    []rmRes // the Reader's results
	model  []rmRes // asyncio's, over the chunks the Reader got
	chunks []string
	end    error
}

func (run *rmRun) name() string {
	return fmt.Sprintf("%s/%s/limit=%d", run.c.name, run.src.name, run.limit)
}

// exec runs the case's ops, a final ReadAll that drains the source, and
// checks of AtEOF, Buffered and Err; then the model over what was recorded.
func (run *rmRun) exec() {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	defer cancel()
	var (
		rec interface {
			snapshot() ([]string, int, error)
		}
		r *chanstream.Reader
	)
	if run.src.peer != nil {
		sock := &rmSocket{more: make(chan struct{}, 1)}
		var err error
		r, err = sock.start(ctx, run.c, run.src, run.limit)
		if err != nil {
			run.got = append(run.got, rmRes{op: "socket", err: err.Error()})
			return
		}
		defer sock.stop()
		rec = sock
	} else {
		rr := &rmRecorder{src: run.src.make(run.c)}
		r = chanstream.NewReader(rr, chanstream.WithLimit(run.limit))
		defer r.FeedEOF() // a Reader that failed the test must not leak its goroutine
		rec = rr
	}
	ops := append(slices.Clone(run.c.ops), rmAll())
	for _, o := range ops {
		run.got = append(run.got, rmDo(ctx, r, o)...)
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() == nil {
		run.got = append(run.got,
			rmRes{op: "AtEOF()", data: strconv.FormatBool(r.AtEOF()), err: "<nil>"},
			rmRes{op: "Buffered()", data: strconv.Itoa(r.Buffered()), err: "<nil>"},
			rmRes{op: "Err()", err: rmErrString(r.Err())})
	}
	var pLen int
	run.chunks, pLen, run.end = rec.snapshot()
	if pLen > 0 {
		// Where the Reader stalled, the recording stops short: the model
		// gets the whole stream, read from a fresh source the same way,
		// provided that what was recorded is a prefix of it.
		chunks, end := rmPredict(run.src.make(run.c), pLen)
		if len(run.chunks) <= len(chunks) && slices.Equal(run.chunks, chunks[:len(run.chunks)]) &&
			(run.end == nil || run.end == end) {
			run.chunks, run.end = chunks, end
		}
	}
	m := rmNewModel(run.limit, slices.Clone(run.chunks), run.end)
	for _, o := range ops {
		run.model = append(run.model, m.do(o)...)
	}
	wantErr := "<nil>"
	if run.end != io.EOF {
		wantErr = rmErrString(run.end)
	}
	run.model = append(run.model,
		rmRes{op: "AtEOF()", data: "true", err: "<nil>"},
		rmRes{op: "Buffered()", data: "0", err: "<nil>"},
		rmRes{op: "Err()", err: wantErr})
}

// rmCompare reports the first difference between got and want.
func rmCompare(t *testing.T, what string, got, want []rmRes, chunks []string) {
	t.Helper()
	if what != "" {
		what += ": "
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%smissing result %d; want %s = %q, %v (chunks %s)", what, i, want[i].op, want[i].data, want[i].err, rmShow(chunks))
		case i >= len(want):
			t.Errorf("%sextra result %s = %q, %v (chunks %s)", what, got[i].op, got[i].data, got[i].err, rmShow(chunks))
		case !got[i].same(want[i]):
			t.Errorf("%s%s = %q, %v; want %q, %v (chunks %s)", what, got[i].op, rmTrunc(got[i].data), got[i].err, rmTrunc(want[i].data), want[i].err, rmShow(chunks))
		default:
			continue
		}
		return
	}
}

func rmTrunc(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%s...(%d bytes)", s[:200], len(s))
	}
	return s
}

func rmShow(chunks []string) string {
	if len(chunks) > 12 {
		return fmt.Sprintf("%d chunks", len(chunks))
	}
	return fmt.Sprintf("%q", chunks)
}

// TestReadModes runs every case of rmCases over every source of the
// chunking matrix and a few limits, and compares each result with asyncio
// (the model over the chunks the Reader got; for the whole input at the
// case's limit, also the table's own asyncio results). The cells run
// concurrently first, each bounded by rmTimeout, so that a Reader that
// hangs costs the test one timeout rather than one per cell; then each
// cell reports in its own subtest.
func TestReadModes(t *testing.T) {
	var runs []*rmRun
	for i := range rmCases {
		c := &rmCases[i]
		for _, src := range rmSources {
			if c.large && src.fine {
				continue
			}
			for _, limit := range rmLimits(c) {
				runs = append(runs, &rmRun{c: c, src: src, limit: limit})
			}
		}
	}
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			run.exec()
		}()
	}
	wg.Wait()
	for _, run := range runs {
		t.Run(run.name(), func(t *testing.T) {
			if run.c.want != nil && run.src.name == "whole" && run.limit == run.c.effLimit() {
				n := min(len(run.got), len(run.c.want))
				rmCompare(t, "asyncio table", run.got[:n], run.c.want, run.chunks)
			}
			rmCompare(t, "asyncio model", run.got, run.model, run.chunks)
		})
	}
}

// TestReadModesModel checks the reference model itself against the table:
// the whole input fed before the first read, as in test_streams.py.
func TestReadModesModel(t *testing.T) {
	for i := range rmCases {
		c := &rmCases[i]
		if c.want == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var chunks []string
			if in := c.input(); in != "" {
				chunks = []string{in}
			}
			m := rmNewModel(c.effLimit(), chunks, io.EOF)
			var got []rmRes
			for _, o := range c.ops {
				got = append(got, m.do(o)...)
			}
			rmCompare(t, "model", got, c.want, chunks)
		})
	}
}

// rmWatchdog bounds calls without a ctx (Read, WriteTo): after rmTimeout
// it fails the test and ends r's stream with FeedEOF, which unblocks them.
func rmWatchdog(t *testing.T, r *chanstream.Reader) {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		t.Errorf("watchdog: still reading after %v", rmTimeout)
		r.FeedEOF()
	})
	t.Cleanup(func() {
		if !stop() {
			<-fired
		}
		cancel()
	})
}

// TestReadIotest runs iotest.TestReader (reads of every size, to EOF) over
// the chunking matrix.
func TestReadIotest(t *testing.T) {
	content := []byte(rmLargeLines())
	for _, src := range []rmSrc{rmSources[0], rmSources[2], rmSources[3]} {
		for _, limit := range []int{1, 1000, chanstream.DefaultLimit} {
			t.Run(fmt.Sprintf("%s/limit=%d", src.name, limit), func(t *testing.T) {
				c := &rmCase{in: []string{string(content)}}
				r := chanstream.NewReader(src.make(c), chanstream.WithLimit(limit))
				defer r.FeedEOF()
				rmWatchdog(t, r)
				if err := iotest.TestReader(r, content); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestReadSourceError: when the source fails, the bytes it had come back
// with the error (bufio's ReadBytes), then the error alone; Err reports it.
func TestReadSourceError(t *testing.T) {
	srcs := []struct {
		name string
		make func(data string) io.Reader
	}{
		{"error-after-data", func(d string) io.Reader { return &rmChunkSource{chunks: []string{d}, end: errRmSource} }},
		{"error-with-data", func(d string) io.Reader {
			return &rmChunkSource{chunks: []string{d}, end: errRmSource, withLast: true}
		}},
		{"timeout-reader", func(d string) io.Reader { return iotest.TimeoutReader(strings.NewReader(d)) }},
	}
	tests := []struct {
		name string
		data string
		ops  []rmOp
		want []rmRes
	}{
		{"ReadLine", "ab\ncd", rmOps(rmLine(), rmLine(), rmLine()), rmWant(rmOK("ab\n"), rmSrcErr("cd"), rmSrcErr(""))},
		{"ReadUntil", "abX", rmOps(rmUntil("XY"), rmUntil("XY")), rmWant(rmSrcErr("abX"), rmSrcErr(""))},
		{"ReadExactly", "abc", rmOps(rmExactly(5), rmExactly(1)), rmWant(rmSrcErr("abc"), rmSrcErr(""))},
		{"ReadUpTo", "abc", rmOps(rmUpTo(10), rmUpTo(10)), rmWant(rmOK("abc"), rmSrcErr(""))},
		{"ReadAll", "abc", rmOps(rmAll(), rmAll()), rmWant(rmSrcErr("abc"), rmSrcErr(""))},
		{"Read", "abc", rmOps(rmRead(10), rmRead(10)), rmWant(rmOK("abc"), rmSrcErr(""))},
		{"WriteTo", "abc", rmOps(rmWriteTo(), rmWriteTo()), rmWant(rmSrcErr("abc"), rmSrcErr(""))},
		{"Lines", "ab\ncd", rmOps(rmLinesOp(), rmLine()), rmWant(rmOK("ab\n"), rmSrcErr("cd"), rmSrcErr(""))},
	}
	for _, src := range srcs {
		for _, tt := range tests {
			t.Run(src.name+"/"+tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
				defer cancel()
				r := chanstream.NewReader(src.make(tt.data))
				defer r.FeedEOF()
				var got []rmRes
				for _, o := range tt.ops {
					got = append(got, rmDo(ctx, r, o)...)
				}
				if src.name == "timeout-reader" {
					for i := range tt.want {
						if tt.want[i].err == rmErrString(errRmSource) {
							tt.want[i].err = rmErrString(iotest.ErrTimeout)
						}
					}
				}
				rmCompare(t, "", got, tt.want, nil)
				wantErr := errRmSource
				if src.name == "timeout-reader" {
					wantErr = iotest.ErrTimeout
				}
				if err := r.Err(); !errors.Is(err, wantErr) {
					t.Errorf("Err() = %v; want %v", err, wantErr)
				}
				if !r.AtEOF() || r.Buffered() != 0 {
					t.Errorf("AtEOF(), Buffered() = %v, %d; want true, 0", r.AtEOF(), r.Buffered())
				}
			})
		}
	}
}

// TestReadIncompleteReadError: the error's fields, message and unwrapping:
// io.EOF when nothing was read (a clean end, as io.ReadFull), else
// io.ErrUnexpectedEOF; the message says "until EOF" where no separator came.
func TestReadIncompleteReadError(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		read     func(ctx context.Context, r *chanstream.Reader) ([]byte, error)
		partial  string
		expected int
		msg      string
		unwrap   error
	}{
		{"ReadExactly", rmData, func(ctx context.Context, r *chanstream.Reader) ([]byte, error) { return r.ReadExactly(ctx, 36) },
			rmData, 36, "18 bytes read on a total of 36 expected bytes", io.ErrUnexpectedEOF},
		{"ReadUntil", "some dataAA", func(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
			return r.ReadUntil(ctx, []byte("AAA"))
		}, "some dataAA", -1, "11 bytes read until EOF, no separator found", io.ErrUnexpectedEOF},
		{"ReadUntil-empty", "", func(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
			return r.ReadUntil(ctx, []byte("AAA"))
		}, "", -1, "0 bytes read until EOF", io.EOF},
		{"ReadExactly-empty", "", func(ctx context.Context, r *chanstream.Reader) ([]byte, error) { return r.ReadExactly(ctx, 1) },
			"", 1, "0 bytes read on a total of 1 expected bytes", io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
			defer cancel()
			r := chanstream.NewReader(iotest.OneByteReader(strings.NewReader(tt.in)))
			defer r.FeedEOF()
			b, err := tt.read(ctx, r)
			var ire *chanstream.IncompleteReadError
			if !errors.As(err, &ire) {
				t.Fatalf("%s = %q, %v; want *IncompleteReadError", tt.name, b, err)
			}
			if string(ire.Partial) != tt.partial || ire.Expected != tt.expected {
				t.Errorf("IncompleteReadError{%q, %d}; want {%q, %d}", ire.Partial, ire.Expected, tt.partial, tt.expected)
			}
			if !errors.Is(err, tt.unwrap) {
				t.Errorf("errors.Is(%v, %v) = false; want true", err, tt.unwrap)
			}
			other := io.EOF
			if tt.unwrap == io.EOF {
				other = io.ErrUnexpectedEOF
			}
			if errors.Is(err, other) {
				t.Errorf("errors.Is(%v, %v) = true; want false", err, other)
			}
			if !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "undefined") {
				t.Errorf("Error() = %q; want it to contain %q", err.Error(), tt.msg)
			}
			if n := strings.Count(err.Error(), "chanstream:"); n != 1 {
				t.Errorf("Error() = %q has %d \"chanstream:\" prefixes; want 1", err.Error(), n)
			}
			if len(b) != 0 {
				t.Errorf("%s returned %q with the IncompleteReadError; want no bytes (they are in Partial)", tt.name, b)
			}
			if b, err := r.ReadAll(ctx); len(b) != 0 || err != nil {
				t.Errorf("ReadAll() = %q, %v; want %q, %v (the buffer is emptied)", b, err, "", nil)
			}
			if !r.AtEOF() {
				t.Error("AtEOF() = false; want true")
			}
		})
	}
}

// rmWaitCtx is a context that reports the first call of Done: a read calls
// it when it is about to block, so the test knows the read is waiting.
type rmWaitCtx struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func rmNewWaitCtx(parent context.Context) (*rmWaitCtx, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	return &rmWaitCtx{Context: ctx, waiting: make(chan struct{})}, cancel
}

func (c *rmWaitCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// rmPipe is a Reader over an io.Pipe the test writes.
type rmPipe struct {
	pw *io.PipeWriter
	r  *chanstream.Reader
}

func rmNewPipe(t *testing.T, opts ...chanstream.Option) *rmPipe {
	pr, pw := io.Pipe()
	p := &rmPipe{pw: pw, r: chanstream.NewReader(pr, opts...)}
	t.Cleanup(func() {
		p.r.FeedEOF()
		pw.Close()
	})
	return p
}

// feed writes s and returns once the Reader's goroutine has handed it on:
// the empty write returns only when the goroutine reads again, after it
// queued s.
func (p *rmPipe) feed(t *testing.T, s string) {
	t.Helper()
	if s != "" {
		if _, err := p.pw.Write([]byte(s)); err != nil {
			t.Fatalf("pipe write: %v", err)
		}
	}
	if _, err := p.pw.Write(nil); err != nil {
		t.Fatalf("pipe write: %v", err)
	}
}

// rmStart runs o on r in a goroutine; the results come on the channel.
func rmStart(ctx context.Context, r *chanstream.Reader, o rmOp) <-chan []rmRes {
	ch := make(chan []rmRes, 1)
	go func() { ch <- rmDo(ctx, r, o) }()
	return ch
}

func rmAwait[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("%s: %v", what, ctx.Err())
		panic("unreachable")
	}
}

// TestReadCancel: a read whose ctx ends while it waits in the middle of a
// line returns ctx.Err() and consumes nothing; the next read gets it all.
func TestReadCancel(t *testing.T) {
	tests := []struct {
		name  string
		first string // written before the read; it waits with these buffered
		op    rmOp
		rest  string // written after the cancelled read; then the pipe is closed
		want  []rmRes
	}{
		{"ReadLine", "hel", rmLine(), "lo\nnext", rmWant(rmOK("hello\n"), rmOK("next"), rmEOF())},
		{"ReadUntil", "a\r", rmUntil("\r\n"), "\nb", rmWant(rmOK("a\r\n"), rmIRE("b", -1))},
		{"ReadUntil-several", "xxEN", rmUntil("END", "\n"), "D\n", rmWant(rmOK("xxEND"), rmOK("\n"), rmIRE("", -1))},
		{"ReadExactly", "abc", rmExactly(8), "defghij", rmWant(rmOK("abcdefgh"), rmIRE("ij", 8))},
		{"ReadAll", "abc", rmAll(), "def", rmWant(rmOK("abcdef"), rmOK(""))},
		{"ReadUpTo", "", rmUpTo(5), "xyz", rmWant(rmOK("xyz"), rmEOF())},
		{"Lines", "hel", rmLinesOp(), "lo\n", rmWant(rmOK("hello\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
			defer cancel()
			p := rmNewPipe(t)
			p.feed(t, tt.first)
			wctx, wcancel := rmNewWaitCtx(ctx)
			defer wcancel()
			done := rmStart(wctx, p.r, tt.op)
			rmAwait(t, ctx, wctx.waiting, "waiting for the read to block")
			wcancel()
			got := rmAwait(t, ctx, done, "waiting for the cancelled read")
			want := []rmRes{{data: "", err: "context canceled"}}
			rmCompare(t, "cancelled", got, want, nil)
			if n := p.r.Buffered(); n != len(tt.first) {
				t.Errorf("Buffered() = %d after the cancelled read; want %d (nothing consumed)", n, len(tt.first))
			}
			go func() {
				p.pw.Write([]byte(tt.rest))
				p.pw.Close()
			}()
			op := tt.op
			var again []rmRes
			for len(again) < len(tt.want) {
				res := rmDo(ctx, p.r, op)
				if len(res) == 0 {
					break
				}
				again = append(again, res...)
				op = op.next()
			}
			rmCompare(t, "after", again, tt.want, nil)
		})
	}
}

// next is the op to repeat after o: Lines is followed by ReadLine.
func (o rmOp) next() rmOp {
	if o.kind == rmKLines {
		return rmLine()
	}
	return o
}

// TestReadCancelWaitingForToken: a read queued behind another read (the
// token is held) gives up when its ctx ends; the first read is unaffected.
func TestReadCancelWaitingForToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	defer cancel()
	p := rmNewPipe(t)
	p.feed(t, "hel")
	actx, acancel := rmNewWaitCtx(ctx)
	defer acancel()
	a := rmStart(actx, p.r, rmLine())
	rmAwait(t, ctx, actx.waiting, "waiting for the first read to block")
	bctx, bcancel := rmNewWaitCtx(ctx)
	defer bcancel()
	b := rmStart(bctx, p.r, rmLine())
	rmAwait(t, ctx, bctx.waiting, "waiting for the second read to block")
	bcancel()
	rmCompare(t, "second", rmAwait(t, ctx, b, "second read"), rmWant(rmRes{err: "context canceled"}), nil)
	p.feed(t, "lo\n")
	rmCompare(t, "first", rmAwait(t, ctx, a, "first read"), rmWant(rmOK("hello\n")), nil)
}

// TestReadPrecancelled: a ctx that has already ended wins over buffered
// data, in every read mode, and consumes nothing.
func TestReadPrecancelled(t *testing.T) {
	tests := []struct {
		op      rmOp
		expired bool // a deadline in the past rather than a cancel
		want    string
	}{
		{rmUpTo(5), false, "context canceled"},
		{rmUpTo(-1), false, "context canceled"},
		{rmAll(), false, "context canceled"},
		{rmLine(), false, "context canceled"},
		{rmLine(), true, "context deadline exceeded"},
		{rmExactly(2), false, "context canceled"},
		{rmExactly(2), true, "context deadline exceeded"},
		{rmUntil("d"), false, "context canceled"},
		{rmUntil("X", "\n"), false, "context canceled"},
		{rmLinesOp(), false, "context canceled"},
	}
	for _, tt := range tests {
		name := tt.op.String()
		if tt.expired {
			name += "/deadline"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
			defer cancel()
			r := chanstream.NewReader(strings.NewReader("abc\ndef\n"))
			defer r.FeedEOF()
			if b, err := r.ReadUpTo(ctx, 1); string(b) != "a" || err != nil {
				t.Fatalf("ReadUpTo(1) = %q, %v; want %q, %v", b, err, "a", nil)
			}
			dctx, dcancel := context.WithCancel(ctx)
			if tt.expired {
				dctx, dcancel = context.WithDeadline(ctx, time.Now().Add(-time.Second))
			}
			dcancel()
			got := rmDo(dctx, r, tt.op)
			rmCompare(t, "ended ctx", got, rmWant(rmRes{err: tt.want}), nil)
			if n := r.Buffered(); n != 7 {
				t.Errorf("Buffered() = %d; want 7", n)
			}
			if b, err := r.ReadAll(ctx); string(b) != "bc\ndef\n" || err != nil {
				t.Errorf("ReadAll() = %q, %v; want %q, %v", b, err, "bc\ndef\n", nil)
			}
		})
	}
}

// TestReadInvalidArgument: bad arguments are ErrInvalidArgument and
// consume nothing; a limit ≤ 0 makes NewReader panic with such an error.
func TestReadInvalidArgument(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, r *chanstream.Reader) ([]byte, error)
	}{
		{"ReadExactly(-1)", func(ctx context.Context, r *chanstream.Reader) ([]byte, error) { return r.ReadExactly(ctx, -1) }},
		{"ReadExactly(-100)", func(ctx context.Context, r *chanstream.Reader) ([]byte, error) { return r.ReadExactly(ctx, -100) }},
		{`ReadUntil("")`, func(ctx context.Context, r *chanstream.Reader) ([]byte, error) { return r.ReadUntil(ctx, []byte{}) }},
		{`ReadUntil(nil)`, func(ctx context.Context, r *chanstream.Reader) ([]byte, error) { return r.ReadUntil(ctx, nil) }},
		{`ReadUntil("a", "")`, func(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
			return r.ReadUntil(ctx, []byte("a"), []byte{})
		}},
		{`ReadUntil("", "\n")`, func(ctx context.Context, r *chanstream.Reader) ([]byte, error) {
			return r.ReadUntil(ctx, []byte{}, []byte("\n"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
			defer cancel()
			r := chanstream.NewReader(strings.NewReader("a\nb\n"))
			defer r.FeedEOF()
			b, err := tt.call(ctx, r)
			if !errors.Is(err, chanstream.ErrInvalidArgument) || len(b) != 0 {
				t.Errorf("%s = %q, %v; want %q, an error wrapping ErrInvalidArgument", tt.name, b, err, "")
			}
			if b, err := r.ReadAll(ctx); string(b) != "a\nb\n" || err != nil {
				t.Errorf("ReadAll() = %q, %v; want %q, %v (nothing consumed)", b, err, "a\nb\n", nil)
			}
		})
	}
	for _, limit := range []int{0, -1, -65536} {
		t.Run(fmt.Sprintf("WithLimit(%d)", limit), func(t *testing.T) {
			defer func() {
				v := recover()
				err, ok := v.(error)
				if !ok || !errors.Is(err, chanstream.ErrInvalidArgument) {
					t.Errorf("NewReader(WithLimit(%d)) panicked with %v; want an error wrapping ErrInvalidArgument", limit, v)
				}
			}()
			r := chanstream.NewReader(strings.NewReader("x"), chanstream.WithLimit(limit))
			r.FeedEOF()
		})
	}
}

// TestReadLimit: Limit reports the option, DefaultLimit without it.
func TestReadLimit(t *testing.T) {
	tests := []struct {
		opts []chanstream.Option
		want int
	}{
		{nil, chanstream.DefaultLimit},
		{[]chanstream.Option{chanstream.WithLimit(1)}, 1},
		{[]chanstream.Option{chanstream.WithLimit(7)}, 7},
		{[]chanstream.Option{chanstream.WithLimit(3), chanstream.WithLimit(1 << 20)}, 1 << 20},
	}
	if chanstream.DefaultLimit != 64<<10 {
		t.Errorf("DefaultLimit = %d; want %d (asyncio's)", chanstream.DefaultLimit, 64<<10)
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.want), func(t *testing.T) {
			r := chanstream.NewReader(strings.NewReader(""), tt.opts...)
			defer r.FeedEOF()
			if got := r.Limit(); got != tt.want {
				t.Errorf("Limit() = %d; want %d", got, tt.want)
			}
		})
	}
}

// TestReadBufferedAtEOF follows Buffered, AtEOF and Err through a stream.
func TestReadBufferedAtEOF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	defer cancel()
	p := rmNewPipe(t)
	check := func(step string, buffered int, atEOF bool) {
		t.Helper()
		if n, e := p.r.Buffered(), p.r.AtEOF(); n != buffered || e != atEOF {
			t.Errorf("%s: Buffered(), AtEOF() = %d, %v; want %d, %v", step, n, e, buffered, atEOF)
		}
		if err := p.r.Err(); err != nil {
			t.Errorf("%s: Err() = %v; want nil", step, err)
		}
	}
	check("start", 0, false)
	p.feed(t, "abc")
	check("fed abc", 3, false)
	p.feed(t, "de")
	check("fed de", 5, false)
	if b, err := p.r.ReadUpTo(ctx, 1); string(b) != "a" || err != nil {
		t.Fatalf("ReadUpTo(1) = %q, %v; want %q, %v", b, err, "a", nil)
	}
	check("read a", 4, false)
	p.r.Unread([]byte("xy"))
	check("unread xy", 6, false)
	p.r.Unread(nil)
	check("unread nil", 6, false)
	p.pw.Close()
	if b, err := p.r.ReadAll(ctx); string(b) != "xybcde" || err != nil {
		t.Fatalf("ReadAll() = %q, %v; want %q, %v", b, err, "xybcde", nil)
	}
	check("end", 0, true)
	p.r.Unread([]byte("z"))
	check("unread at EOF", 1, false)
	if b, err := p.r.ReadLine(ctx); string(b) != "z" || err != nil {
		t.Fatalf("ReadLine() = %q, %v; want %q, %v", b, err, "z", nil)
	}
	check("read z", 0, true)
}

// rmFailWriter accepts n bytes, then fails.
type rmFailWriter struct {
	buf bytes.Buffer
	n   int
	err error
}

func (w *rmFailWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return w.buf.Write(p)
	}
	k := w.n
	w.n = 0
	w.buf.Write(p[:k])
	return k, w.err
}

// TestReadWriteTo: io.Copy uses WriteTo; nil at EOF; a failing writer's
// error comes back and the bytes it did not take stay in the Reader.
func TestReadWriteTo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	defer cancel()
	data := rmLargeLines()
	t.Run("io.Copy", func(t *testing.T) {
		r := chanstream.NewReader(iotest.HalfReader(strings.NewReader(data)), chanstream.WithLimit(100))
		defer r.FeedEOF()
		rmWatchdog(t, r)
		var b bytes.Buffer
		n, err := io.Copy(&b, r)
		if n != int64(len(data)) || err != nil || b.String() != data {
			t.Errorf("io.Copy() = %d, %v; want %d, %v (content equal: %v)", n, err, len(data), nil, b.String() == data)
		}
	})
	t.Run("writer-fails", func(t *testing.T) {
		errW := errors.New("rm: writer failed")
		r := chanstream.NewReader(strings.NewReader("abcdefgh"))
		defer r.FeedEOF()
		rmWatchdog(t, r)
		w := &rmFailWriter{n: 3, err: errW}
		n, err := r.WriteTo(w)
		if n != 3 || !errors.Is(err, errW) || w.buf.String() != "abc" {
			t.Errorf("WriteTo() = %d, %v (wrote %q); want %d, %v (wrote %q)", n, err, w.buf.String(), 3, errW, "abc")
		}
		if b, err := r.ReadAll(ctx); string(b) != "defgh" || err != nil {
			t.Errorf("ReadAll() = %q, %v; want %q, %v", b, err, "defgh", nil)
		}
	})
}

// TestUnread: Unread copies, puts bytes in front of everything, and a read
// that is waiting sees them.
func TestUnread(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	defer cancel()
	t.Run("copies", func(t *testing.T) {
		r := chanstream.NewReader(strings.NewReader("cd\n"))
		defer r.FeedEOF()
		p := []byte("ab")
		r.Unread(p)
		p[0] = 'X'
		if b, err := r.ReadLine(ctx); string(b) != "abcd\n" || err != nil {
			t.Errorf("ReadLine() = %q, %v; want %q, %v", b, err, "abcd\n", nil)
		}
	})
	for _, tt := range []struct {
		name   string
		first  string // buffered while the read waits
		op     rmOp
		unread string // put back while it waits
		want   []rmRes
	}{
		{"wakes-ReadLine", "hel", rmLine(), "xy\n", rmWant(rmOK("xy\n"), rmOK("hello\n"))},
		{"wakes-ReadUntil", "hel", rmUntil("yh"), "xy", rmWant(rmOK("xyh"), rmIRE("ello\n", -1))},
		{"wakes-ReadExactly", "hel", rmExactly(4), "xy", rmWant(rmOK("xyhe"), rmOK("llo\n"))},
		{"wakes-ReadUpTo", "", rmUpTo(10), "xy\n", rmWant(rmOK("xy\n"), rmOK("lo\n"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := rmNewPipe(t)
			p.feed(t, tt.first)
			wctx, wcancel := rmNewWaitCtx(ctx)
			defer wcancel()
			done := rmStart(wctx, p.r, tt.op)
			rmAwait(t, ctx, wctx.waiting, "waiting for the read to block")
			p.r.Unread([]byte(tt.unread))
			got := rmAwait(t, ctx, done, "waiting for the read")
			go func() {
				p.pw.Write([]byte("lo\n"))
				p.pw.Close()
			}()
			got = append(got, rmDo(ctx, p.r, tt.op)...)
			rmCompare(t, "", got, tt.want, nil)
		})
	}
}

// TestLines: the iterator ends at EOF and after an error; breaking out of
// the loop consumes nothing more; an ended ctx is yielded once.
func TestLines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	defer cancel()
	t.Run("break", func(t *testing.T) {
		r := chanstream.NewReader(iotest.OneByteReader(strings.NewReader("a\nb\nc\n")))
		defer r.FeedEOF()
		for line, err := range r.Lines(ctx) {
			if string(line) != "a\n" || err != nil {
				t.Errorf("Lines() yielded %q, %v; want %q, %v", line, err, "a\n", nil)
			}
			break
		}
		if b, err := r.ReadLine(ctx); string(b) != "b\n" || err != nil {
			t.Errorf("ReadLine() = %q, %v; want %q, %v", b, err, "b\n", nil)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		r := chanstream.NewReader(strings.NewReader("a\nb\n"))
		defer r.FeedEOF()
		dctx, dcancel := context.WithCancel(ctx)
		dcancel()
		var got []rmRes
		for line, err := range r.Lines(dctx) {
			got = append(got, rmRes{data: string(line), err: rmErrString(err)})
		}
		rmCompare(t, "Lines()", got, rmWant(rmRes{err: "context canceled"}), nil)
		if b, err := r.ReadAll(ctx); string(b) != "a\nb\n" || err != nil {
			t.Errorf("ReadAll() = %q, %v; want %q, %v", b, err, "a\nb\n", nil)
		}
	})
	t.Run("stops-after-error", func(t *testing.T) {
		r := chanstream.NewReader(strings.NewReader("a\nbbbbbb\nc\n"), chanstream.WithLimit(3))
		defer r.FeedEOF()
		var got []rmRes
		for line, err := range r.Lines(ctx) {
			got = append(got, rmRes{data: string(line), err: rmErrString(err)})
		}
		rmCompare(t, "Lines()", got, rmWant(rmOK("a\n"), rmLOE(6)), nil)
		if b, err := r.ReadLine(ctx); string(b) != "c\n" || err != nil {
			t.Errorf("ReadLine() = %q, %v; want %q, %v", b, err, "c\n", nil)
		}
	})
}

// TestFeedEOF: FeedEOF ends the stream now: a waiting read returns what is
// buffered, queued chunks are still delivered, then io.EOF.
func TestFeedEOF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
	defer cancel()
	t.Run("wakes-waiting-read", func(t *testing.T) {
		for _, tt := range []struct {
			op   rmOp
			want []rmRes
		}{
			{rmLine(), rmWant(rmOK("hel"), rmEOF())},
			{rmUntil("\r\n"), rmWant(rmIRE("hel", -1), rmIRE("", -1))},
			{rmExactly(5), rmWant(rmIRE("hel", 5), rmIRE("", 5))},
			{rmAll(), rmWant(rmOK("hel"), rmOK(""))},
			{rmLinesOp(), rmWant(rmOK("hel"), rmEOF())},
		} {
			t.Run(tt.op.String(), func(t *testing.T) {
				p := rmNewPipe(t)
				p.feed(t, "hel")
				wctx, wcancel := rmNewWaitCtx(ctx)
				defer wcancel()
				done := rmStart(wctx, p.r, tt.op)
				rmAwait(t, ctx, wctx.waiting, "waiting for the read to block")
				p.r.FeedEOF()
				got := rmAwait(t, ctx, done, "waiting for the read")
				got = append(got, rmDo(ctx, p.r, tt.op.next())...)
				rmCompare(t, "", got, tt.want, nil)
				if !p.r.AtEOF() || p.r.Err() != nil {
					t.Errorf("AtEOF(), Err() = %v, %v; want true, nil", p.r.AtEOF(), p.r.Err())
				}
			})
		}
	})
	t.Run("queued-chunks", func(t *testing.T) {
		p := rmNewPipe(t)
		p.feed(t, "ab\n")
		p.feed(t, "cd")
		p.r.FeedEOF()
		p.r.FeedEOF() // idempotent
		var got []rmRes
		for _, o := range rmOps(rmLine(), rmLine(), rmLine(), rmUpTo(3), rmExactly(1)) {
			got = append(got, rmDo(ctx, p.r, o)...)
		}
		rmCompare(t, "", got, rmWant(rmOK("ab\n"), rmOK("cd"), rmEOF(), rmEOF(), rmIRE("", 1)), nil)
		if !p.r.AtEOF() || p.r.Err() != nil || p.r.Buffered() != 0 {
			t.Errorf("AtEOF(), Err(), Buffered() = %v, %v, %d; want true, nil, 0", p.r.AtEOF(), p.r.Err(), p.r.Buffered())
		}
	})
	t.Run("nothing-buffered", func(t *testing.T) {
		p := rmNewPipe(t)
		p.r.FeedEOF()
		if !p.r.AtEOF() {
			t.Error("AtEOF() = false after FeedEOF with nothing buffered; want true")
		}
		if b, err := p.r.ReadLine(ctx); b != nil || err != io.EOF {
			t.Errorf("ReadLine() = %q, %v; want %q, %v", b, err, "", io.EOF)
		}
		if n, err := p.r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Errorf("Read() = %d, %v; want %d, %v", n, err, 0, io.EOF)
		}
	})
}

// rmGatedSource hands out up to per bytes per Read call, and announces
// each call on calls before producing anything, so the test knows exactly
// how many calls have happened. done releases a blocked call.
type rmGatedSource struct {
	per      int
	calls    chan struct{}
	done     chan struct{}
	produced atomic.Int64
}

func (s *rmGatedSource) Read(p []byte) (int, error) {
	select {
	case s.calls <- struct{}{}:
	case <-s.done:
		return 0, io.EOF
	}
	n := min(len(p), s.per)
	for i := range n {
		p[i] = 'a' + byte(i%26)
	}
	s.produced.Add(int64(n))
	return n, nil
}

// TestBackpressure: past 2×limit the Reader stops reading its source (as
// asyncio pauses its transport) and holds at most 2×limit plus one chunk;
// once reads bring it down to the limit, it reads the source again.
func TestBackpressure(t *testing.T) {
	const limit = 1024
	tests := []struct {
		per   int   // bytes per Read call
		calls int   // Read calls until Buffered > 2×limit
		steps []int // ReadExactly sizes; the source is read again after the last only
	}{
		{1024, 3, []int{1024, 1024}}, // 2048 == 2×limit does not pause; 3072 does
		{700, 3, []int{1000, 1000}},  // 2100: pause; 1100 > limit: still; 100: read
		{3000, 1, []int{1000, 1000}}, // 3000; 2000; 1000 <= limit
		{rmChunk, 1, []int{30000, 1744}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.per), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
			defer cancel()
			src := &rmGatedSource{per: tt.per, calls: make(chan struct{}), done: make(chan struct{})}
			r := chanstream.NewReader(src, chanstream.WithLimit(limit))
			defer r.FeedEOF()
			defer close(src.done)
			for i := range tt.calls {
				rmAwait(t, ctx, src.calls, fmt.Sprintf("Read call %d", i+1))
			}
			rmNoCall := func(step string) {
				t.Helper()
				select {
				case <-src.calls:
					t.Fatalf("%s: source read again with Buffered() = %d, limit %d", step, r.Buffered(), limit)
				case <-time.After(200 * time.Millisecond): // a negative check only
				}
			}
			rmNoCall(fmt.Sprintf("after %d calls (%d bytes)", tt.calls, src.produced.Load()))
			if n := r.Buffered(); n > 2*limit+rmChunk {
				t.Errorf("Buffered() = %d; want <= 2×limit + one chunk = %d", n, 2*limit+rmChunk)
			}
			held := tt.calls * tt.per
			for i, n := range tt.steps {
				b, err := r.ReadExactly(ctx, n)
				if len(b) != n || err != nil {
					t.Fatalf("ReadExactly(%d) = %d bytes, %v; want %d bytes, %v", n, len(b), err, n, nil)
				}
				held -= n
				if got := r.Buffered(); got != held {
					t.Errorf("Buffered() = %d after ReadExactly(%d); want %d", got, n, held)
				}
				if i < len(tt.steps)-1 {
					if held <= limit {
						t.Fatalf("bad table: %d held <= limit before the last step", held)
					}
					rmNoCall(fmt.Sprintf("with %d held > limit", held))
					continue
				}
				if held > limit {
					t.Fatalf("bad table: %d held > limit after the last step", held)
				}
				rmAwait(t, ctx, src.calls, fmt.Sprintf("Read call after reading down to %d <= limit", held))
			}
		})
	}
}

// rmCountingSource produces an endless pattern, 1 KiB per call, and records
// the Reader's Buffered at the start of each call.
type rmCountingSource struct {
	r        atomic.Pointer[chanstream.Reader]
	maxStart atomic.Int64 // the most Buffered was when a Read call began
	offset   int64
	done     chan struct{}
}

func (s *rmCountingSource) Read(p []byte) (int, error) {
	select {
	case <-s.done:
		return 0, io.EOF
	default:
	}
	if r := s.r.Load(); r != nil {
		b := int64(r.Buffered())
		for {
			m := s.maxStart.Load()
			if b <= m || s.maxStart.CompareAndSwap(m, b) {
				break
			}
		}
	}
	n := min(len(p), 1024)
	for i := range n {
		p[i] = byte((s.offset + int64(i)) % 251)
	}
	s.offset += int64(n)
	return n, nil
}

// TestBackpressureReadExactly: ReadExactly(n) with n > 2×limit completes;
// the Reader holds at most max(2×limit, n) plus one chunk.
func TestBackpressureReadExactly(t *testing.T) {
	const limit = 1024
	for _, n := range []int{2*limit + 1, 10000, 100000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
			defer cancel()
			src := &rmCountingSource{done: make(chan struct{})}
			r := chanstream.NewReader(src, chanstream.WithLimit(limit))
			src.r.Store(r)
			defer r.FeedEOF()
			defer close(src.done)
			for round := range 2 {
				b, err := r.ReadExactly(ctx, n)
				if len(b) != n || err != nil {
					t.Fatalf("ReadExactly(%d) = %d bytes, %v; want %d bytes, %v", n, len(b), err, n, nil)
				}
				for i, c := range b {
					if want := byte((int64(round*n) + int64(i)) % 251); c != want {
						t.Fatalf("ReadExactly(%d) round %d: byte %d = %d; want %d", n, round, i, c, want)
					}
				}
			}
			if m := src.maxStart.Load(); m > int64(max(2*limit, n)) {
				t.Errorf("a Read call began with Buffered() = %d; want <= max(2×limit, n) = %d", m, max(2*limit, n))
			}
		})
	}
}

// TestBackpressureLongSeparator: a ReadUntil whose separator is longer than
// limit+1 must make the paused Reader read on: asyncio's _wait_for_data
// resumes reading before it waits ("Waiting for data while paused will
// make deadlock, so prevent it"). python3.13, limit 2, the bytes fed one
// at a time while the transport honours pause_reading: b'ab<END>'.
func TestBackpressureLongSeparator(t *testing.T) {
	tests := []struct {
		limit int
		in    string
		seps  []string
		want  rmRes
	}{
		{2, "ab<END>cd", []string{"<END>"}, rmOK("ab<END>")},
		{1, "a\r\n\r\n", []string{"\r\n\r\n"}, rmOK("a\r\n\r\n")},
		{3, "abc--boundary--", []string{"--boundary--", "\n"}, rmOK("abc--boundary--")},
	}
	// The reads run at once, so that a Reader that hangs costs one timeout.
	got := make([][]rmRes, len(tests))
	var wg sync.WaitGroup
	for i, tt := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
			defer cancel()
			r := chanstream.NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), chanstream.WithLimit(tt.limit))
			defer r.FeedEOF()
			got[i] = rmDo(ctx, r, rmUntil(tt.seps...))
		}()
	}
	wg.Wait()
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%q/limit=%d", tt.in, tt.limit), func(t *testing.T) {
			rmCompare(t, "", got[i], rmWant(tt.want), nil)
		})
	}
}

// TestConcurrentReaders: many goroutines read one Reader with ReadLine,
// ReadExactly, ReadUntil and Lines; every record arrives exactly once and
// whole.
func TestConcurrentReaders(t *testing.T) {
	const records = 2000
	const recLen = 8 // "%07d\n"
	var in strings.Builder
	for i := range records {
		fmt.Fprintf(&in, "%07d\n", i)
	}
	data := in.String()
	srcs := []struct {
		name string
		make func() io.Reader
	}{
		{"whole", func() io.Reader { return strings.NewReader(data) }},
		{"onebyte", func() io.Reader { return iotest.OneByteReader(strings.NewReader(data)) }},
		{"split5", func() io.Reader { return &rmChunkSource{chunks: rmSplit(data, 5)} }},
		{"half", func() io.Reader { return iotest.HalfReader(strings.NewReader(data)) }},
	}
	for _, src := range srcs {
		for _, limit := range []int{recLen, chanstream.DefaultLimit} {
			t.Run(fmt.Sprintf("%s/limit=%d", src.name, limit), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), rmTimeout)
				defer cancel()
				r := chanstream.NewReader(src.make(), chanstream.WithLimit(limit))
				defer r.FeedEOF()
				const workers = 8
				got := make([][]string, workers)
				errs := make(chan error, workers)
				var wg sync.WaitGroup
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs <- rmConsume(ctx, r, w%4, &got[w])
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Error(err)
					}
				}
				var all []string
				for _, g := range got {
					all = append(all, g...)
				}
				sort.Strings(all)
				if len(all) != records {
					t.Errorf("got %d records; want %d", len(all), records)
				}
				for i, rec := range all {
					if want := fmt.Sprintf("%07d\n", i); rec != want {
						t.Fatalf("record %d = %q; want %q (a record lost, duplicated or torn)", i, rec, want)
					}
				}
			})
		}
	}
}

// rmConsume reads records until EOF with one read mode.
func rmConsume(ctx context.Context, r *chanstream.Reader, mode int, out *[]string) error {
	if mode == 3 {
		for line, err := range r.Lines(ctx) {
			if err != nil {
				return fmt.Errorf("Lines() yielded %q, %v", line, err)
			}
			*out = append(*out, string(line))
		}
		return nil
	}
	for {
		var b []byte
		var err error
		var name string
		switch mode {
		case 0:
			name = "ReadLine()"
			b, err = r.ReadLine(ctx)
		case 1:
			name = "ReadExactly(8)"
			b, err = r.ReadExactly(ctx, 8)
		case 2:
			name = `ReadUntil("\n")`
			b, err = r.ReadUntil(ctx, []byte("\n"))
		}
		var ire *chanstream.IncompleteReadError
		switch {
		case err == io.EOF && mode == 0,
			errors.As(err, &ire) && mode != 0 && len(ire.Partial) == 0:
			return nil
		case err != nil:
			return fmt.Errorf("%s = %q, %v; want a record", name, b, err)
		}
		*out = append(*out, string(b))
	}
}
