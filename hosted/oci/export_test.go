package oci

import "time"

// SetClock makes r record links and manifest puts at the times now says.
func SetClock(r *Registry, now func() time.Time) { r.now = now }
