package docker

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCapReader(t *testing.T) {
	f := func(body string, left int64, oneByte bool, want string, wantTooLarge bool) {
		t.Helper()
		var r io.Reader = strings.NewReader(body)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		got, err := io.ReadAll(&capReader{r: r, left: left})
		if string(got) != want || errors.Is(err, errTooLarge) != wantTooLarge || (!wantTooLarge && err != nil) {
			t.Fatalf("capReader(%q, %d, oneByte=%v) = %q, %v; want %q, too large %v", body, left, oneByte, got, err, want, wantTooLarge)
		}
	}
	for _, oneByte := range []bool{false, true} {
		f("", 0, oneByte, "", false)
		f("abc", 3, oneByte, "abc", false) // exactly the cap
		f("abc", 10, oneByte, "abc", false)
		f("abcd", 3, oneByte, "abc", true) // one byte over
		f("abcdefgh", 3, oneByte, "abc", true)
		f("a", 0, oneByte, "", true)
		f("", -1, oneByte, "", true) // the session is already past the cap
	}
}
