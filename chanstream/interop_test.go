package chanstream_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/testutil"
)

// pyEchoServer is asyncio.start_server with a length-prefixed echo: an
// 8-byte big-endian length, then that many bytes echoed back, then close.
// With a certificate and key file it serves TLS. It prints its port and
// serves until its standard input closes.
const pyEchoServer = `
import asyncio, ssl, sys

async def handle(reader, writer):
    try:
        n = int.from_bytes(await reader.readexactly(8), 'big')
        while n > 0:
            data = await reader.read(min(n, 65536))
            if not data:
                break
            n -= len(data)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass

async def main():
    ctx = None
    if len(sys.argv) == 3:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server = await asyncio.start_server(handle, '127.0.0.1', 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
`

// startPython runs the script in a temp dir with args and returns the port
// it printed. The process is stopped (stdin closed) and waited for when t
// ends.
func startPython(t *testing.T, ctx context.Context, script string, args ...string) int {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	path := filepath.Join(t.TempDir(), "server.py")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, python, append([]string{path}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the server's stdin.read returns: it shuts down
		if err := cmd.Wait(); err != nil {
			t.Errorf("python server: %v\n%s", err, stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("python server did not start: %v\n%s", err, stderr.String())
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("python server printed %q", line)
	}
	return port
}

// TestInteropPythonAsyncio: OpenConnection against a real asyncio
// start_server, plain and TLS, payloads up to 4 MiB, byte-exact.
func TestInteropPythonAsyncio(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	serverCfg, clientCfg := testutil.SelfSignedTLS(t)
	for _, tt := range []struct {
		name  string
		tlsOn bool
	}{{"plain", false}, {"tls", true}} {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			var opts []chanstream.Option
			if tt.tlsOn {
				certFile, keyFile := testutil.CertFiles(t, serverCfg)
				args = []string{certFile, keyFile}
				opts = append(opts, chanstream.WithTLS(clientCfg))
			}
			port := startPython(t, ctx, pyEchoServer, args...)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			for _, n := range []int{1, 1000, 64<<10 + 1, 1 << 20, 4 << 20} {
				r, w, err := chanstream.OpenConnection(ctx, addr, opts...)
				if err != nil {
					t.Fatalf("OpenConnection(%s): %v", addr, err)
				}
				echoExchange(t, ctx, r, w, randomBytes(n))
				closeStream(t, w)
			}
		})
	}
}
