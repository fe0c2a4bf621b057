package httpx

import (
	"testing"

	"nora/auth"
)

// TestAuthorizeRecordsActor: what Authorize saw is there for the audit
// line: the caller, the claimed name of a failed login, anonymous for a
// write to a nora without users.
func TestAuthorizeRecordsActor(t *testing.T) {
	a := &countingAuth{good: "right"}
	f := func(ctxUser, pass string, a auth.Authorizer, want AuditInfo) {
		t.Helper()
		ctx := requestFrom("192.0.2.1")
		if ctxUser != "" {
			ctx = basicFrom(nil, "192.0.2.1", ctxUser, pass)
		}
		Authorize(ctx, a, auth.Push, "npm", "pkg")
		if got, _ := Audit(ctx); got != want {
			t.Errorf("%s:%s: %+v, want %+v", ctxUser, pass, got, want)
		}
	}
	f("alice", "right", a, AuditInfo{Actor: "alice", Action: auth.Push, Format: "npm", Name: "pkg"})
	f("alice", "wrong", a, AuditInfo{Actor: "alice", Action: auth.Push, Format: "npm", Name: "pkg", LoginFailed: true})
	f("", "", a, AuditInfo{Actor: auth.AnonymousActor, Action: auth.Push, Format: "npm", Name: "pkg"})
	f("alice", "right", auth.Anonymous{}, AuditInfo{Actor: auth.AnonymousActor, Action: auth.Push, Format: "npm", Name: "pkg"})
}
