// Package tlsup upgrades a live stream to TLS — asyncio's
// StreamWriter.start_tls — for protocols that begin in plain text and
// switch (SMTP's, IMAP's and XMPP's STARTTLS, PostgreSQL's SSLRequest).
//
// [StartTLS] runs the handshake over the stream's connection, as the
// server or the client side, and leaves the same Reader and Writer carrying
// the TLS stream: reads return decrypted bytes, writes are encrypted. Bytes
// that arrived before the upgrade and were not read — a client that sent
// its TLS hello right behind its STARTTLS line — go to the handshake, never
// to the application as plaintext. Writes queued before the call are
// written in plain text first.
//
//	line, _ := r.ReadLine(ctx)             // "STARTTLS\r\n"
//	w.WriteString("220 Ready to start TLS\r\n")
//	if err := tlsup.StartTLS(ctx, w, serverConfig); err != nil {
//		return err // the stream is aborted
//	}
//	line, _ = r.ReadLine(ctx)              // the first line over TLS
//
// The handshake is bounded by [WithHandshakeTimeout] (default 60 s) and by
// ctx; a failed handshake aborts the stream. After the upgrade, Close's
// flush and close_notify are bounded by [WithShutdownTimeout], or else by
// the stream's own chanstream.WithTLSShutdownTimeout (default 30 s), as for
// a stream opened with TLS.
package tlsup
