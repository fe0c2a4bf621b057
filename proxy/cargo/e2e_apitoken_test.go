package cargo_test

import (
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/proxytest"
)

// TestAPITokenPublish: cargo publishes with an API token as its registry
// token (the whole Authorization header) what the token's permissions
// allow; other crates are forbidden, an expired or revoked token is
// unauthorized.
func TestAPITokenPublish(t *testing.T) {
	pn, tokens := proxytest.StartTokens(t, proxy.AppConfig{Cargo: cargo.DefaultConfig()})
	laptop := newCargoUser(t, pn.Addr, tokens.Create(t, "laptop", "push:cargo:frontend-*"))
	gone := newCargoUser(t, pn.Addr, tokens.Create(t, "gone", "push:**"))

	f := func(u *cargoUser, name, want string) {
		t.Helper()
		out, err := u.publish(t, u.crate(t, name, "0.1.0", "", ""))
		if want == "" && err != nil {
			t.Fatalf("cargo publish %s: %v\n%s", name, err, out)
		}
		if want != "" && (err == nil || !strings.Contains(out, want)) {
			t.Fatalf("cargo publish %s: %v, want a failure naming %q\n%s", name, err, want, out)
		}
	}
	f(laptop, "frontend-ui", "")
	f(laptop, "backend-x", "(status 403 Forbidden)")
	f(newCargoUser(t, pn.Addr, tokens.Expired), "frontend-old", "(status 401 Unauthorized): invalid user name or password")
	f(gone, "backend-y", "")
	tokens.Revoke(t, "gone")
	f(gone, "backend-z", "(status 401 Unauthorized): invalid user name or password")
}
