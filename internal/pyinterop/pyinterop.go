// Package pyinterop runs a real python3 asyncio client against the
// project's servers, for their tests.
package pyinterop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// client connects with asyncio.open_connection ("tcp", target host:port)
// or asyncio.open_unix_connection ("unix", target a path), sends each
// payload while reading its echo concurrently, and checks every byte.
const client = `
import asyncio, os, sys

async def main():
    kind, target, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(",")]
    if kind == "tcp":
        host, port = target.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    else:
        reader, writer = await asyncio.open_unix_connection(target)
    for n in sizes:
        payload = os.urandom(n)
        async def send():
            writer.write(payload)
            await writer.drain()
        _, got = await asyncio.gather(send(), reader.readexactly(n))
        if got != payload:
            print("mismatch at size", n)
            sys.exit(1)
    writer.write_eof()
    rest = await reader.read()
    if rest:
        print("extra bytes after the echoes:", len(rest))
        sys.exit(1)
    writer.close()
    await writer.wait_closed()
    print("ok", len(sizes))

asyncio.run(main())
`

// EchoClient runs the client against an echo server at target and fails t
// unless every payload came back byte for byte. It skips t when python3 is
// absent.
func EchoClient(t testing.TB, kind, target string, sizes []int) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	script := filepath.Join(t.TempDir(), "echo_client.py")
	if err := os.WriteFile(script, []byte(client), 0o600); err != nil {
		t.Fatal(err)
	}
	ss := make([]string, len(sizes))
	for i, n := range sizes {
		ss[i] = strconv.Itoa(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, script, kind, target, strings.Join(ss, ",")).CombinedOutput()
	want := "ok " + strconv.Itoa(len(sizes)) + "\n"
	if err != nil || string(out) != want {
		t.Fatalf("python3 asyncio client: %v\n%s", err, out)
	}
}
