package proxy

// Reload rereads what can change while nora serves (SIGHUP): the [auth]
// htpasswd file. Users it removes, and passwords it changes, stop working
// at once: their cached logins and the bearer tokens issued to them are
// refused from then on (auth.Local.Reload). The listener, storage and
// upstreams are fixed for the life of the process; changing them needs a
// restart. When the file cannot be read, the users loaded before stay in
// force and the error says why.
func (a *App) Reload() error {
	if a.auth == nil {
		return nil
	}
	return a.auth.Reload()
}
