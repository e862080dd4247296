package unix_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/unix"
)

// asyncio's start_unix_server and open_unix_connection.
func Example() {
	dir, _ := os.MkdirTemp("", "unix-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "echo.sock")
	ctx := context.Background()

	srv, err := unix.StartServer(ctx, path, func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		line, err := r.ReadLine(ctx)
		if err != nil {
			return err
		}
		cred, _ := unix.PeerCredentials(w)
		fmt.Println("peer is this process:", cred.PID == os.Getpid())
		w.Write(line)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(ctx)

	r, w, err := unix.OpenConnection(ctx, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	w.WriteString("hello\n")
	line, _ := r.ReadLine(ctx)
	fmt.Printf("%s", line)
	w.Close()
	w.WaitClosed(ctx)
	// Output:
	// peer is this process: true
	// hello
}
