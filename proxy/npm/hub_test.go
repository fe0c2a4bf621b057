package npm_test

import (
	"testing"
	"time"

	"nora/internal/units"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// npm install through edge -> hub -> verdaccio: the hub's packuments link
// its tarballs at the hub, the edge links them at itself and fetches them
// from the hub. With the hub gone the edge serves what it pulled; with
// the public upstream gone a second edge gets through the hub what the
// first pulled.
func TestHubInstall(t *testing.T) {
	v := npmtest.StartVerdaccio(t)
	v.Publish(t, npmtest.WritePackage(t, "@acme/dep", "1.0.0", nil, depIndex))
	v.Publish(t, npmtest.WritePackage(t, "@acme/app-lib", "1.0.0", map[string]string{"@acme/dep": "^1.0.0"}, appIndex))
	front := npmtest.NewFront(t, v.URL)
	// ttl 0: every packument request revalidates upstream.
	hub := startNora(t, npm.Config{Upstream: front.URL, NegativeTTL: units.Duration(time.Minute)})
	link := proxytest.Forward(t, hub.URL)
	edge := startNora(t, npm.Config{Upstream: link.URL + "/npm/", NegativeTTL: units.Duration(time.Minute)})

	mustInstall(t, edge, "@acme/app-lib")
	if front.HitsPrefix("/@acme/dep/-/") != 1 {
		t.Errorf("dep's tarball fetched %d times from the public upstream, want 1", front.HitsPrefix("/@acme/dep/-/"))
	}
	front.Stop()
	edge2 := startNora(t, npm.Config{Upstream: hub.URL + "/npm/", NegativeTTL: units.Duration(time.Minute)})
	mustInstall(t, edge2, "@acme/app-lib")
	link.Close()
	mustInstall(t, edge, "@acme/app-lib")
}
