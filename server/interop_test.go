package server_test

import (
	"context"
	"io"
	"testing"

	"github.com/cspstream/streams/chanstream"
	"github.com/cspstream/streams/internal/pyinterop"
)

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

func TestPythonAsyncioClient(t *testing.T) {
	srv := start(t, byteEcho)
	pyinterop.EchoClient(t, "tcp", srv.Addrs()[0].String(), []int{1, 100, 64 << 10, 1 << 20, 4 << 20})
}
