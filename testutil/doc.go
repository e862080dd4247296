// Package testutil helps tests of code built on streams — this project's
// and its users': goroutine-leak checks, a real TCP pair on loopback with
// both ends as streams, a plain peer to serve connections (Serve), a
// self-signed TLS configuration, and fault injection: [FaultConn] wraps a
// connection so that its reads and writes come in small random pieces,
// late, or stop — a reset after so many bytes (a real RST over TCP), a
// stall — and [FaultListener] does it to every connection a server under
// test accepts.
//
// A package's tests run under the leak check with
//
//	func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }
//
// and get a connected pair with
//
//	client, server := testutil.Loopback(t)
//	client.W.WriteString("ping\n")
//	line, err := server.R.ReadLine(ctx)
//
// and a peer that sends in 1..5-byte pieces and resets after 1000 bytes with
//
//	fc := testutil.NewFaultConn(conn, testutil.Faults{MaxWrite: 5, ResetAfter: 1000})
package testutil
