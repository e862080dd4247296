package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestHTTPHeaders(t *testing.T) {
	type request struct{ method, uri, proto, host string }
	for _, tlsOn := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tlsOn]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			seen := make(chan request, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- request{r.Method, r.RequestURI, r.Proto, r.Host}
				w.Header().Set("X-Seed", "asyncio streams")
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<html>a body HEAD leaves out</html>"))
			})
			var srv *httptest.Server
			var args []string
			if tlsOn {
				srv = httptest.NewTLSServer(h)
				caFile := filepath.Join(t.TempDir(), "root.pem")
				pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
				if err := os.WriteFile(caFile, pemCert, 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-cafile", caFile)
			} else {
				srv = httptest.NewServer(h)
			}
			defer srv.Close()

			var out bytes.Buffer
			if err := run(ctx, append(args, srv.URL+"/path/page.html"), &out); err != nil {
				t.Fatalf("run: %v", err)
			}
			if got, want := <-seen, (request{"HEAD", "/path/page.html", "HTTP/1.0", "127.0.0.1"}); got != want {
				t.Fatalf("server saw %+v; want %+v", got, want)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			for _, l := range lines {
				if !strings.HasPrefix(l, "HTTP header> ") || strings.HasSuffix(l, "\r") {
					t.Fatalf("line %q is not an HTTP header> line", l)
				}
			}
			if !strings.HasPrefix(lines[0], "HTTP header> HTTP/1.") || !strings.HasSuffix(lines[0], " 200 OK") {
				t.Fatalf("first line %q; want the status line", lines[0])
			}
			for _, want := range []string{"HTTP header> X-Seed: asyncio streams", "HTTP header> Content-Type: text/html"} {
				if !strings.Contains(out.String(), want+"\n") {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), "a body") {
				t.Errorf("a HEAD response printed a body:\n%s", out.String())
			}
		})
	}
}

func TestHTTPHeadersBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no URL", nil, "usage"},
		{"other scheme", []string{"ftp://127.0.0.1/"}, "http or https"},
		{"untrusted certificate", []string{srv.URL}, "tls"},
		{"missing CA file", []string{"-cafile", filepath.Join(t.TempDir(), "none.pem"), srv.URL}, "none.pem"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(ctx, tt.args, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v; want an error saying %q", tt.args, err, tt.want)
			}
		})
	}
}
