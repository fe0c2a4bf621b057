package auth

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestSecretKey(t *testing.T) {
	f := func(key string, want bool) {
		t.Helper()
		if got := SecretKey(key); got != want {
			t.Fatalf("SecretKey(%q) = %v, want %v", key, got, want)
		}
	}
	for _, k := range []string{"pw", "PW", "pwd", "jwt", "bearer", "Bearer", "token", "access_token", "refresh_token",
		"id_token", "password", "passwd", "PASS", "client_secret", "api_key", "apiKey", "key", "auth", "authorization",
		"sig", "signature", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "credentials", "session",
		"sessionid", "code", "CODE", "my-jwt-here"} {
		f(k, true)
	}
	f("%70w", true)         // "pw"
	f("%2570w", true)       // "pw" to a server that decodes twice
	f("%2525252570w", true) // still changing after maxDecodes decodings
	f("tok%65n", true)
	f("to%6Ben", true)
	f("%6a%77%74", true) // "jwt"
	f("pa+ss", false)    // "pa ss"
	f("%ebearer", true)  // "bearer" as sent, not once decoded
	f("tok%zzen", false)
	for _, k := range []string{"", "n", "last", "ns", "scope", "service", "account", "digest", "mount", "from",
		"client_id", "format", "q", "page", "codes", "tag"} {
		f(k, false)
	}
}

func TestRedactQuery(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := RedactQuery(in); got != want {
			t.Fatalf("RedactQuery(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("n=5&last=abc", "n=5&last=abc")
	f("pw=hunter2", "pw=REDACTED")
	f("jwt=eyJ.x.y", "jwt=REDACTED")
	f("bearer=abc", "bearer=REDACTED")
	f("Bearer=abc&PW=x&Jwt=y", "Bearer=REDACTED&PW=REDACTED&Jwt=REDACTED")
	f("%70w=hunter2", "%70w=REDACTED")
	f("%2570w=hunter2", "%2570w=REDACTED")
	f("p%77=x&%6A%57%54=y", "p%77=REDACTED&%6A%57%54=REDACTED")
	f("token=a&token=b&n=1&token=c", "token=REDACTED&token=REDACTED&n=1&token=REDACTED")
	f("token", "token")             // a key without a value
	f("token=", "token=REDACTED")   // an empty value
	f("token%3Ds3cret", "REDACTED") // a value behind an escaped "="
	f("token==x", "token=REDACTED") // the value starts with "="
	f("a=1;token=x", "a=1;token=REDACTED")
	f("a=1;b;pw=x;c=2", "a=1;b;pw=REDACTED;c=2")
	f("token;a=1", "token;a=REDACTED")
	f("a%3Btoken=x", "a%3Btoken=REDACTED")
	f("x=token", "x=token") // a secret word in a value is no secret
	f("ns=registry.example&scope=repository:a:pull", "ns=registry.example&scope=repository:a:pull")
	f("X-Amz-Credential=AK%2F1&X-Amz-Signature=ab&X-Amz-Expires=300", "X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=300")
	f("&&", "&&")
	f("=x", "=x")
	f("&pw=x&", "&pw=REDACTED&")
}

func TestRedactURL(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := RedactURL(in); got != want {
			t.Fatalf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	f("https://cdn.example/b/sha256:ab?sig=x&expires=1", "https://cdn.example/b/sha256:ab?sig=REDACTED&expires=1")
	f("https://u:p@h.example/x?a=1", "https://u:REDACTED@h.example/x?a=1")
	f("https://u@h.example/x", "https://u@h.example/x")
	f("https://h.example/x@y:z", "https://h.example/x@y:z")
	f("/v2/x/blobs/uploads/?token=t", "/v2/x/blobs/uploads/?token=REDACTED")
	f("/cb#access_token=t&state=s", "/cb#access_token=REDACTED&state=s")
	f("/cb?a=1#pw=x", "/cb?a=1#pw=REDACTED")
	f("/plain/path", "/plain/path")
	f("", "")
}

func TestRedactText(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := RedactText(in); got != want {
			t.Fatalf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
	f(`cannot find whitespace in the first line of request "GET /x?token=s3cret\r\n\r\n"`,
		`cannot find whitespace in the first line of request "GET /x?token=REDACTED"`)
	f(`invalid request uri "/x?pw=a b" in "GET /x?pw=a b HTTP/1.1"`, `invalid request uri "/x?pw=REDACTED b" in "GET /x?pw=REDACTED b HTTP/1.1"`)
	f(`Get "https://cdn.example/blob?X-Amz-Signature=abc&n=1": dial tcp: timeout`,
		`Get "https://cdn.example/blob?X-Amz-Signature=REDACTED&n=1": dial tcp: timeout`)
	f(`"GET /x?a=\"&jwt=s3cret HTTP/1.1"`, `"GET /x?a=\"&jwt=REDACTED HTTP/1.1"`)
	f("why? no secret here", "why? no secret here")
	f("a?pw=1 and b?token=2", "a?pw=REDACTED and b?token=REDACTED")
	f("no query", "no query")
}

// oracleSecret is the rule written plainly, applied to a key as a server
// decodes it once.
func oracleSecret(k string) bool {
	k = strings.ToLower(k)
	if k == "code" {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{"pw=x", "a=1&token=2", "%70w=x", "token%3Dx", "a=1;jwt=2", "k", "&&=", "%2570w=x",
		"x;bearer=y&z", "a=b=c;session=d", "%ebearer=x", "sig=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := RedactQuery(q)
		if strings.Count(out, "&") != strings.Count(q, "&") {
			t.Fatalf("RedactQuery(%q) = %q: pairs changed", q, out)
		}
		if again := RedactQuery(out); again != out {
			t.Fatalf("RedactQuery(%q) = %q, then %q", q, out, again)
		}
		// As fasthttp parses it ("&" only), and as a server that splits
		// at ";" as well would: no secret-looking key keeps a value, and
		// none hides one behind an escaped "=".
		check := func(k, v string) {
			if oracleSecret(k) && v != Redacted && (v != "" || strings.Contains(k, "=")) {
				t.Fatalf("RedactQuery(%q) = %q leaves %q=%q", q, out, k, v)
			}
		}
		var args fasthttp.Args
		args.Parse(out)
		for k, v := range args.All() {
			check(string(k), string(v))
		}
		for part := range strings.FieldsFuncSeq(out, func(r rune) bool { return r == '&' || r == ';' }) {
			k, v, _ := strings.Cut(part, "=")
			check(unescape(k), v)
		}
	})
}

func FuzzRedactText(f *testing.F) {
	f.Add(`first line of request "GET /x?token=s3cret\r\n"`)
	f.Add(`Get "https://h/x?sig=a#pw=b": EOF`)
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactText(s)
		if again := RedactText(out); again != out {
			t.Fatalf("RedactText(%q) = %q, then %q", s, out, again)
		}
	})
}
