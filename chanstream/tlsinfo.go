package chanstream

import "crypto/tls"

// SetTLSConfig sets what ExtraInfo("sslcontext") reports over TLS: the
// config the stream's TLS layer was made with. OpenConnection, NewContext
// and New set it from WithTLS; tlsup.StartTLS sets it to the config it
// ran the handshake with. It does not block.
func (w *Writer) SetTLSConfig(cfg *tls.Config) {
	w.c.mu.Lock()
	w.c.tlsCfg = cfg
	w.c.mu.Unlock()
}
