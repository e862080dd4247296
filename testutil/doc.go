// Package testutil helps tests of code built on streams — this project's
// and its users': goroutine-leak checks, a real TCP pair on loopback with
// both ends as streams, a plain peer to serve connections (Serve), and a
// self-signed TLS configuration.
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
package testutil
