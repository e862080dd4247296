package chanstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestAfterClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("runs once Done is closed", func(t *testing.T) {
		_, s := testutil.Loopback(t)
		ran := make(chan bool, 1)
		s.W.AfterClose(func() {
			select {
			case <-s.W.Done():
				ran <- true
			default:
				ran <- false
			}
		})
		_ = s.W.Close()
		select {
		case afterDone := <-ran:
			if !afterDone {
				t.Fatal("AfterClose's function ran before Done was closed")
			}
		case <-ctx.Done():
			t.Fatal("AfterClose's function did not run after Close")
		}
	})

	t.Run("stop before the close", func(t *testing.T) {
		_, s := testutil.Loopback(t)
		ran := make(chan struct{}, 1)
		stop := s.W.AfterClose(func() { ran <- struct{}{} })
		other := make(chan struct{})
		s.W.AfterClose(func() { close(other) })
		if !stop() {
			t.Fatal("stop() = false before the close; want true")
		}
		if stop() {
			t.Error("second stop() = true; want false")
		}
		_ = s.W.Abort()
		if err := s.W.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		<-other // started in the same pass as the stopped one would have been
		select {
		case <-ran:
			t.Fatal("a stopped AfterClose function ran")
		default:
		}
	})

	t.Run("after the close", func(t *testing.T) {
		_, s := testutil.Loopback(t)
		_ = s.W.Abort()
		if err := s.W.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		ran := make(chan struct{})
		stop := s.W.AfterClose(func() { close(ran) })
		select {
		case <-ran:
		case <-ctx.Done():
			t.Fatal("AfterClose on a closed stream did not run its function")
		}
		if stop() {
			t.Error("stop() = true after the function started; want false")
		}
	})

	t.Run("after the peer closed", func(t *testing.T) {
		c, s := testutil.Loopback(t)
		ran := make(chan struct{})
		s.W.AfterClose(func() { close(ran) })
		_ = c.W.Abort() // the server side reads the end; it stays open until its Close
		_ = s.W.Close()
		select {
		case <-ran:
		case <-ctx.Done():
			t.Fatal("AfterClose's function did not run")
		}
	})
}
