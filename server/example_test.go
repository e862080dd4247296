package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// The seed's echo server: read up to 100 bytes, write them back; the
// server closes the connection when the handler returns.
func Example() {
	ctx := context.Background()
	srv, err := server.Start(ctx, "127.0.0.1:0", func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		data, err := r.ReadUpTo(ctx, 100)
		if err != nil {
			return err
		}
		w.Write(data)
		return w.Drain(ctx)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(ctx)

	c, err := net.Dial("tcp", srv.Addrs()[0].String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	io.WriteString(c, "Hello World!")
	echo, _ := io.ReadAll(c)
	fmt.Printf("%s\n", echo)
	// Output: Hello World!
}

// Shutdown ends every handler's context and waits for the handlers; at
// its deadline it aborts the connections left.
func ExampleServer_Shutdown() {
	srv, err := server.Start(context.Background(), "127.0.0.1:0", func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		for line, err := range r.Lines(ctx) {
			if err != nil {
				return err // ctx.Err() when Shutdown begins
			}
			w.Write(line)
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := net.Dial("tcp", srv.Addrs()[0].String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "ping\n")
	line, _ := br.ReadString('\n')
	fmt.Print(line)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx), "active:", srv.ActiveConns())
	_, err = br.ReadString('\n')
	fmt.Println("client:", err)
	// Output:
	// ping
	// shutdown: <nil> active: 0
	// client: EOF
}
