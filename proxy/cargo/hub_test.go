package cargo_test

import (
	"bytes"
	"testing"

	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/proxytest"
)

// edgeOf is a [cargo] section whose upstream index is a hub's sparse
// index; ttl 0, so that every index request asks the hub.
func edgeOf(hubURL string) cargo.Config {
	cfg := cargo.DefaultConfig()
	cfg.Index = hubURL + "/cargo/index/"
	cfg.TTL = 0
	return cfg
}

// cargo fetch through edge -> hub -> the test registry: the hub's
// config.json dl points at the hub, and the edge fetches the crates from
// it. With the hub gone the edge serves what it pulled; with the public
// upstream gone a second edge gets through the hub what the first pulled.
func TestHubCargoFetch(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	dep, lib := publishAcme(t, up)
	hub := startNora(t, alwaysRevalidate(up))
	link := proxytest.Forward(t, hub.URL)
	edge := startNora(t, edgeOf(link.URL))

	if out, err := newClient(t, edge.Addr).fetch(t); err != nil {
		t.Fatalf("cargo fetch through edge and hub: %v\n%s", err, out)
	}
	up.Stop()
	edge2 := startNora(t, edgeOf(hub.URL))
	c := newClient(t, edge2.Addr)
	if out, err := c.fetch(t); err != nil {
		t.Fatalf("cargo fetch through a second edge, public upstream stopped: %v\n%s", err, out)
	}
	if !bytes.Equal(c.cachedCrate(t, "acme-lib-0.1.0.crate"), lib) || !bytes.Equal(c.cachedCrate(t, "acme-dep-0.1.0.crate"), dep) {
		t.Error("crates through the second edge differ from the published ones")
	}
	link.Close()
	c = newClient(t, edge.Addr)
	if out, err := c.fetch(t); err != nil {
		t.Fatalf("cargo fetch at the edge with the hub gone: %v\n%s", err, out)
	}
	if !bytes.Equal(c.cachedCrate(t, "acme-lib-0.1.0.crate"), lib) {
		t.Error("acme-lib from the edge's cache differs")
	}
}

// A crate published to the hub installs through the edge with cargo.
func TestHubCargoHosted(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	publishAcme(t, up)
	hub := startNoraAuth(t, alwaysRevalidate(up), users(t))
	edge := startNora(t, edgeOf(hub.URL))
	ci := newCargoUser(t, hub.Addr, basicToken(testUser, testPass))
	dir := ci.crate(t, "acme-hosted", "0.1.0", "", "")
	if out, err := ci.publish(t, dir); err != nil {
		t.Fatalf("cargo publish to the hub: %v\n%s", err, out)
	}
	site := newCargoUser(t, edge.Addr, "")
	if out, err := site.install(t, site.app(t, `acme-hosted = "0.1.0"`)); err != nil {
		t.Fatalf("cargo fetch of the hub's hosted crate through the edge: %v\n%s", err, out)
	}
	if !bytes.Equal(site.cachedCrate(t, "acme-hosted-0.1.0.crate"), packaged(t, dir, "acme-hosted", "0.1.0")) {
		t.Error("the hosted crate through the edge differs from the published one")
	}
}
