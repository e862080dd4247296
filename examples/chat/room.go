package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/cspstream/streams/chanstream"
)

// room is the hub: one goroutine owns the member set and fans every
// message out to the members' inboxes.
type room struct {
	out   io.Writer     // the server's log; written under outMu
	outMu sync.Mutex    //
	in    chan message  // handlers → hub; never closed
	joins chan *member  // handlers → hub; never closed
	quits chan *member  // handlers → hub; never closed
	done  chan struct{} // closed by stop: the hub returns
	ended chan struct{} // closed by the hub as it returns
}

// message is a line for everyone but from (nil: from the room itself).
type message struct {
	from *member
	text []byte
}

// member is one client in the room.
type member struct {
	name  string
	inbox chan []byte   // hub → handler; unbuffered: the handler's select is always ready for it; never closed
	gone  chan struct{} // closed by leave before it tells the hub, so the hub never waits on a handler that left
}

func newRoom(out io.Writer) *room {
	rm := &room{
		in:    make(chan message),
		joins: make(chan *member),
		quits: make(chan *member),
		done:  make(chan struct{}),
		ended: make(chan struct{}),
	}
	rm.out = &lockedWriter{rm: rm, w: out}
	return rm
}

// run is the hub goroutine.
func (rm *room) run() {
	defer close(rm.ended)
	members := map[*member]struct{}{}
	for {
		select {
		case m := <-rm.joins:
			members[m] = struct{}{}
			fmt.Fprintf(rm.out, "* %s joined\n", m.name)
			rm.fanOut(members, message{from: m, text: []byte("* " + m.name + " joined\n")})
		case m := <-rm.quits:
			delete(members, m)
			fmt.Fprintf(rm.out, "* %s left\n", m.name)
			rm.fanOut(members, message{from: m, text: []byte("* " + m.name + " left\n")})
		case msg := <-rm.in:
			rm.fanOut(members, msg)
		case <-rm.done:
			return
		}
	}
}

// fanOut gives msg to every member but its sender. Each send waits only
// for that member's handler to loop once: handlers never block on their
// client, so a slow client does not slow the room.
func (rm *room) fanOut(members map[*member]struct{}, msg message) {
	for m := range members {
		if m == msg.from {
			continue
		}
		select {
		case m.inbox <- msg.text:
		case <-m.gone:
		case <-rm.done:
			return
		}
	}
}

func (rm *room) join(name string) *member {
	m := &member{name: name, inbox: make(chan []byte), gone: make(chan struct{})}
	select {
	case rm.joins <- m:
	case <-rm.done:
	}
	return m
}

func (rm *room) leave(m *member) {
	close(m.gone)
	select {
	case rm.quits <- m:
	case <-rm.done:
	}
}

// stop ends the hub and waits for it.
func (rm *room) stop() {
	close(rm.done)
	<-rm.ended
}

// high is the watermark above which a client counts as falling behind.
func (rm *room) high(w *chanstream.Writer) int {
	h, _ := w.WriteBufferLimits()
	return h
}

// lockedWriter keeps the log's lines whole.
type lockedWriter struct {
	rm *room
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.rm.outMu.Lock()
	defer l.rm.outMu.Unlock()
	return l.w.Write(p)
}
