package docker

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	f := func(s string, start, end int64, ok bool) {
		t.Helper()
		gs, ge, gok := parseContentRange(s)
		if gok != ok || (ok && (gs != start || ge != end)) {
			t.Fatalf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", s, gs, ge, gok, start, end, ok)
		}
	}
	f("0-99", 0, 99, true)
	f("100-100", 100, 100, true)
	f(" 5-9 ", 5, 9, true)
	f("bytes 0-99", 0, 99, true)
	f("bytes=0-99", 0, 99, true)
	f("bytes 0-99/100", 0, 99, true)
	f("bytes 0-99/*", 0, 99, true)
	f("BYTES 1-2", 1, 2, true)
	f("9223372036854775806-9223372036854775807", 9223372036854775806, 9223372036854775807, true)

	f("", 0, 0, false)
	f("5-4", 0, 0, false)
	f("-5", 0, 0, false)
	f("5-", 0, 0, false)
	f("a-b", 0, 0, false)
	f("+1-2", 0, 0, false)
	f("1--2", 0, 0, false)
	f("0-99/x", 0, 0, false)
	f("bytes0-1", 0, 0, false)
	f("99999999999999999999-99999999999999999999", 0, 0, false)
	f("0-1,2-3", 0, 0, false)
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-99", "bytes 0-99/100", "bytes=1-2", "5-4", "-1", "9223372036854775807-9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, ok := parseContentRange(s)
		if !ok {
			return
		}
		if start < 0 || end < start {
			t.Fatalf("parseContentRange(%q) = %d, %d", s, start, end)
		}
		// What was accepted names the same numbers the client wrote.
		if !strings.Contains(s, strconv.FormatInt(start, 10)) || !strings.Contains(s, strconv.FormatInt(end, 10)) {
			t.Fatalf("parseContentRange(%q) = %d, %d: numbers not in the input", s, start, end)
		}
	})
}
