package unix_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/internal/pyinterop"
	"github.com/cspstream/streams/server"
	"github.com/cspstream/streams/testutil"
	"github.com/cspstream/streams/unix"
)

const watchdog = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	t.Cleanup(cancel)
	return ctx
}

func sockPath(t *testing.T) string { return filepath.Join(t.TempDir(), "s.sock") }

func quiet() server.Option { return server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

// byteEcho writes back whatever arrives until EOF.
func byteEcho(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
	for {
		b, err := r.ReadUpTo(ctx, 64<<10)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		w.Write(b)
		if err := w.Drain(ctx); err != nil {
			return err
		}
	}
}

func startServer(t *testing.T, path string, h server.Handler) *server.Server {
	t.Helper()
	srv, err := unix.StartServer(context.Background(), path, h, quiet())
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		defer cancel()
		srv.Shutdown(ctx)
		if err := srv.WaitClosed(ctx); err != nil {
			t.Errorf("WaitClosed: %v", err)
		}
	})
	return srv
}

// echoOnce opens a connection to path, sends msg and checks the echo.
func echoOnce(t *testing.T, path, msg string) {
	t.Helper()
	ctx := testCtx(t)
	r, w, err := unix.OpenConnection(ctx, path)
	if err != nil {
		t.Fatalf("OpenConnection: %v", err)
	}
	defer func() {
		w.Close()
		w.WaitClosed(ctx)
	}()
	w.WriteString(msg)
	got, err := r.ReadExactly(ctx, len(msg))
	if string(got) != msg || err != nil {
		t.Fatalf("ReadExactly() = %q, %v; want %q, nil", got, err, msg)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestEchoAndCleanup(t *testing.T) {
	path := sockPath(t)
	srv := startServer(t, path, byteEcho)
	echoOnce(t, path, "hello over unix\n")
	if a := srv.Addrs()[0]; a.Network() != "unix" || a.String() != path {
		t.Fatalf("Addrs() = %v; want unix %s", srv.Addrs(), path)
	}
	srv.Close()
	if exists(path) {
		t.Fatal("socket file still there after Close")
	}
}

func TestNoCleanup(t *testing.T) {
	path := sockPath(t)
	ln, err := unix.Listen(path, unix.WithCleanupSocket(false))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ln.Close()
	if !exists(path) {
		t.Fatal("socket file removed with WithCleanupSocket(false)")
	}
	// What is left is stale: the next Listen replaces it.
	ln, err = unix.Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()
}

func TestReplacedFileIsNotRemoved(t *testing.T) {
	path := sockPath(t)
	first, err := unix.Listen(path)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	os.Remove(path) // someone takes the path over
	second, err := unix.Listen(path)
	if err != nil {
		first.Close()
		t.Fatalf("second Listen: %v", err)
	}
	defer second.Close()
	first.Close()
	if !exists(path) {
		t.Fatal("closing the first listener removed the second one's socket file")
	}
	srv, err := server.StartListener(second, byteEcho, quiet())
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, path, "second is alive\n")
	if err := srv.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if exists(path) {
		t.Fatal("the second listener did not remove its own file")
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := sockPath(t)
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close() // a socket file with nobody behind it
	if !exists(path) {
		t.Fatal("setup: no stale socket file")
	}
	startServer(t, path, byteEcho)
	echoOnce(t, path, "replaced\n")
}

func TestLiveSocketInUse(t *testing.T) {
	path := sockPath(t)
	startServer(t, path, byteEcho)
	if ln, err := unix.Listen(path); !errors.Is(err, syscall.EADDRINUSE) {
		if ln != nil {
			ln.Close()
		}
		t.Fatalf("Listen on a live socket = %v; want EADDRINUSE", err)
	}
	echoOnce(t, path, "first still serves\n")
}

func TestOtherFilesUntouched(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "regular")
	if err := os.WriteFile(file, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, sub, link} {
		if ln, err := unix.Listen(path); !errors.Is(err, fs.ErrExist) {
			if ln != nil {
				ln.Close()
			}
			t.Fatalf("Listen(%s) = %v; want fs.ErrExist", path, err)
		}
		if _, err := unix.StartServer(context.Background(), path, byteEcho, quiet()); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("StartServer(%s) = %v; want fs.ErrExist", path, err)
		}
	}
	if b, err := os.ReadFile(file); string(b) != "precious" || err != nil {
		t.Fatalf("regular file now %q, %v", b, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != fs.ModeSymlink {
		t.Fatalf("symlink changed: %v, %v", fi, err)
	}
	if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
		t.Fatalf("directory changed: %v, %v", fi, err)
	}
}

func TestAbstract(t *testing.T) {
	var b [8]byte
	rand.Read(b[:])
	name := "@streams-test-" + hex.EncodeToString(b[:])
	dir := t.TempDir()
	t.Chdir(dir)
	srv := startServer(t, name, byteEcho)
	echoOnce(t, name, "abstract\n")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("an abstract socket made files: %v", entries)
	}
	srv.Close()
	if _, _, err := unix.OpenConnection(testCtx(t), name); err == nil {
		t.Fatal("OpenConnection succeeded after the abstract listener closed")
	}
}

func TestMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o660, 0o777} {
		path := sockPath(t)
		ln, err := unix.Listen(path, unix.WithMode(mode))
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		if got := ln.Addr().String(); got != path {
			t.Errorf("Addr() = %q; want %q", got, path)
		}
		fi, err := os.Lstat(path)
		ln.Close()
		if err != nil || fi.Mode().Perm() != mode || fi.Mode().Type() != fs.ModeSocket {
			t.Fatalf("socket file mode %v, %v; want socket %v", fi.Mode(), err, mode)
		}
	}
}

func TestPeerCredentials(t *testing.T) {
	path := sockPath(t)
	creds := make(chan unix.Ucred, 1)
	errs := make(chan error, 1)
	startServer(t, path, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		c, err := unix.PeerCredentials(w)
		creds <- c
		errs <- err
		return nil
	})
	echoCtx := testCtx(t)
	_, w, err := unix.OpenConnection(echoCtx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.WaitClosed(echoCtx)
	defer w.Close()
	got, err := <-creds, <-errs
	if err != nil {
		t.Fatalf("PeerCredentials: %v", err)
	}
	if want := (unix.Ucred{PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid()}); got != want {
		t.Fatalf("PeerCredentials() = %+v; want %+v", got, want)
	}
	// The client side sees the server: the same process here.
	if c, err := unix.PeerCredentials(w); err != nil || c.PID != os.Getpid() {
		t.Fatalf("client PeerCredentials() = %+v, %v", c, err)
	}
}

func TestPeerCredentialsOverTCP(t *testing.T) {
	_, srv := testutil.Loopback(t)
	if _, err := unix.PeerCredentials(srv.W); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("PeerCredentials over TCP = %v; want ErrInvalidArgument", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	path := sockPath(t)
	if _, err := unix.StartServer(context.Background(), path, byteEcho, server.WithMaxConns(-1)); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("StartServer with a bad server option = %v; want ErrInvalidArgument", err)
	}
	if _, err := unix.StartServer(context.Background(), path, byteEcho, server.WithStreamOptions(chanstream.WithLimit(-1))); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("StartServer with a bad stream option = %v; want ErrInvalidArgument", err)
	}
	if exists(path) {
		t.Fatal("an invalid option left a socket file")
	}
	startServer(t, path, byteEcho)
	if _, _, err := unix.OpenConnection(testCtx(t), path, chanstream.WithWriteBufferLimits(1, 2)); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("OpenConnection with bad watermarks = %v; want ErrInvalidArgument", err)
	}
	if _, err := unix.Listen(""); !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("Listen(\"\") = %v; want ErrInvalidArgument", err)
	}
}

