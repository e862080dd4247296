// Package chanstream gives a connection Python asyncio's stream API, built
// from goroutines and channels: a [Reader] with asyncio's read modes
// (read, readline, readexactly, readuntil) and a [Writer] with its flow
// control (write, drain, write_eof, close, wait_closed).
//
// [New] adopts a net.Conn and returns its Reader and Writer; [NewReader] and
// [NewWriter] wrap any io.Reader or io.Writer (a pipe, a file, a standard
// stream).
//
//	r, w := chanstream.New(conn)
//	w.WriteString("HELO example.org\r\n")
//	if err := w.Drain(ctx); err != nil { ... }
//	line, err := r.ReadLine(ctx)
//	...
//	w.Close()
//	w.WaitClosed(ctx)
//
// # Connecting
//
// [OpenConnection] is asyncio's open_connection: it resolves "host:port"
// under ctx, races the addresses as RFC 8305 says (happy eyeballs:
// [WithHappyEyeballsDelay], [WithInterleave]), optionally runs a TLS
// handshake ([WithTLS]), and returns the stream. Over TLS, Close's flush
// and close_notify are bounded by [WithTLSShutdownTimeout], for New of a
// *tls.Conn too. [NetConn] turns a stream back into a net.Conn, deadlines
// and all, for libraries that want one (net/http, crypto/tls).
// [NewContext] adopts a connection the caller dialed (a Unix-domain
// socket, a tunnel) as OpenConnection would after connecting: the
// [WithTLS] handshake first when asked, and errors instead of New's
// panics.
//
// # Options
//
// Every constructor takes the same [Option] type, and no option is ever
// ignored: an option either takes effect for the call it is given to or
// the call fails with an error wrapping [ErrInvalidArgument] that names
// the option — New, NewReader and NewWriter panic with it, as with an
// invalid value. Where each applies ("no": the call fails):
//
//	option                   New, NewContext  NewReader  NewWriter  OpenConnection  server.WithStreamOptions
//	WithLimit                yes              yes        no         yes             yes
//	WithWriteBufferLimits    yes              no         yes        yes             yes
//	WithMaxWriteBuffer       yes              no         yes        yes             yes
//	WithTLS                  yes (1)          no         no         yes (2)         no: server.WithTLS
//	WithTLSHandshakeTimeout  with WithTLS     no         no         with WithTLS    no: server.WithTLSHandshakeTimeout
//	WithTLSShutdownTimeout   yes (3)          no         *tls.Conn  yes             yes
//	WithServerSide           yes              no         no         no              yes (the server sets it)
//	WithNetwork, WithLocalAddr, WithHappyEyeballsDelay,
//	WithInterleave, WithDialer
//	                         no               no         no         yes             no
//	WithKeepAlive            no               no         no         yes             no: server.WithKeepAlive
//
// (1) New runs TLS over conn: a tls.Client, or a tls.Server with
// WithServerSide, whose handshake the reader goroutine runs first, bounded
// by WithTLSHandshakeTimeout; New does not wait for it (see WithTLS).
// NewContext runs the handshake before it returns. Neither has a host
// name, so a client's config needs ServerName or InsecureSkipVerify; a
// server's needs a certificate. (2) WithTLS(nil) is a zero tls.Config, as
// tls.Dial uses; ServerName comes from the host. (3) It bounds Close over
// TLS: over WithTLS's layer, a *tls.Conn given to New, or a stream
// upgraded later (tlsup.StartTLS). NewWriter takes it when its sink is a
// *tls.Conn. unix.OpenConnection takes New's options. [CheckOptions] and
// [CheckServerOptions] check options ahead of a call.
//
// Nil arguments are errors at the call too, never a crash later in a
// goroutine of the stream: a nil conn, source or sink (New, NewReader,
// NewWriter and [NetConn] panic; NewContext returns the error), a nil ctx
// for OpenConnection, NewContext, [Writer.Upgrade] and [Reader.LineFeed],
// and a nil function for Upgrade.
//
// # Lines in a select
//
// [Reader.LineFeed] delivers a stream's lines on a channel for a select
// next to other channels; [LineFeed.Stop] ends it, waits for its goroutine
// and puts back into the Reader the line it held, so that reading on —
// directly or with a new feed — loses and reorders nothing.
//
// # Goroutines
//
// Every stream made by New has the same shape, whatever it runs over — TCP,
// a Unix socket, TLS, a pipe:
//
//   - One reader goroutine, the only code that reads the connection. Over a
//     plain socket it waits for the socket to be readable before it takes a
//     pooled chunk (so an idle stream holds no read buffer), reads, and
//     pushes the chunk into a bounded channel; read calls take chunks from
//     it. It reads ahead, as asyncio's transport does, until the Reader
//     holds 2×limit, then stops until the application has read down to the
//     limit. Because it is always reading, a peer's FIN or reset is seen at
//     once: [Reader.AtEOF], [Reader.Err], [Writer.Drain] and a server
//     handler's ctx learn of it without any read call.
//   - A writer goroutine, while there is something to write: it takes
//     everything queued and writes it with one writev, then returns. As
//     asyncio's transport.write does, a Write that finds nothing queued may
//     first offer its bytes to a plain socket with one non-blocking write and
//     queue only the rest — when it is 16 KiB or more (queuing would copy
//     it), or when the application is answering (it has read everything
//     received since the last such write), so that a request and its
//     response cost no goroutine hand-off while runs of small Writes are
//     still batched. [Reader.WriteTo] into a Writer and [Writer.ReadFrom]
//     offer whole chunks the same way, without a copy. The write side has one owner at a time:
//     the writer goroutine, a Write making that one attempt, or Upgrade.
//
// Both run in the stream's errgroup. They end after [Writer.Close] or
// [Writer.Abort], or when the connection fails; [Writer.Done] is closed, and
// [Writer.WaitClosed] returns, once the group's Wait has returned. A
// [NewReader]'s goroutine ends when its source returns EOF or an error, or
// after [Reader.FeedEOF]; a [NewWriter]'s writer goroutine runs as a
// stream's does.
//
// # Cancellation
//
// Every call that may block takes a ctx or is ended by Close, Abort or the
// connection's end; nothing blocks forever on a peer. A read whose ctx ends
// returns ctx.Err() and consumes nothing: every byte stays for the next
// read. A ctx that has already ended wins over data that is buffered, as a
// past deadline does for net.Conn: the read returns ctx.Err() at once. A ctx
// ends a wait, never the stream.
//
// # Concurrency
//
// All methods are safe for concurrent use. Concurrent reads are served one
// at a time, each byte delivered exactly once; a read waiting its turn can
// be cancelled by its ctx.
//
// # Memory
//
// A Reader holds at most 2×limit ([WithLimit], default [DefaultLimit]) plus
// one read chunk of unread data — max(2×limit, n) during a ReadExactly(n).
// At that bound the reader goroutine stops reading, as asyncio pauses its
// transport, and reads again once the application has read down to the
// limit; meanwhile bytes wait in the kernel and its window closes, so a
// slow reader slows the peer. The Reader's own buffer goes back to the pool
// as soon as it is emptied, and so do the write queue's chunks once
// written. Over a socket a chunk is taken only when the socket has bytes to
// give, and over TLS the reader goroutine waits for the next record with a
// one-byte read, so an idle stream holds no buffer at all (the TLS layer
// keeps its own); over pipes and files it holds one chunk while it waits in
// Read.
// Returned slices are the caller's: nothing is reused under them. The
// write queue is unbounded, as asyncio's is: [Writer.Drain] (and
// [Writer.ReadFrom], which drains as it goes) keep it near the high
// watermark. [WithMaxWriteBuffer] makes it bounded: a Write that would
// queue past the cap is refused with [ErrWriteBufferFull].
//
// # Errors
//
// Bad arguments return an error wrapping [ErrInvalidArgument] and change
// nothing; constructors without an error result panic with it. Use after
// Close returns an error that errors.Is(err, [ErrClosed]). A connection
// error reaches reads only after every byte received before it, and is
// sticky for writes. Short reads at EOF are [*IncompleteReadError]; a
// separator beyond the limit is [*LimitOverrunError]; use errors.As. As
// with io.ReadFull, an IncompleteReadError with nothing read — a clean end
// between messages — satisfies errors.Is(err, io.EOF), and one with some
// bytes errors.Is(err, io.ErrUnexpectedEOF). Every message starts with one
// "chanstream: ".
//
// # Observability and control
//
// [Reader.Stats] and [Writer.Stats] report what a stream has done: bytes
// read and written, the peaks of the read buffer and of the write queue,
// the time the reader goroutine stood paused at 2×limit and the Drain
// calls that waited. Every goroutine of a stream carries the pprof labels
// "chanstream.remote" and "chanstream.local", so a goroutine profile
// names its connection. [WithMaxWriteBuffer] caps the write queue
// ([ErrWriteBufferFull]). [Writer.Detach] ends the stream and hands its
// connection back, with the bytes read ahead, for another protocol to
// take over.
//
// # Differences from asyncio
//
// A reset connection's buffered bytes are still delivered (asyncio drops
// them); a read with an ended ctx consumes nothing (asyncio's cancelled
// read may have consumed); EOF is io.EOF, not an empty bytes object.
package chanstream
