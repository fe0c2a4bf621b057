package proxy

import (
	"sync/atomic"

	"nora/auth"
)

// liveAuth is the htpasswd Authorizer with anonymous_read switchable while
// nora serves: the file's users, groups and rules decide everything but
// anonymous pulls.
type liveAuth struct {
	*auth.Local
	anonymousRead atomic.Bool
}

func newLiveAuth(cfg auth.Config) (*liveAuth, error) {
	anon := cfg.AnonymousRead
	cfg.AnonymousRead = false
	l, err := auth.New(cfg)
	if err != nil {
		return nil, err
	}
	a := &liveAuth{Local: l}
	a.anonymousRead.Store(anon)
	return a, nil
}

func (a *liveAuth) Allowed(id *auth.Identity, action auth.Action, format, name string) bool {
	if action == auth.Pull && a.anonymousRead.Load() {
		return true
	}
	return a.Local.Allowed(id, action, format, name)
}

// Reload applies what of cfg can change while nora serves (SIGHUP): it
// reopens the audit log file (logrotate moved it), it rereads the
// [server.tls] cert and key files (files mode; auto mode checks its
// certificate's renewal and addresses), it
// rereads the [auth] htpasswd file and takes [auth] anonymous_read,
// [auth.groups] and [[auth.rules]], which apply to every request from then
// on, those of open connections and tokens issued before included. Users
// the file removes, and passwords it changes, stop working at once: their
// cached logins and the bearer tokens issued to them are refused from then
// on (auth.Local.ReloadRules). When the file cannot be read, or a rule
// does not compile, nothing changes: the users and rules loaded before stay
// in force and the error says why.
//
// Everything else, the htpasswd path included (a new path would need a new
// user generation, which would let old tokens through), is fixed for the
// life of the process: cmd/nora compares the old and new file and logs those
// keys as needing a restart. nil cfg.Auth means auth.DefaultConfig().
func (a *App) Reload(cfg AppConfig) error {
	// logrotate has moved the audit log and sent SIGHUP: follow it
	// whatever becomes of the rest.
	if err := a.audit.Reopen(); err != nil {
		a.log.Error("audit log not reopened; lines still go to the old file", "err", err)
	}
	// files mode: the site's renewed certificate, for new connections.
	if err := a.certs.Reload(); err != nil {
		a.log.Error("server certificate not reloaded; the one in use stays", "err", err)
	}
	if a.auth == nil {
		return nil
	}
	authCfg := auth.DefaultConfig()
	if cfg.Auth != nil {
		authCfg = *cfg.Auth
	}
	if err := a.auth.Local.ReloadRules(authCfg); err != nil {
		return err
	}
	a.auth.anonymousRead.Store(authCfg.AnonymousRead)
	return a.reloadOIDC(authCfg.OIDC)
}
