// Command proxy is a TCP proxy built from two pipeline.Copy stages per
// connection: each connection accepted on -listen gets a new connection to
// -target, and bytes flow both ways until both directions have ended. A
// half-close passes through in each direction: when one side stops
// writing (shutdown(SHUT_WR)), the other side sees EOF, and the opposite
// direction goes on.
//
//	go run ./examples/proxy -listen 127.0.0.1:8080 -target 127.0.0.1:80
//
// The accepting side is package server (server.Start): one handler per
// connection, shut down cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/pipeline"
	"github.com/cspstream/streams/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to accept connections on")
	target := flag.String("target", "", "address to forward each connection to (host:port)")
	flag.Parse()
	if *target == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := start(ctx, *listen, *target, slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("proxy: %v → %s", srv.Addrs(), *target)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
}

// start serves listen, forwarding every connection to target.
func start(ctx context.Context, listen, target string, logger *slog.Logger) (*server.Server, error) {
	px := &proxy{target: target}
	return server.Start(ctx, listen, px.handle, server.WithLogger(logger))
}

type proxy struct {
	target string
	dialer net.Dialer
}

// handle is the server's handler for one client connection: dial the
// target, join the two streams, and wait until both directions are done.
// When it returns, the server closes the client connection.
func (px *proxy) handle(ctx context.Context, cr *chanstream.Reader, cw *chanstream.Writer) error {
	conn, err := px.dialer.DialContext(ctx, "tcp", px.target)
	if err != nil {
		cw.Abort() // the client sees a reset, as from the target itself
		return fmt.Errorf("proxy: dial %s: %w", px.target, err)
	}
	tr, tw := chanstream.New(conn)
	return join(ctx, cr, cw, tr, tw)
}

// join copies client → target and target → client, each Copy passing the
// half-close on, and returns when both have ended. On an error in either
// direction, or when ctx ends, both connections are aborted: a reset on
// one side becomes a reset on the other.
func join(ctx context.Context, cr *chanstream.Reader, cw *chanstream.Writer, tr *chanstream.Reader, tw *chanstream.Writer) error {
	p := pipeline.New(ctx)
	pipeline.Copy(p, tw, cr) // client → target; WriteEOF to the target at the client's EOF
	pipeline.Copy(p, cw, tr) // target → client; WriteEOF to the client at the target's EOF
	err := p.Wait()
	if err != nil {
		tw.Abort()
		cw.Abort()
	} else {
		tw.Close() // both directions are done: flush what is left
	}
	if tw.WaitClosed(ctx) != nil { // a target that stopped reading cannot hold us past ctx
		tw.Abort()
		<-tw.Done()
	}
	return err // ctx's error at shutdown: the server logs it at debug level only
}
