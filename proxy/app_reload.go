package proxy

// Reload rereads what can change while nora serves (SIGHUP): the [auth]
// htpasswd file. The listener, storage and upstreams are fixed for the
// life of the process; changing them needs a restart. When the file cannot
// be read, the users loaded before stay in force and the error says why.
func (a *App) Reload() error {
	if a.auth == nil {
		return nil
	}
	return a.auth.Reload()
}
