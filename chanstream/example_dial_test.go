package chanstream_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// asyncio's open_connection: connect, talk, close. With a host name the
// addresses are raced (happy eyeballs); WithTLS adds a handshake.
func ExampleOpenConnection() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go echoOnce(ln)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, w, err := chanstream.OpenConnection(ctx, ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	w.WriteString("Hello World!\n")
	line, err := r.ReadLine(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Received: %q\n", line)
	w.Close()
	if err := w.WaitClosed(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: Received: "Hello World!\n"
}

// net/http runs over streams: the Transport dials with OpenConnection, over
// TLS, and speaks HTTP through NetConn.
func ExampleNetConn() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s and TLS", r.Proto)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	var mu sync.Mutex
	var streams []*chanstream.Writer
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			r, w, err := chanstream.OpenConnection(ctx, addr, chanstream.WithTLS(&tls.Config{RootCAs: roots}))
			if err != nil {
				return nil, err
			}
			mu.Lock()
			streams = append(streams, w)
			mu.Unlock()
			return chanstream.NetConn(r, w), nil
		},
	}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, string(body))

	tr.CloseIdleConnections() // closes the NetConn: the stream closes
	for _, w := range streams {
		if err := w.WaitClosed(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Output: 200 OK hello over HTTP/1.1 and TLS
}
