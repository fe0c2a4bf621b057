package proxytest

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// Forward serves target's answers on an address of its own until closed
// or t ends: a hub as its edges see it, so that closing it takes the hub
// away (listener and connections) while the hub keeps running for others.
func Forward(t testing.TB, target string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(srv.Close)
	return srv
}
