package auth

import "strings"

// Redaction of the secrets that travel in URLs (tokens, passwords, signed
// CDN links) before a URL or an error that quotes one reaches a log. The
// rule is deliberately broad: a harmless value redacted costs a log reader
// little, a logged token costs the site.

// Redacted stands in for a secret in logs.
const Redacted = "REDACTED"

// secretWords mark a query key as naming a secret when it contains one of
// them, in any case: access_token, X-Amz-Signature, pwd, apiKey, jwt, ...
var secretWords = []string{"pass", "pw", "secret", "token", "key", "auth", "sig", "jwt", "bearer", "credential", "session"}

// maxDecodes bounds how often SecretKey percent-decodes a key.
const maxDecodes = 4

// SecretKey reports whether the query key k, raw as sent, names a secret.
// It looks at k as sent and after each percent-decoding ("%70w" is "pw",
// and a server that decodes twice reads "%2570w" as "pw" too); a key
// still changing after maxDecodes decodings counts as a secret.
func SecretKey(k string) bool {
	for range maxDecodes {
		l := strings.ToLower(k)
		if l == "code" { // an OAuth authorization code
			return true
		}
		for _, w := range secretWords {
			if strings.Contains(l, w) {
				return true
			}
		}
		d := unescape(k)
		if d == k {
			return false
		}
		k = d
	}
	return true
}

// unescape decodes a query key as fasthttp and most servers do: "+" is a
// space, a valid %XX its byte, anything else stays as it is.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// RedactQuery returns the raw query string q with the value of every
// secret-looking key (SecretKey) replaced by Redacted; everything else is
// kept byte for byte. Pairs are split at "&", and within a value at ";"
// as well, for servers that take ";" as a separator. A key without a
// value stays unless it hides one behind an escape ("token%3Ds3cret").
func RedactQuery(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	for i, part := range strings.Split(q, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		redactPair(&b, part, true)
	}
	return b.String()
}

func redactPair(b *strings.Builder, part string, splitValue bool) {
	key, value, hasValue := strings.Cut(part, "=")
	switch {
	case !SecretKey(key):
		if !hasValue || !splitValue || !strings.Contains(value, ";") {
			b.WriteString(part)
			return
		}
		b.WriteString(key)
		b.WriteByte('=')
		for i, p := range strings.Split(value, ";") {
			if i > 0 {
				b.WriteByte(';')
			}
			redactPair(b, p, false)
		}
	case hasValue:
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(Redacted)
	case strings.Contains(key, "%"):
		b.WriteString(Redacted)
	default:
		b.WriteString(part)
	}
}

// RedactURL returns u with the password of its user info and the secrets
// of its query and fragment redacted. u need not parse as a URL.
func RedactURL(u string) string {
	rest, frag, hasFrag := strings.Cut(u, "#")
	base, q, hasQuery := strings.Cut(rest, "?")
	var b strings.Builder
	b.Grow(len(u))
	b.WriteString(redactUserinfo(base))
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(RedactQuery(q))
	}
	if hasFrag {
		b.WriteByte('#')
		b.WriteString(RedactQuery(frag))
	}
	return b.String()
}

// redactUserinfo redacts the password of "scheme://user:password@host/...".
func redactUserinfo(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	authority := s[i+3:]
	if j := strings.IndexByte(authority, '/'); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return s
	}
	user, _, ok := strings.Cut(authority[:at], ":")
	if !ok {
		return s
	}
	return s[:i+3] + user + ":" + Redacted + s[i+3+at:]
}

// RedactText redacts the URLs in free text, such as an error that quotes
// a request line or an upstream URL: every query, from a "?" to the next
// white space or quote (a quote escaped as \" does not end it), goes
// through RedactURL.
func RedactText(s string) string {
	i := strings.IndexByte(s, '?')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i:]
		end := 1
		for ; end < len(s); end++ {
			c := s[end]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\'' || (c == '"' && s[end-1] != '\\') {
				break
			}
		}
		b.WriteString(RedactURL(s[:end]))
		s = s[end:]
		i = strings.IndexByte(s, '?')
	}
	b.WriteString(s)
	return b.String()
}
