package npm

import (
	"nora/cache"
	"nora/internal/fault"
)

// Store keys of the hosted npm state. A package name is one path segment,
// or two for a scoped one; packages live under their own prefix, so no
// name can reach names.json.
const (
	namesKey      = "hosted/npm/names.json"
	packagePrefix = "hosted/npm/packages/"
	stateFile     = "/state.json"
)

// stateKey is the key of name's state object.
func stateKey(name string) (string, error) {
	if !ValidName(name) {
		return "", errorf(fault.Invalid, "invalid package name %q", name)
	}
	key := packagePrefix + name + stateFile
	if err := cache.CheckKey(key); err != nil {
		return "", errorf(fault.Invalid, "invalid package name %q", name)
	}
	return key, nil
}
