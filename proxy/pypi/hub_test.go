package pypi_test

import (
	"path/filepath"
	"testing"

	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
)

// edgeOf is a [pypi] section whose upstream is a hub's simple index; ttl
// 0, so that every page request asks the hub.
func edgeOf(hubURL string) pypi.Config {
	cfg := pypi.DefaultConfig()
	cfg.Upstream = hubURL + "/simple/"
	cfg.TTL = 0
	return cfg
}

// pip install through edge -> hub -> the test index: the hub's pages link
// its files at the hub, the edge links them at itself and fetches them
// from the hub. With the hub gone the edge serves what it pulled; with
// the public upstream gone a second edge gets through the hub what the
// first pulled.
func TestHubPip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts pypitest.Options
	}{
		{"json-upstream", pypitest.Options{}},
		{"html-upstream-relative-links", pypitest.Options{HTMLOnly: true, RelativeLinks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, tc.opts)
			cfg := pypiConfig(up)
			cfg.TTL = 0
			hub := startNora(t, cfg)
			link := proxytest.Forward(t, hub.URL)
			edge := startNora(t, edgeOf(link.URL))

			mustInstall(t, edge, "acme-app", "acme.plus==1.0+local")
			mustDownloadSdist(t, edge)
			if name := filepath.Base(distOf(t, "acme-app").wheel); up.Gets(name) != 1 {
				t.Errorf("%s fetched %d times from the public upstream, want 1", name, up.Gets(name))
			}
			up.Stop()
			mustInstall(t, startNora(t, edgeOf(hub.URL)), "acme-app", "acme.plus==1.0+local")
			link.Close()
			mustInstall(t, edge, "acme-app", "acme.plus==1.0+local")
		})
	}
}
