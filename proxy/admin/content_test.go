package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/admin"
	"nora/proxy/docker"
	"nora/proxy/httpx"
	"nora/proxy/inventory"
	"nora/proxy/proxytest"
	"nora/proxy/webhook"
)

// events is a webhook receiver keeping what it was sent.
type events struct {
	mu  sync.Mutex
	got []httpx.Event
}

func (e *events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev httpx.Event
	if json.NewDecoder(r.Body).Decode(&ev) == nil {
		e.mu.Lock()
		e.got = append(e.got, ev)
		e.mu.Unlock()
	}
}

// wait polls until an event of kind for name arrived, with a deadline.
func (e *events) wait(t *testing.T, kind, name, ref string) httpx.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, ev := range e.got {
			if ev.Kind == kind && ev.Name == name && ev.Reference == ref {
				e.mu.Unlock()
				return ev
			}
		}
		e.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s event of %s %s", kind, name, ref)
	return httpx.Event{}
}

// The content resources on the socket: an image pushed over the OCI API
// listed, tagged and deleted (each change sent to the webhooks), and
// errors in the admin API's shape with their statuses.
func TestContentAPI(t *testing.T) {
	rcv := &events{}
	hook := httptest.NewServer(rcv)
	t.Cleanup(hook.Close)
	dc := docker.DefaultConfig()
	dc.Upstreams = nil
	n := proxytest.Start(t, proxy.AppConfig{Docker: dc,
		Auth:     &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "pw")},
		Webhooks: []webhook.Config{{Name: "ci", URL: hook.URL, Events: []string{"tag", "delete"}}}})
	img, _ := random.Image(3000, 2)
	ref, _ := name.NewTag(n.Addr+"/acme/app:1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "ci", Password: "pw"})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	c := admin.NewClient(n.AdminSocket)
	ctx := context.Background()

	raw, err := c.Images(ctx, "acme/app")
	var ans struct{ Images []inventory.Image }
	if err != nil || json.Unmarshal(raw, &ans) != nil || len(ans.Images) != 1 || !ans.Images[0].Hosted ||
		len(ans.Images[0].Tags) != 1 || ans.Images[0].Tags[0].Digest.String() != d.String() {
		t.Fatalf("images: %v %s", err, raw)
	}
	if _, err := c.TagImage(ctx, "acme/app:1", "acme/app:stable"); err != nil {
		t.Fatal(err)
	}
	if ev := rcv.wait(t, "tag", "acme/app", "stable"); ev.Digest != d.String() || ev.Format != "docker" || ev.Actor != "admin" {
		t.Errorf("tag event: %+v", ev)
	}
	if err := c.DeleteImage(ctx, "acme/app@"+d.String()); err != nil {
		t.Fatal(err)
	}
	rcv.wait(t, "delete", "acme/app", d.String())

	status := func(want int, wantMsg string, err error) {
		t.Helper()
		var ae *admin.Error
		if !errors.As(err, &ae) || ae.Status != want || !strings.Contains(ae.Message, wantMsg) {
			t.Errorf("got %v, want %d %q", err, want, wantMsg)
		}
	}
	_, err = c.Images(ctx, "acme/app")
	status(404, "no image acme/app on this nora", err)
	status(404, "no image acme/none", c.DeleteImage(ctx, "acme/none:1"))
	_, err = c.TagImage(ctx, "acme/app", "acme/app:2")
	status(400, "want repository:tag or repository@digest", err)
	_, err = c.Packages(ctx, "rpm", "")
	status(400, `no package format "rpm"`, err)
	_, err = c.Packages(ctx, "npm", "left-pad")
	status(404, "no npm package left-pad on this nora", err)
	_, err = c.Evict(ctx, "npm:left-pad")
	status(404, "nothing cached under npm:left-pad", err)
	_, err = c.Cached(ctx, "rpm", 0)
	status(400, `no format "rpm"`, err)
	raw, err = c.Cached(ctx, "", 5)
	if err != nil || !bytes.Contains(raw, []byte(`"cached":[]`)) {
		t.Errorf("cache of nothing: %v %s", err, raw)
	}

	// Methods and query values the resources do not take.
	for _, tc := range []struct{ method, path, body string }{
		{"DELETE", "/api/v1/images", ""}, {"GET", "/api/v1/images/tag", ""}, {"POST", "/api/v1/cache", ""},
		{"GET", "/api/v1/cache?limit=0", ""}, {"POST", "/api/v1/cache/evict", "{"},
	} {
		code, body := onSocket(t, n.AdminSocket, tc.method, tc.path, tc.body)
		if code != 405 && code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
}

// onSocket sends one request to the admin socket.
func onSocket(t *testing.T, socket, method, path, body string) (int, string) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	req, _ := http.NewRequest(method, "http://nora"+path, strings.NewReader(body))
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
