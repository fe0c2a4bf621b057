package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"nora/internal/units"
	"nora/proxy/sitetls"
)

// The body rules of the listener chain hold under TLS: a trickled body is
// cut by the minimum rate, counted in decrypted bytes (one-byte records
// take ~22 on the wire, which would pass 256 B/s), a whole one passes;
// handlers see ctx.IsTLS().
func TestTLSBodyRules(t *testing.T) {
	certs, err := sitetls.Open(sitetls.Config{Mode: sitetls.ModeAuto}, t.TempDir(), sitetls.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.BodyMinRate = 256
	cfg.BodyGrace = units.Duration(500 * time.Millisecond)
	cfg.BufferedBodyTimeout = 0
	s := NewServer(cfg, slog.New(slog.DiscardHandler), metrics.NewSet())
	bodyRoutes(nil)(s)
	s.Handle("/tls", "x", func(ctx *fasthttp.RequestCtx) { fmt.Fprint(ctx, ctx.IsTLS()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeTLS(ln, certs.TLSConfig()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-served
	})
	dial := func(head string, body []byte) net.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(append([]byte(head), body...)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	postTLS := func(path string, size, sent int) net.Conn {
		return dial(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: nora.test\r\nContent-Length: %d\r\n\r\n", path, size), make([]byte, sent))
	}
	if resp, body := answer(t, dial("GET /tls HTTP/1.1\r\nHost: x\r\n\r\n", nil)); resp.StatusCode != 200 || body != "true" {
		t.Fatalf("IsTLS: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/stream", "/buffered"} {
		resp, msg := trickle(t, postTLS(path, 1<<20, 8<<10), 50*time.Millisecond)
		if resp.StatusCode != fasthttp.StatusRequestTimeout || !strings.Contains(msg, "slower than 256 bytes/s") {
			t.Errorf("%s trickled: %d %s", path, resp.StatusCode, msg)
		}
		if resp, msg := answer(t, postTLS(path, 1<<20, 1<<20)); resp.StatusCode != 200 || msg != fmt.Sprint(1<<20) {
			t.Errorf("%s whole: %d %s", path, resp.StatusCode, msg)
		}
	}
}
