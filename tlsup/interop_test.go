package tlsup_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
	"github.com/cspstream/streams/tlsup"
)

func python(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the asyncio STARTTLS interop test did not run")
	}
	return py
}

// pyClient is asyncio's side of a STARTTLS client: a line, the answer,
// writer.start_tls, then an echo of every byte of a payload.
const pyClient = `
import asyncio, ssl, sys

async def main():
    port, ca = int(sys.argv[1]), sys.argv[2]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"STARTTLS\n")
    await writer.drain()
    line = await reader.readline()
    if line != b"GO\n":
        sys.exit("answer to STARTTLS: %r" % line)
    ctx = ssl.create_default_context(cafile=ca)
    await writer.start_tls(ctx, server_hostname="localhost")
    payload = bytes(range(256)) * 1000 + b"end\n"
    async def send():
        writer.write(payload)
        await writer.drain()
    _, got = await asyncio.gather(send(), reader.readexactly(len(payload)))
    if got != payload:
        sys.exit("echo differs")
    print(writer.get_extra_info("ssl_object").version())
    writer.close()
    await writer.wait_closed()

asyncio.run(main())
`

// TestInteropPythonClient: python3's asyncio client upgrades with
// writer.start_tls against a server that upgrades with tlsup.StartTLS.
func TestInteropPythonClient(t *testing.T) {
	py := python(t)
	srvCfg, _ := configs(t)
	certFile, _ := testutil.CertFiles(t, srvCfg)
	ctx := testCtx(t)
	states := make(chan tls.ConnectionState, 1)
	srv, err := server.Start(ctx, "127.0.0.1:0", func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		line, err := r.ReadLine(ctx)
		if err != nil || string(line) != "STARTTLS\n" {
			return fmt.Errorf("want STARTTLS, got %q, %v", line, err)
		}
		w.WriteString("GO\n")
		if err := tlsup.StartTLS(ctx, w, srvCfg); err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		st, _ := w.ExtraInfo("tls").(tls.ConnectionState)
		states <- st
		return err
	}, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	port := strings.TrimPrefix(srv.Addrs()[0].String(), "127.0.0.1:")
	out, err := exec.CommandContext(ctx, py, "-c", pyClient, port, certFile).CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "TLSv1.") {
		t.Errorf("python client reports %q; want a TLS version", out)
	}
	select {
	case st := <-states:
		if !st.HandshakeComplete {
			t.Error("the server's stream is not TLS after the echo")
		}
	case <-ctx.Done():
		t.Fatal("the handler did not finish")
	}
}

// pyServer is asyncio's side of a STARTTLS server: one connection, a line,
// the answer, writer.start_tls as the server, then an echo until EOF.
const pyServer = `
import asyncio, ssl, sys

async def main():
    cert, key = sys.argv[1], sys.argv[2]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    served = asyncio.Event()
    result = []
    async def handle(reader, writer):
        try:
            line = await reader.readline()
            if line != b"STARTTLS\n":
                result.append("want STARTTLS, got %r" % line)
                return
            writer.write(b"GO\n")
            await writer.drain()
            await writer.start_tls(ctx)
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            result.append("ok " + writer.get_extra_info("ssl_object").version())
            writer.close()
            await writer.wait_closed()
        except Exception as e:
            result.append("error %r" % e)
        finally:
            served.set()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await served.wait()
    srv.close()
    await srv.wait_closed()
    print(result[0], flush=True)

asyncio.run(main())
`

// TestInteropPythonServer: a client that upgrades with tlsup.StartTLS —
// its config naming no server, so the name is the host OpenConnection
// dialed, "localhost" — against python3's asyncio server upgrading with
// writer.start_tls.
func TestInteropPythonServer(t *testing.T) {
	py := python(t)
	srvCfg, cliCfg := configs(t)
	cliCfg.ServerName = ""
	certFile, keyFile := testutil.CertFiles(t, srvCfg)
	ctx := testCtx(t)
	cmd := exec.CommandContext(ctx, py, "-c", pyServer, certFile, keyFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill() // a no-op once it has exited
	out := bufio.NewReader(stdout)
	port, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("python server's port: %v (stderr: %s)", err, &stderr)
	}
	r, w, err := chanstream.OpenConnection(ctx, "localhost:"+strings.TrimSpace(port), chanstream.WithNetwork("tcp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.Abort(); w.WaitClosed(ctx) }()
	w.WriteString("STARTTLS\n")
	readLine(t, ctx, r, "GO\n")
	if err := tlsup.StartTLS(ctx, w, cliCfg); err != nil {
		t.Fatalf("StartTLS against asyncio: %v (stderr: %s)", err, &stderr)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef\x00\xff\n"), 20000)
	w.Write(payload)
	got, err := r.ReadExactly(ctx, len(payload))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo through asyncio: %d bytes, %v; want the %d bytes sent", len(got), err, len(payload))
	}
	if st, _ := w.ExtraInfo("tls").(tls.ConnectionState); !st.HandshakeComplete || st.ServerName != "localhost" {
		t.Errorf("the client's session: handshake complete %v, server name %q; want TLS verified for localhost", st.HandshakeComplete, st.ServerName)
	}
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		t.Fatal(err)
	}
	result, _ := out.ReadString('\n')
	if !strings.HasPrefix(result, "ok TLSv1.") {
		t.Errorf("python server: %q (stderr: %s)", result, &stderr)
	}
}