func TestOpenConnectionNoListener(t *testing.T) {
	if _, _, err := unix.OpenConnection(testCtx(t), sockPath(t)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenConnection to nothing = %v; want fs.ErrNotExist", err)
	}
}

func TestPythonAsyncioUnixClient(t *testing.T) {
	path := sockPath(t)
	startServer(t, path, byteEcho)
	pyinterop.EchoClient(t, "unix", path, []int{1, 100, 64 << 10, 1 << 20, 4 << 20})
}

// TestPeerCredentialsOverTLS: the credentials of the socket under a TLS
// layer.
func TestPeerCredentialsOverTLS(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	path := sockPath(t)
	ln, err := unix.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	creds := make(chan unix.Ucred, 1)
	srv, err := server.StartListener(ln, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		if _, ok := w.Conn().(*tls.Conn); !ok {
			return fmt.Errorf("conn is %T; want *tls.Conn", w.Conn())
		}
		c, err := unix.PeerCredentials(w)
		if err != nil {
			return err
		}
		creds <- c
		return nil
	}, server.WithTLS(serverTLS), quiet())
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer srv.Shutdown(testCtx(t))
	raw, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientTLS.Clone()
	cfg.ServerName = "localhost"
	c := tls.Client(raw, cfg)
	defer c.Close()
	c.SetDeadline(time.Now().Add(watchdog))
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	select {
	case got := <-creds:
		if got.PID != os.Getpid() || got.UID != os.Getuid() {
			t.Fatalf("PeerCredentials() = %+v; want this process", got)
		}
	case <-time.After(watchdog):
		t.Fatal("handler did not report credentials")
	}
}

// TestOpenConnectionTLS: WithTLS on a unix connection runs the handshake
// (the server side only speaks TLS), and bytes round-trip encrypted.
func TestOpenConnectionTLS(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	path := sockPath(t)
	srv, err := unix.StartServer(context.Background(), path, byteEcho, server.WithTLS(serverTLS), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx := testCtx(t)
		srv.Shutdown(ctx)
		if err := srv.WaitClosed(ctx); err != nil {
			t.Errorf("WaitClosed: %v", err)
		}
	}()
	ctx := testCtx(t)
	cfg := clientTLS.Clone()
	cfg.ServerName = "localhost"
	r, w, err := unix.OpenConnection(ctx, path, chanstream.WithTLS(cfg))
	if err != nil {
		t.Fatalf("OpenConnection with TLS: %v", err)
	}
	defer func() {
		w.Close()
		w.WaitClosed(ctx)
	}()
	if _, ok := w.Conn().(*tls.Conn); !ok {
		t.Fatalf("Conn() is %T; want *tls.Conn", w.Conn())
	}
	const msg = "secret over unix\n"
	w.WriteString(msg)
	got, err := r.ReadExactly(ctx, len(msg))
	if string(got) != msg || err != nil {
		t.Fatalf("ReadExactly() = %q, %v; want %q, nil", got, err, msg)
	}
}

// TestOpenConnectionTLSNoServerName: a socket path is no host name, so a
// config without ServerName is an invalid argument, not a silent plaintext
// or unverified connection.
func TestOpenConnectionTLSNoServerName(t *testing.T) {
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	path := sockPath(t)
	srv, err := unix.StartServer(context.Background(), path, byteEcho, server.WithTLS(serverTLS), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx := testCtx(t)
		srv.Shutdown(ctx)
		srv.WaitClosed(ctx)
	}()
	cfg := clientTLS.Clone()
	cfg.ServerName = ""
	_, _, err = unix.OpenConnection(testCtx(t), path, chanstream.WithTLS(cfg))
	if !errors.Is(err, chanstream.ErrInvalidArgument) {
		t.Fatalf("OpenConnection with TLS and no ServerName = %v; want ErrInvalidArgument", err)
	}
}
