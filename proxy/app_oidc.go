package proxy

import (
	"nora/auth"
	"nora/auth/oidc"
)

// mountOIDC builds the OIDC exchange of cfg, serves it at
// POST /auth/oidc/token and makes its tokens credentials. It is mounted
// even with no provider configured, so that a reload can add one.
func (app *App) mountOIDC(cfg auth.OIDCConfig) error {
	ex, err := oidc.New(cfg, oidc.Options{})
	if err != nil {
		return err
	}
	app.oidc = ex
	app.auth.Local.AddVerifier(ex)
	app.srv.Handle(oidcTokenPath, "auth", (&oidcHandler{ex: ex, log: app.log, base: app.life, audit: app.auditor()}).serve)
	return nil
}

// reloadOIDC applies a reloaded [auth.oidc] (SIGHUP): providers and rules
// are replaced, connections stay; tokens of a removed or changed provider
// stop working. On error the providers loaded before stay.
func (a *App) reloadOIDC(cfg auth.OIDCConfig) error {
	if a.oidc == nil {
		return nil
	}
	return a.oidc.Reload(cfg)
}
