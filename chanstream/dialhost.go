package chanstream

// DialHost returns the host part of the address [OpenConnection] dialed for
// this stream ("example.com" for "example.com:25"), or "" for a stream it
// did not dial (New, NewContext, NewWriter). tlsup.StartTLS takes a
// client's ServerName from it, as OpenConnection does for WithTLS. It
// does not block.
func (w *Writer) DialHost() string { return w.c.dialHost }
