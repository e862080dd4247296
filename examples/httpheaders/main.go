// Command httpheaders is the seed's "get HTTP headers" example: it sends a
// HEAD request, written by hand, over chanstream.OpenConnection (with TLS
// for https) and prints each header line of the response.
//
//	go run ./examples/httpheaders http://example.com/path/page.html
//	go run ./examples/httpheaders -cafile root.pem https://example.com/path/page.html
//
// Each line is printed as the Python program prints it:
//
//	HTTP header> HTTP/1.0 200 OK
//	HTTP header> Content-Type: text/html
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/cspstream/streams/chanstream"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run is the program: flags and the URL in args, output to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("httpheaders", flag.ContinueOnError)
	caFile := fs.String("cafile", "", "trust the root certificates in this PEM `file` for https (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: httpheaders [-cafile file] http[s]://host[:port]/path")
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		return err
	}
	port := u.Port()
	var opts []chanstream.Option
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		cfg := &tls.Config{}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				return err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("httpheaders: no certificate in %s", *caFile)
			}
		}
		opts = append(opts, chanstream.WithTLS(cfg))
	default:
		return fmt.Errorf("httpheaders: %q: want an http or https URL", fs.Arg(0))
	}

	r, w, err := chanstream.OpenConnection(ctx, net.JoinHostPort(u.Hostname(), port), opts...)
	if err != nil {
		return err
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	w.WriteString("HEAD " + path + " HTTP/1.0\r\n" +
		"Host: " + u.Hostname() + "\r\n" +
		"\r\n")
	for {
		line, err := r.ReadLine(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			w.Abort()
			return fmt.Errorf("httpheaders: read: %w", err)
		}
		if s := strings.TrimRightFunc(latin1(line), isPySpace); s != "" {
			fmt.Fprintf(out, "HTTP header> %s\n", s)
		}
	}

	// Ignore the body, close the socket.
	w.Close()
	return w.WaitClosed(ctx)
}

// latin1 decodes b as ISO 8859-1, as the seed's line.decode('latin1').
func latin1(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

// isPySpace is Python's str.isspace for the Latin-1 range, what rstrip()
// removes.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}
