package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"nora/auth"
	"nora/upstream"
)

// A request naming this nora in X-Nora-Via gets 508 at once, and the
// answer does not give the id away (a client that learnt it could send it
// to stop this nora's fills from its hub); one naming others is served,
// and no answer names this nora.
func TestHubViaHeader(t *testing.T) {
	app, base := serveApp(t, auth.DefaultConfig())
	id := app.srv.via.ID()
	get := func(via string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/health", nil)
		req.Header.Set(upstream.HeaderVia, via)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, _ := get("0123456789abcdef")
	if resp.StatusCode != http.StatusOK || resp.Header.Get(upstream.HeaderVia) != "" {
		t.Fatalf("a chain of another nora: %d, %s %q; want 200 and no id", resp.StatusCode, upstream.HeaderVia, resp.Header.Get(upstream.HeaderVia))
	}
	resp, body := get("0123456789abcdef, " + id)
	if resp.StatusCode != http.StatusLoopDetected {
		t.Fatalf("request through this nora already: %d, want 508", resp.StatusCode)
	}
	if strings.Contains(body, id) || resp.Header.Get(upstream.HeaderVia) != "" {
		t.Fatalf("the 508 gives the id away: %q", body)
	}
}
