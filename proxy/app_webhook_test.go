package proxy_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"nora/auth"
	"nora/cache"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/httpx"
	"nora/proxy/maven"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/webhook"
)

const hookSecret = "e2e-secret"

// hookReceiver is the receiver the webhook tests run: it verifies each
// post's signature, answers 503 while down, and blocks while held.
type hookReceiver struct {
	t    *testing.T
	url  string
	down atomic.Bool
	held atomic.Pointer[chan struct{}]
	mu   sync.Mutex
	got  []httpx.Event
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if hold := r.held.Load(); hold != nil {
			<-*hold
		}
		if got := req.Header.Get("X-Nora-Signature"); got != webhook.Sign([]byte(hookSecret), body) {
			r.t.Errorf("bad signature %q of %s", got, body)
		}
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var e httpx.Event
		if err := json.Unmarshal(body, &e); err != nil {
			r.t.Errorf("body %s: %v", body, err)
		}
		r.mu.Lock()
		r.got = append(r.got, e)
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *hookReceiver) events() []httpx.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// hookNora is an in-process nora that the test stops and starts again on
// the same storage.
type hookNora struct {
	addr, url, sock string
	stop            func()
}

func startHookNora(t *testing.T, dir, htpasswd, receiver string) *hookNora {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "nora-wh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	storage := cache.DefaultConfig()
	storage.Path, storage.StallTimeout = dir, units.Duration(10*time.Second)
	server := proxy.DefaultConfig()
	server.Listen, server.AdminSocket = "127.0.0.1:0", filepath.Join(sockDir, "admin.sock")
	up := proxytest.Upstream()
	tune := webhook.DefaultTuning()
	tune.MinBackoff, tune.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	cfg := proxy.AppConfig{Server: server, Storage: storage, Docker: docker.DefaultConfig(), Npm: npm.DefaultConfig(),
		Maven: maven.DefaultConfig(), PyPI: pypi.DefaultConfig(), Cargo: cargo.DefaultConfig(),
		Auth: &auth.Config{AnonymousRead: true, Htpasswd: htpasswd}, Upstream: &up,
		Webhooks:      []webhook.Config{{Name: "ci", URL: receiver, Secret: hookSecret}},
		WebhookTuning: &tune}
	app, err := proxy.NewApp(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	addr := app.Addr().String()
	return &hookNora{addr: addr, url: "http://" + addr, sock: server.AdminSocket, stop: stop}
}

// deliveries reads GET /api/v1/webhooks/deliveries on the admin socket.
func (n *hookNora) deliveries(t *testing.T) []webhook.Webhook {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", n.sock)
	}}}
	resp, err := c.Get("http://admin/api/v1/webhooks/deliveries")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Webhooks []webhook.Webhook }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("deliveries: %d %v", resp.StatusCode, err)
	}
	return v.Webhooks
}

