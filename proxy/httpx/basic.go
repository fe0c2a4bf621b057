package httpx

import (
	"bytes"
	"encoding/base64"
)

// The reasons ParseBasic gives; docker sends them to the client as they are.
const (
	ReasonNotBasic       = "unsupported authorization scheme"
	ReasonMalformedBasic = "malformed Basic credentials"
)

// ParseBasic is the one parser of Basic credentials: hdr is an
// Authorization header ("Basic <base64 of user:password>", the scheme in
// any case). reason is why hdr holds no well-formed Basic credentials
// ("" when it does). An empty user and password parse: what they mean
// (containers/image sends them for "no login") is the caller's to say.
func ParseBasic(hdr []byte) (user, pass, reason string) {
	scheme, value, _ := bytes.Cut(bytes.TrimSpace(hdr), []byte(" "))
	if !bytes.EqualFold(scheme, []byte("Basic")) {
		return "", "", ReasonNotBasic
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(value)))
	if err != nil {
		return "", "", ReasonMalformedBasic
	}
	u, p, ok := bytes.Cut(raw, []byte(":"))
	if !ok {
		return "", "", ReasonMalformedBasic
	}
	return string(u), string(p), ""
}
