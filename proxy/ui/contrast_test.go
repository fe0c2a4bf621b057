package ui

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestContrast checks the stylesheet's documented colour pairs (text on
// background) for a WCAG contrast of 4.5:1 or more, and that every colour
// the rules use is one of the palette's custom properties.
func TestContrast(t *testing.T) {
	css := string(Stylesheet)
	palette := map[string]string{}
	for _, m := range regexp.MustCompile(`(--[a-z-]+):\s*(#[0-9a-fA-F]{6});`).FindAllStringSubmatch(css, -1) {
		palette[m[1]] = m[2]
	}
	pairs := regexp.MustCompile(`pair: (--[a-z-]+) on (--[a-z-]+)`).FindAllStringSubmatch(css, -1)
	if len(palette) < 5 || len(pairs) < 5 {
		t.Fatalf("palette %v, pairs %v: the stylesheet's header went missing", palette, pairs)
	}
	texts, backs := map[string]bool{}, map[string]bool{}
	for _, p := range pairs {
		fg, bg := palette[p[1]], palette[p[2]]
		if fg == "" || bg == "" {
			t.Errorf("pair %s on %s: not in the palette", p[1], p[2])
			continue
		}
		texts[p[1]], backs[p[2]] = true, true
		if r := contrast(fg, bg); r < 4.5 {
			t.Errorf("%s (%s) on %s (%s): contrast %.2f, want >= 4.5", p[1], fg, p[2], bg, r)
		}
	}
	// Outside :root no colour is written out, and each one used is in a pair.
	rules := css[strings.Index(css, "}")+1:]
	rules = rules[strings.Index(rules, "}")+1:] // past the comment and :root
	if regexp.MustCompile(`#[0-9a-fA-F]{3,6}\b|rgb\(`).MatchString(rules) {
		t.Error("a colour is written out outside the palette")
	}
	for _, m := range regexp.MustCompile(`(?:^|[;{ ])(color|background):\s*var\((--[a-z-]+)\)`).FindAllStringSubmatch(rules, -1) {
		if m[1] == "color" && !texts[m[2]] {
			t.Errorf("color: var(%s) is in no checked pair", m[2])
		}
		if m[1] == "background" && !backs[m[2]] {
			t.Errorf("background: var(%s) is in no checked pair", m[2])
		}
	}
}

// contrast is WCAG 2's contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	ch := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(0) + 0.7152*ch(1) + 0.0722*ch(2)
}

func TestContrastFormula(t *testing.T) {
	f := func(a, b string, want float64) {
		t.Helper()
		if got := contrast(a, b); math.Abs(got-want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", a, b, got, want)
		}
	}
	f("#000000", "#ffffff", 21)
	f("#ffffff", "#ffffff", 1)
	f("#777777", "#ffffff", 4.48) // the classic grey that just fails
}