// pushImage pushes a random image to ref with crane, as user.
func pushImage(t *testing.T, n *hookNora, home, ref string) {
	t.Helper()
	img, err := random.Image(4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(t.TempDir(), "img.tar")
	r, _ := name.ParseReference("example.invalid/img:x")
	if err := tarball.WriteToFile(tar, r, img); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("crane", "--insecure", "push", tar, n.addr+"/"+ref)
	cmd.Env = proxytest.Env(home, "DOCKER_CONFIG="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crane push %s: %v\n%s", ref, err, out)
	}
}

// publishPackage publishes name@ver with npm, as user.
func publishPackage(t *testing.T, n *hookNora, home, pkg, ver string) {
	t.Helper()
	runNPM(t, n, home, npmtest.WritePackage(t, pkg, ver, nil, "module.exports = 1\n"), "publish")
}

// runNPM runs npm in dir against n, as user ci.
func runNPM(t *testing.T, n *hookNora, home, dir string, args ...string) {
	t.Helper()
	rc := filepath.Join(home, "npmrc")
	lines := "registry=" + n.url + "/npm/\n" + strings.TrimPrefix(n.url, "http:") + "/npm/:_auth=" +
		base64.StdEncoding.EncodeToString([]byte("ci:pw")) + "\nfetch-retries=0\nupdate-notifier=false\naudit=false\nfund=false\n"
	if err := os.WriteFile(rc, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, "--userconfig", rc, "--cache", filepath.Join(home, "cache"))
	if out, err := npmtest.NPM(t, dir, home, args...); err != nil {
		t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestWebhooksEndToEnd pushes with crane and publishes with npm through a
// running nora: a held receiver does not hold the push; a receiver down
// across a restart of nora then back gets every event once, in order per
// name, signed.
func TestWebhooksEndToEnd(t *testing.T) {
	for _, tool := range []string{"crane", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: %v", tool, err)
		}
	}
	rcv := newHookReceiver(t)
	dir, home := t.TempDir(), t.TempDir()
	cred := base64.StdEncoding.EncodeToString([]byte("ci:pw"))
	htpasswd := proxytest.Htpasswd(t, "ci", "pw")
	n := startHookNora(t, dir, htpasswd, rcv.url)
	if err := os.WriteFile(filepath.Join(home, "config.json"), []byte(`{"auths":{"`+n.addr+`":{"auth":"`+cred+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	// A held receiver: the push completes while the post waits.
	hold := make(chan struct{})
	rcv.held.Store(&hold)
	pushImage(t, n, home, "team/app:v1")
	rcv.held.Store(nil)
	close(hold)
	publishPackage(t, n, home, "acme-hooks", "1.0.0")
	waitUntil(t, "2 events", func() bool { return len(rcv.events()) >= 2 })

	// Down for a while, then nora restarts with events queued.
	rcv.down.Store(true)
	pushImage(t, n, home, "team/app:v2")
	publishPackage(t, n, home, "acme-hooks", "1.0.1")
	pushImage(t, n, home, "team/app:v3")
	waitUntil(t, "3 queued", func() bool { return n.deliveries(t)[0].QueueLength == 3 })
	n.stop()
	n = startHookNora(t, dir, htpasswd, rcv.url)
	if err := os.WriteFile(filepath.Join(home, "config.json"), []byte(`{"auths":{"`+n.addr+`":{"auth":"`+cred+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	pushImage(t, n, home, "team/app:v4")
	rcv.down.Store(false)
	waitUntil(t, "6 events", func() bool { return len(rcv.events()) >= 6 })
	waitUntil(t, "an empty queue", func() bool { return n.deliveries(t)[0].QueueLength == 0 })
	checkHookEvents(t, rcv.events())
	for _, d := range n.deliveries(t)[0].Deliveries {
		if d.Status != webhook.Delivered {
			t.Errorf("delivery %+v", d)
		}
	}
	checkHookMetrics(t, n)
}

// checkHookMetrics checks that /metrics has the webhook families, with
// their HELP text.
func checkHookMetrics(t *testing.T, n *hookNora) {
	t.Helper()
	resp, err := http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`nora_webhook_deliveries_total{webhook="ci",result="delivered"} `,
		`nora_webhook_queue_length{webhook="ci"} 0`,
		"nora_webhook_events_dropped_total 0",
		"# HELP nora_webhook_deliveries_total Attempts",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// checkHookEvents checks the events of TestWebhooksEndToEnd: each once,
// each name's in order, with what a subscriber needs.
func checkHookEvents(t *testing.T, got []httpx.Event) {
	t.Helper()
	byName := map[string][]string{}
	ids := map[string]bool{}
	for _, e := range got {
		if ids[e.ID] {
			t.Errorf("event %s delivered twice", e.ID)
		}
		ids[e.ID] = true
		byName[e.Format+" "+e.Name] = append(byName[e.Format+" "+e.Name], e.Kind+" "+e.Reference)
		if e.Actor != "ci" || e.Time.IsZero() {
			t.Errorf("event %+v", e)
		}
		if e.Format == "docker" && (!strings.HasPrefix(e.Digest, "sha256:") || e.Size == 0) {
			t.Errorf("push event without digest or size: %+v", e)
		}
	}
	want := map[string][]string{
		"docker team/app": {"push v1", "push v2", "push v3", "push v4"},
		"npm acme-hooks":  {"publish acme-hooks-1.0.0.tgz", "publish acme-hooks-1.0.1.tgz"},
	}
	for k, w := range want {
		if !slices.Equal(byName[k], w) {
			t.Errorf("%s: got %v, want %v", k, byName[k], w)
		}
	}
	if len(got) != 6 {
		t.Errorf("%d events, want 6: %+v", len(got), got)
	}
}

// TestWebhookNpmUnpublish: npm unpublish of a version sends a delete
// naming its tarball, of the whole package a delete with no reference.
func TestWebhookNpmUnpublish(t *testing.T) {
	rcv := newHookReceiver(t)
	home := t.TempDir()
	n := startHookNora(t, t.TempDir(), proxytest.Htpasswd(t, "ci", "pw"), rcv.url)
	publishPackage(t, n, home, "acme-gone", "1.0.0")
	publishPackage(t, n, home, "acme-gone", "1.0.1")
	runNPM(t, n, home, t.TempDir(), "unpublish", "acme-gone@1.0.0")
	runNPM(t, n, home, t.TempDir(), "unpublish", "acme-gone", "--force")
	waitUntil(t, "4 events", func() bool { return len(rcv.events()) >= 4 })
	var got []string
	for _, e := range rcv.events() {
		got = append(got, e.Kind+" "+e.Name+" "+e.Reference)
	}
	want := []string{"publish acme-gone acme-gone-1.0.0.tgz", "publish acme-gone acme-gone-1.0.1.tgz",
		"delete acme-gone acme-gone-1.0.0.tgz", "delete acme-gone "}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestWebhookDeployAndDelete: a Maven deploy sends one publish, at its
// .pom; crane tag is a push; crane delete of a manifest a delete.
func TestWebhookDeployAndDelete(t *testing.T) {
	rcv := newHookReceiver(t)
	home := t.TempDir()
	n := startHookNora(t, t.TempDir(), proxytest.Htpasswd(t, "ci", "pw"), rcv.url)
	put := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, n.url+"/maven2/"+path, strings.NewReader(body))
		req.SetBasicAuth("ci", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("PUT %s: %s", path, resp.Status)
		}
	}
	dir := "com/acme/hooklib/1.0/"
	put(dir+"hooklib-1.0.jar", "jar bytes")
	put(dir+"hooklib-1.0.jar.sha1", sha1hex("jar bytes"))
	pom := "<project><modelVersion>4.0.0</modelVersion><groupId>com.acme</groupId><artifactId>hooklib</artifactId><version>1.0</version></project>"
	put(dir+"hooklib-1.0.pom", pom)
	put(dir+"hooklib-1.0.pom.sha1", sha1hex(pom))
	if err := os.WriteFile(filepath.Join(home, "config.json"), []byte(`{"auths":{"`+n.addr+`":{"auth":"`+
		base64.StdEncoding.EncodeToString([]byte("ci:pw"))+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	pushImage(t, n, home, "team/del:v1")
	craneAt(t, home, "tag", n.addr+"/team/del:v1", "v2")
	dg := craneAt(t, home, "digest", n.addr+"/team/del:v1")
	craneAt(t, home, "delete", n.addr+"/team/del@"+dg)
	waitUntil(t, "4 events", func() bool { return len(rcv.events()) >= 4 })
	var got []string
	for _, e := range rcv.events() {
		got = append(got, e.Kind+" "+e.Format+" "+e.Name+" "+e.Reference)
	}
	want := []string{"publish maven com.acme:hooklib 1.0", "push docker team/del v1", "push docker team/del v2",
		"delete docker team/del " + dg}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// craneAt runs crane with the docker config in home.
func craneAt(t *testing.T, home string, args ...string) string {
	t.Helper()
	cmd := exec.Command("crane", append([]string{"--insecure"}, args...)...)
	cmd.Env = proxytest.Env(home, "DOCKER_CONFIG="+home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crane %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}
