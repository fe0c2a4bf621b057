package tenant

import "nora/auth"

// match is the tenant of the first prefix matching name in format, or
// nil. A linear scan: a box has a handful of tenants and a compiled
// glob matches in tens of nanoseconds.
func (s *Set) match(format, name string) *Tenant {
	for i := range s.prefixes {
		p := &s.prefixes[i]
		if (p.format == "" || p.format == format) && p.g.Match(name) {
			return p.t
		}
	}
	return nil
}

// bySubject is the first tenant (in configuration order) whose subjects
// name one of id's, or nil.
func (s *Set) bySubject(id *auth.Identity) *Tenant {
	if id == nil || len(s.subjects) == 0 {
		return nil
	}
	best := -1
	for _, sub := range id.Subjects {
		if i, ok := s.subjects[sub]; ok && (best < 0 || i < best) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return s.tenants[best]
}
