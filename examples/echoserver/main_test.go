package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cspstream/streams/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

const watchdog = 30 * time.Second

var servingRE = regexp.MustCompile(`^Serving on \('127\.0\.0\.1', (\d+)\)$`)

// echoClient is the seed's tcp_echo_client: send message, read the echo.
func echoClient(t *testing.T, port, message string) (string, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, watchdog)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(watchdog))
	io.WriteString(c, message)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(got), c.LocalAddr().(*net.TCPAddr).String()
}

// wantLines is what the server prints for one client.
func wantLines(message, client string) string {
	host, port, _ := net.SplitHostPort(client)
	return fmt.Sprintf("Received '%s' from ('%s', %s)\nSend: '%s'\nClose the connection\n", message, host, port, message)
}

// TestRun runs the server in-process and stops it as the signal would.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	errs := make(chan error, 1)
	go func() {
		errs <- run(ctx, "127.0.0.1:0", pw)
		pw.Close()
	}()
	lines := make(chan string, 16) // the server's output, line by line; closed at its end
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	first := <-lines
	m := servingRE.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q; want Serving on ('127.0.0.1', port)", first)
	}
	got, client := echoClient(t, m[1], "Hello World!")
	if got != "Hello World!" {
		t.Fatalf("echo = %q", got)
	}
	var printed strings.Builder
	for range 3 {
		printed.WriteString(<-lines + "\n")
	}
	if want := wantLines("Hello World!", client); printed.String() != want {
		t.Fatalf("server printed %q; want %q", printed.String(), want)
	}
	cancel()
	if err := <-errs; err != nil {
		t.Fatalf("run after the stop = %v; want nil", err)
	}
	if rest, open := <-lines; open {
		t.Fatalf("server printed %q after the stop", rest)
	}
}

// TestSignals builds the command, serves two clients, and stops it with
// SIGINT and with SIGTERM.
func TestSignals(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "echoserver")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), watchdog)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(stdout)
			first, _ := br.ReadString('\n')
			m := servingRE.FindStringSubmatch(strings.TrimSuffix(first, "\n"))
			if m == nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("first line %q; want Serving on ('127.0.0.1', port)", first)
			}
			var want strings.Builder
			for _, msg := range []string{"Hello World!", "안녕 it's me"} {
				got, client := echoClient(t, m[1], msg)
				if got != msg {
					t.Errorf("echo = %q; want %q", got, msg)
				}
				want.WriteString(wantLines(msg, client))
			}
			// The lines of each client are printed before its close reaches
			// it, so all are in the pipe by now.
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(br)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit after %v: %v", sig, err)
			}
			w := strings.Replace(want.String(), `'안녕 it's me'`, `"안녕 it's me"`, 2)
			if string(rest) != w {
				t.Fatalf("server printed %q; want %q", rest, w)
			}
		})
	}
}
