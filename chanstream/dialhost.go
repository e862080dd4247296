package chanstream

import (
	"sync"
	"weak"
)

// The host a stream was dialed to, for a STARTTLS client's ServerName
// (tlsup.StartTLS), as OpenConnection takes WithTLS's from it. It lives
// beside the Writer, not in it, keyed weakly: an entry never keeps its
// Writer alive, and entries whose Writer is gone are swept as the table
// grows. (A field of Writer would do the same; this keeps the Writer's
// layout out of it.)
var dialHosts struct {
	mu    sync.Mutex
	m     map[weak.Pointer[Writer]]string
	sweep int // sweep when len(m) reaches it
}

// recordDialHost records host as the one w's stream was dialed to.
func recordDialHost(w *Writer, host string) {
	if host == "" {
		return
	}
	d := &dialHosts
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[weak.Pointer[Writer]]string)
	}
	if len(d.m) >= d.sweep {
		for k := range d.m {
			if k.Value() == nil {
				delete(d.m, k)
			}
		}
		d.sweep = max(64, 2*len(d.m))
	}
	d.m[weak.Make(w)] = host
}

// DialHost returns the host part of the address [OpenConnection] dialed for
// this stream ("example.com" for "example.com:25"), or "" for a stream it
// did not dial (New, NewContext, NewWriter). tlsup.StartTLS takes a
// client's ServerName from it, as OpenConnection does for WithTLS. It
// does not block.
func (w *Writer) DialHost() string {
	d := &dialHosts
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[weak.Make(w)]
}
