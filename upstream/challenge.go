package upstream

import "strings"

// challenge is one auth challenge of a WWW-Authenticate header:
// `Bearer realm="https://auth.example/token",service="x",scope="repository:a/b:pull"`.
type challenge struct {
	scheme string // lower case: "bearer", "basic"
	params map[string]string
}

// parseChallenges parses WWW-Authenticate values (RFC 9110 11.6.1). Several
// challenges may share one value; quoted values may hold commas. It never
// fails: what it cannot read it skips.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		p := challengeParser{s: v}
		inValue := false // a challenge of this value is open for params
		for {
			p.skip(" \t,")
			if p.i >= len(p.s) {
				break
			}
			tok := p.token()
			if tok == "" {
				p.i++ // not a token character: skip it
				continue
			}
			p.skip(" \t")
			if p.i < len(p.s) && p.s[p.i] == '=' {
				p.i++
				p.skip(" \t")
				v := p.value()
				if inValue {
					out[len(out)-1].params[strings.ToLower(tok)] = v
				}
				continue
			}
			out = append(out, challenge{scheme: strings.ToLower(tok), params: map[string]string{}})
			inValue = true
		}
	}
	return out
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) skip(chars string) {
	for p.i < len(p.s) && strings.IndexByte(chars, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a quoted-string (with backslash escapes) or a token.
func (p *challengeParser) value() string {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return p.token()
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && p.i < len(p.s):
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String() // unterminated: take what is there
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// find returns the first challenge with the given scheme.
func findChallenge(cs []challenge, scheme string) (challenge, bool) {
	for _, c := range cs {
		if c.scheme == scheme {
			return c, true
		}
	}
	return challenge{}, false
}
