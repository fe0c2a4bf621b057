package cargo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
)

// Crates lists the hosted crate names as first published, sorted.
func (r *Registry) Crates() []string { return r.names.List() }

// Versions returns the index lines of hosted crate name in published
// order. Errors: fault.NotFound (Index).
func (r *Registry) Versions(ctx context.Context, name string) ([]IndexEntry, error) {
	b, err := r.Index(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []IndexEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for sc.Scan() {
		var e IndexEntry
		if len(bytes.TrimSpace(sc.Bytes())) == 0 || json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
