package chanstream

import (
	"sync/atomic"
	"time"
)

// Stats is what a stream has done so far: the bytes it moved, the most it
// held, and how long it stood still. [Reader.Stats] and [Writer.Stats]
// return it; every field only grows.
type Stats struct {
	BytesRead, BytesWritten int64         // received from the source / written to the sink, ever
	ReadBufferedPeak        int           // most bytes the Reader held unconsumed at once
	WriteQueuedPeak         int           // most bytes queued for writing at once
	ReadPaused              time.Duration // total time the reader goroutine stood paused at 2×limit
	DrainWaits              int64         // Drain calls that had to wait
	DrainWaited             time.Duration // total time Drain calls waited
}

// How the counting stays off the hot path. The read side counts once per
// chunk, in the reader goroutine, next to the atomic add it already makes
// (deliver); its peak is one load per chunk and a store only on a new
// peak. The pause is timed where the goroutine starts and stops waiting,
// under the Reader's mu that both already take (pause, maybeUnpause). The
// write side counts under Writer.mu, which every path that changes the
// queue or writes the sink already holds: nothing is added per Write but a
// compare.

// readStats is the Reader's part of Stats.
type readStats struct {
	received atomic.Int64 // written by the reader goroutine only
	peak     atomic.Int64 // raised by the reader goroutine and Unread (notePeak)

	// Guarded by Reader.mu.
	pausing     bool          // a pause is being timed
	pausedSince time.Time     // when it began
	paused      time.Duration // the pauses that have ended
}

// writeStats is the Writer's part of Stats, guarded by Writer.mu.
type writeStats struct {
	written     int64
	queuedPeak  int
	drainWaits  int64
	drainWaited time.Duration
}

// Stats returns the read half's counters: BytesRead, ReadBufferedPeak and
// ReadPaused (a pause going on now counts up to now); the write fields are
// zero. It does not block and is safe for concurrent use; it can be called
// at any time, after the stream closed too.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	paused := r.stats.paused
	if r.stats.pausing {
		paused += time.Since(r.stats.pausedSince)
	}
	r.mu.Unlock()
	return Stats{
		BytesRead:        r.stats.received.Load(),
		ReadBufferedPeak: int(r.stats.peak.Load()),
		ReadPaused:       paused,
	}
}

// Stats returns the stream's counters: for a stream from New,
// OpenConnection or NewContext, both halves (the read fields are
// [Reader.Stats]); for NewWriter, the write half. BytesWritten counts bytes
// the sink took; WriteQueuedPeak the most bytes Buffered counted at once
// (a Write offered to the socket inline, inline.go, counts while that
// write runs); DrainWaits
// and DrainWaited the calls of Drain — and the drains of ReadFrom and of
// NetConn's Write — that found the queue above the high watermark and
// waited, and for how long in total. It does not block and is safe for
// concurrent use, after the stream closed too.
func (w *Writer) Stats() Stats {
	var s Stats
	if w.c.r != nil {
		s = w.c.r.Stats()
	}
	w.mu.Lock()
	s.BytesWritten = w.stats.written
	s.WriteQueuedPeak = w.stats.queuedPeak
	s.DrainWaits = w.stats.drainWaits
	s.DrainWaited = w.stats.drainWaited
	w.mu.Unlock()
	return s
}

// noteReceived counts n bytes read from the source, which made the
// Reader hold b. Reader goroutine only: one add per chunk and one load,
// a store only on a new peak.
func (r *Reader) noteReceived(n, b int64) {
	r.stats.received.Add(n)
	if b > r.stats.peak.Load() {
		r.notePeak(b)
	}
}

// notePeak raises the peak to b. Two goroutines may raise it (the reader
// goroutine and Unread), hence the compare-and-swap.
func (r *Reader) notePeak(b int64) {
	for {
		p := r.stats.peak.Load()
		if b <= p || r.stats.peak.CompareAndSwap(p, b) {
			return
		}
	}
}

// pauseBeganLocked records that the reader goroutine is about to wait for
// room. r.mu is held.
func (r *Reader) pauseBeganLocked() {
	if !r.stats.pausing {
		r.stats.pausing, r.stats.pausedSince = true, time.Now()
	}
}

// pauseEndedLocked records that the reader goroutine may read again (or
// has ended). r.mu is held.
func (r *Reader) pauseEndedLocked() {
	if r.stats.pausing { // inlined: the check is all the unpaused path pays
		r.addPauseLocked()
	}
}

func (r *Reader) addPauseLocked() {
	r.stats.paused += time.Since(r.stats.pausedSince)
	r.stats.pausing = false
}

// noteQueuedLocked records the queue's size for its peak. w.mu is held.
func (w *Writer) noteQueuedLocked() {
	if w.queued > w.stats.queuedPeak {
		w.stats.queuedPeak = w.queued
	}
}

// noteDrainLocked records one Drain that waited since began. w.mu is held.
func (w *Writer) noteDrainLocked(began time.Time) {
	w.stats.drainWaits++
	w.stats.drainWaited += time.Since(began)
}
