// Command echoclient is the seed's TCP echo client (asyncio's
// tcp_echo_client): it connects with chanstream.OpenConnection, sends a
// message, prints the echo and closes.
//
//	go run ./examples/echoclient -addr 127.0.0.1:8888 -msg 'Hello World!'
//
// It prints, as the Python program does:
//
//	Send: 'Hello World!'
//	Received: 'Hello World!'
//	Close the connection
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/cspstream/streams/chanstream"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run is the program: flags in args, output to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("echoclient", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8888", "echo server `host:port`")
	msg := fs.String("msg", "Hello World!", "the message to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, w, err := chanstream.OpenConnection(ctx, *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Send: %s\n", pyRepr(*msg))
	w.WriteString(*msg)
	if err := w.Drain(ctx); err != nil {
		w.Abort()
		return err
	}
	data, err := r.ReadUpTo(ctx, 100)
	if err != nil {
		w.Abort()
		return fmt.Errorf("echoclient: read: %w", err)
	}
	fmt.Fprintf(out, "Received: %s\n", pyRepr(string(data)))
	fmt.Fprintln(out, "Close the connection")
	w.Close()
	return w.WaitClosed(ctx)
}

// pyRepr quotes s as Python's repr of a str does, so the output reads as
// the seed's: single quotes unless s holds one and no double quote;
// backslash escapes for the quote, backslash, \t \n \r and unprintables.
func pyRepr(s string) string {
	quote := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteRune(quote)
	for _, r := range s {
		switch {
		case r == quote || r == '\\':
			b.WriteRune('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || (!unicode.IsPrint(r) && r <= 0xff):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteRune(quote)
	return b.String()
}
