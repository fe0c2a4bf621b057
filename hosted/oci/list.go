package oci

import (
	"slices"
)

// page returns up to n of the sorted keys after last; more is true when
// keys remain. keep filters keys (nil keeps all).
func page(sorted []string, last string, n int, keep func(k string) bool) (keys []string, more bool) {
	i := 0
	if last != "" {
		i, _ = slices.BinarySearch(sorted, last)
		if i < len(sorted) && sorted[i] == last {
			i++
		}
	}
	keys = []string{}
	for _, k := range sorted[i:] {
		if keep != nil && !keep(k) {
			continue
		}
		if len(keys) == n {
			return keys, true
		}
		keys = append(keys, k)
	}
	return keys, false
}

// Tags lists up to n tags of repository name in lexical order, starting
// after last; more reports whether another page follows. One listing of
// the repository's tags in the store. Errors: ErrNameUnknown.
func (r *Registry) Tags(name, last string, n int) (tags []string, more bool, err error) {
	if err := r.inRepo(name); err != nil {
		return nil, false, err
	}
	ctx, cancel := r.opCtx()
	defer cancel()
	all, err := r.listDir(ctx, repoDir(name, tagsDir))
	if err != nil {
		return nil, false, err
	}
	tags, more = page(all, last, n, nil)
	return tags, more, nil
}

// Repositories lists up to n hosted repositories in lexical order, starting
// after last, keeping those keep accepts (nil: all). The list is read
// through to the store: a repository created on another instance is in it.
func (r *Registry) Repositories(last string, n int, keep func(name string) bool) (names []string, more bool, err error) {
	names, more = page(r.hostedNames(), last, n, keep)
	return names, more, nil
}
