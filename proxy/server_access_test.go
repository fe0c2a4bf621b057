package proxy

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// TestAccessLogRedacts sends secrets in query strings the way clients and
// probes do, through the real server, and reads the access lines.
func TestAccessLogRedacts(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/v2/", "docker", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	})
	paths := map[string]string{} // request id -> logged path
	f := func(uri, want string) {
		t.Helper()
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		id := newRequestID()
		c.Write([]byte("GET " + uri + " HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + id + "\r\nConnection: close\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [512]byte
		if n, _ := c.Read(b[:]); !strings.HasPrefix(string(b[:n]), "HTTP/1.1 200") {
			t.Fatalf("%s: %q", uri, b[:n])
		}
		paths[id] = want
	}
	f("/v2/x?pw=s3cret", "/v2/x?pw=REDACTED")
	f("/v2/x?jwt=s3cret&n=1", "/v2/x?jwt=REDACTED&n=1")
	f("/v2/x?bearer=s3cret", "/v2/x?bearer=REDACTED")
	f("/v2/x?%70w=s3cret", "/v2/x?%70w=REDACTED")
	f("/v2/x?Pass=s3cret&PWD=s3cret&X-Amz-Signature=s3cret&apiKey=s3cret", "/v2/x?Pass=REDACTED&PWD=REDACTED&X-Amz-Signature=REDACTED&apiKey=REDACTED")
	f("/v2/x?token=s3cret&n=1&token=s3cret", "/v2/x?token=REDACTED&n=1&token=REDACTED")
	f("/v2/x?token&n=1", "/v2/x?token&n=1")
	f("/v2/x?token%3Ds3cret", "/v2/x?REDACTED")
	f("/v2/x?a=1;session=s3cret", "/v2/x?a=1;session=REDACTED")
	f("/v2/x?n=5&last=a/b", "/v2/x?n=5&last=a/b")
	f("/v2/x%3Ftoken=inpath", "/v2/x%3Ftoken=inpath") // a path, not a query
	f("/v2/x%3Fa?pw=s3cret", "/v2/x%3Fa?pw=REDACTED")

	// A request line fasthttp cannot parse is quoted in the error field.
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET /v2/x?token=s3cret-line\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 512))
	c.Close()

	var lines []map[string]any
	waitFor(t, "the access lines", func() bool {
		lines = nil
		for l := range strings.SplitSeq(ts.logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
				lines = append(lines, m)
			}
		}
		return len(lines) == len(paths)+1
	})
	for _, m := range lines {
		id, _ := m["request_id"].(string)
		if want, ok := paths[id]; ok && m["path"] != want {
			t.Fatalf("logged path %q, want %q", m["path"], want)
		}
		if b, _ := json.Marshal(m); strings.Contains(string(b), "s3cret") {
			t.Fatalf("a secret reached the access log: %s", b)
		}
	}
}

func TestLoggedURI(t *testing.T) {
	f := func(path, query, want string) {
		t.Helper()
		if got := loggedURI([]byte(path), []byte(query)); got != want {
			t.Fatalf("loggedURI(%q, %q) = %q, want %q", path, query, got, want)
		}
	}
	f("/v2/", "", "/v2/")
	f("/v2/x", "pw=1", "/v2/x?pw=REDACTED")
	f("/v2/x?pw=1", "", "/v2/x%3Fpw=1")
	f("/a#b", "c=1", "/a%23b?c=1")
}

// FuzzLoggedURI: the logged URI reads back as the path that was served and
// a query in which no secret-looking key has a value.
func FuzzLoggedURI(f *testing.F) {
	f.Add("/v2/x", "pw=a&n=1")
	f.Add("/v2/x?jwt=a", "bearer=b;c=d")
	f.Add("/", "%70w=x")
	f.Fuzz(func(t *testing.T, path, query string) {
		got := loggedURI([]byte(path), []byte(query))
		p, q, hasQuery := strings.Cut(got, "?")
		if p != strings.NewReplacer("?", "%3F", "#", "%23").Replace(path) || hasQuery != (query != "") {
			t.Fatalf("loggedURI(%q, %q) = %q", path, query, got)
		}
		var args fasthttp.Args
		args.Parse(q)
		for k, v := range args.All() {
			if auth.SecretKey(string(k)) && len(v) > 0 && string(v) != auth.Redacted {
				t.Fatalf("loggedURI(%q, %q) = %q leaves %s=%s", path, query, got, k, v)
			}
		}
	})
}
