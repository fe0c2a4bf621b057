package auth

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
)

// Permission is one grant of DESIGN 3.2: ACTION:GLOB or
// ACTION:FORMAT:GLOB, the glob matched against a repository or package
// name with "/" as separator ("*" within a segment, "**" across).
type Permission struct {
	Action Action
	Format string // "" for every format
	Glob   string
	g      *glob.Pattern
}

// formats are the FORMAT words a permission may name.
var formats = map[string]bool{"docker": true, "npm": true, "pypi": true, "maven": true, "cargo": true}

// ParsePermission parses "push:frontend/**" or "push:npm:@frontend/*".
func ParsePermission(s string) (Permission, error) {
	parts := strings.SplitN(s, ":", 3)
	var p Permission
	switch len(parts) {
	case 2:
		p.Action, p.Glob = Action(parts[0]), parts[1]
	case 3:
		p.Action, p.Format, p.Glob = Action(parts[0]), parts[1], parts[2]
		if !formats[p.Format] {
			return Permission{}, fmt.Errorf("permission %q: unknown format %q (want docker, npm, pypi, maven or cargo)", s, p.Format)
		}
	default:
		return Permission{}, fmt.Errorf("permission %q: want ACTION:GLOB or ACTION:FORMAT:GLOB", s)
	}
	switch p.Action {
	case Pull, Push, Delete, Admin:
	default:
		return Permission{}, fmt.Errorf("permission %q: unknown action %q (want pull, push, delete or admin)", s, p.Action)
	}
	if p.Glob == "" {
		return Permission{}, fmt.Errorf("permission %q: empty glob", s)
	}
	g, err := glob.Compile(p.Glob, '/')
	if err != nil {
		return Permission{}, fmt.Errorf("permission %q: invalid glob: %v", s, err)
	}
	p.g = g
	return p, nil
}

// ParsePermissions parses a list of permissions.
func ParsePermissions(ss []string) ([]Permission, error) {
	out := make([]Permission, 0, len(ss))
	for _, s := range ss {
		p, err := ParsePermission(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// String is the permission as written.
func (p Permission) String() string {
	if p.Format == "" {
		return string(p.Action) + ":" + p.Glob
	}
	return string(p.Action) + ":" + p.Format + ":" + p.Glob
}

// implies reports whether holding action a grants want: admin grants
// everything, push grants pull.
func implies(a, want Action) bool {
	return a == want || a == Admin || (a == Push && want == Pull)
}

// Grants reports whether p allows action on name in format.
func (p Permission) Grants(action Action, format, name string) bool {
	return implies(p.Action, action) && (p.Format == "" || p.Format == format) && p.g != nil && p.g.Match(name)
}

// Permits reports whether any of ps allows action on name in format.
func Permits(ps []Permission, action Action, format, name string) bool {
	for _, p := range ps {
		if p.Grants(action, format, name) {
			return true
		}
	}
	return false
}
