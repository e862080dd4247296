package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/server"
)

// Stats counts connections and how their handlers ended.
func ExampleServer_Stats() {
	ctx := context.Background()
	h := func(ctx context.Context, r *chanstream.Reader, w *chanstream.Writer) error {
		line, err := r.ReadLine(ctx)
		if err != nil {
			return err
		}
		if string(line) == "bad\n" {
			return errors.New("bad request")
		}
		w.Write(line)
		return nil
	}
	s, err := server.Start(ctx, "127.0.0.1:0", h,
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		log.Fatal(err)
	}
	for _, req := range []string{"good\n", "bad\n", "good\n"} {
		c, err := net.Dial("tcp", s.Addrs()[0].String())
		if err != nil {
			log.Fatal(err)
		}
		c.Write([]byte(req))
		io.ReadAll(c) // until the handler has returned and the server closed
		c.Close()
	}
	s.Shutdown(ctx)
	fmt.Printf("%+v\n", s.Stats())
	// Output:
	// {Accepted:3 HandlerErrors:1 Panics:0 Active:0}
}
