package proxy

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func TestHostedWrite(t *testing.T) {
	f := func(format, method, path string, want bool) {
		t.Helper()
		if got := hostedWrite(format, methodIndex([]byte(method)), []byte(path)); got != want {
			t.Errorf("hostedWrite(%s, %s, %s) = %v, want %v", format, method, path, got, want)
		}
	}
	f("maven", "PUT", "/maven2/com/acme/lib/1.0/lib-1.0.jar", true)
	f("docker", "PATCH", "/v2/app/blobs/uploads/x", true)
	f("npm", "DELETE", "/npm/pkg/-rev/1", true)
	f("pypi", "POST", "/api/pypi/upload", true)
	f("npm", "POST", "/npm/-/npm/v1/security/audits/quick", false) // forwarded
	f("npm", "GET", "/npm/pkg", false)
	f("docker", "HEAD", "/v2/app/manifests/1", false)
	f(formatAuth, "POST", "/token", false)
	f(formatOps, "POST", "/metrics", false)
	f(formatNone, "PUT", "/nothing", false)
}

func TestWriteResultIndex(t *testing.T) {
	f := func(status int, want string) {
		t.Helper()
		if got := writeResults[writeResultIndex(status)]; got != want {
			t.Errorf("status %d: %s, want %s", status, got, want)
		}
	}
	f(200, "ok")
	f(201, "ok")
	f(202, "ok")
	f(401, "denied")
	f(403, "denied")
	f(400, "rejected")
	f(409, "rejected")
	f(413, "rejected")
	f(500, "error")
	f(503, "error")
}

func TestAddHelp(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(addHelp([]byte(in))); got != want {
			t.Errorf("addHelp(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("# HELP nora_http_requests_in_flight\n# TYPE nora_http_requests_in_flight gauge\nnora_http_requests_in_flight 1\n",
		"# HELP nora_http_requests_in_flight "+metricHelp["nora_http_requests_in_flight"]+
			"\n# TYPE nora_http_requests_in_flight gauge\nnora_http_requests_in_flight 1\n")
	f("# HELP nora_unknown\n", "# HELP nora_unknown\n")                                   // the scrape test fails on it
	f("# HELP nora_fills_in_flight has text\n", "# HELP nora_fills_in_flight has text\n") // kept
	f("# HELP go_goroutines\n", "# HELP go_goroutines "+helpFor("go_goroutines")+"\n")
	f("x 1", "x 1\n")
}

// TestMetricHelpText: HELP text must not need escaping (the exposition
// format escapes only backslash and newline, which addHelp does not do).
// TestMetricsScrape checks that the families a scrape shows have text.
func TestMetricHelpText(t *testing.T) {
	for name, h := range metricHelp {
		if !strings.HasPrefix(name, "nora_") || strings.ContainsAny(h, "\n\\") {
			t.Errorf("%s: bad name or HELP text %q", name, h)
		}
	}
}

// TestProbesLoggedAtDebug: /health, /ready and /metrics come every few
// seconds; their access lines are debug, everything else's info.
func TestProbesLoggedAtDebug(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) { s.Handle("/v2/", "docker", say("hello")) })
	for _, p := range []string{"/health", "/ready", "/metrics", "/v2/"} {
		get(t, "GET", ts.url+p)
	}
	waitFor(t, "the docker line", func() bool { return strings.Contains(ts.logs.String(), `"format":"docker"`) })
	if strings.Contains(ts.logs.String(), `"format":"ops"`) {
		t.Fatalf("a probe logged at info:\n%s", ts.logs.String())
	}

	var logs syncBuffer
	s := NewServer(testConfig(), slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), metrics.NewSet())
	s.metrics.inFlight.Inc()
	s.finish(&accessRecord{start: time.Now(), format: formatOps, fm: s.ops, path: "/health", status: 200}, 3, nil)
	if l := logs.String(); !strings.Contains(l, `"level":"DEBUG","msg":"request"`) || !strings.Contains(l, `"path":"/health"`) {
		t.Fatalf("probe line at debug: %s", l)
	}
}
