package maven

import (
	"strconv"
	"strings"
)

// CompareVersions orders Maven versions as Maven's ComparableVersion does
// (Maven 3.8): "1.9" < "1.10", "1.0-alpha1" < "1.0-rc1" < "1.0-SNAPSHOT" <
// "1.0" = "1.0.0" = "1-ga" < "1.0-sp1" < "1.0.1". nora needs it for the
// order of <versions> and for <latest> and <release>; the client still
// resolves version ranges by its own rules.
func CompareVersions(a, b string) int {
	return parseVersion(a).compare(parseVersion(b))
}

type itemKind int

const (
	intItem itemKind = iota
	stringItem
	listItem
)

// item is one node of a parsed version: a number (digits without leading
// zeros, compared by magnitude however long), a qualifier, or a list.
type item struct {
	kind itemKind
	num  string
	str  string
	list []*item
}

// qualifiers in ascending order; "" is a release. Unknown qualifiers sort
// after all of them, among themselves alphabetically.
var qualifiers = []string{"alpha", "beta", "milestone", "rc", "snapshot", "", "sp"}

var qualifierAliases = map[string]string{"ga": "", "final": "", "release": "", "cr": "rc"}

func newString(s string, followedByDigit bool) *item {
	if followedByDigit && len(s) == 1 {
		switch s {
		case "a":
			s = "alpha"
		case "b":
			s = "beta"
		case "m":
			s = "milestone"
		}
	}
	if a, ok := qualifierAliases[s]; ok {
		s = a
	}
	return &item{kind: stringItem, str: s}
}

func parseItem(digits bool, s string) *item {
	if digits {
		return &item{kind: intItem, num: strings.TrimLeft(s, "0")}
	}
	return newString(s, false)
}

// comparableQualifier makes qualifiers comparable as strings: known ones
// by their rank, unknown ones after every rank.
func comparableQualifier(q string) string {
	for i, k := range qualifiers {
		if k == q {
			return strconv.Itoa(i)
		}
	}
	return strconv.Itoa(len(qualifiers)) + "-" + q
}

var releaseRank = comparableQualifier("")

func (it *item) isNull() bool {
	switch it.kind {
	case intItem:
		return it.num == ""
	case stringItem:
		return comparableQualifier(it.str) == releaseRank
	}
	return len(it.list) == 0
}

// normalize drops trailing null items ("1.0.0" is "1"), looking through
// trailing sub-lists.
func (it *item) normalize() {
	for i := len(it.list) - 1; i >= 0; i-- {
		last := it.list[i]
		if last.isNull() {
			it.list = append(it.list[:i], it.list[i+1:]...)
		} else if last.kind != listItem {
			break
		}
	}
}

func parseVersion(v string) *item {
	v = strings.ToLower(v)
	root := &item{kind: listItem}
	list := root
	stack := []*item{root}
	push := func() {
		l := &item{kind: listItem}
		list.list = append(list.list, l)
		list = l
		stack = append(stack, l)
	}
	add := func(it *item) { list.list = append(list.list, it) }
	zero := func() *item { return &item{kind: intItem} }
	digit := false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.' || c == '-':
			if i == start {
				add(zero())
			} else {
				add(parseItem(digit, v[start:i]))
			}
			start = i + 1
			if c == '-' {
				push()
			}
		case '0' <= c && c <= '9':
			if !digit && i > start {
				// "1.0.X1" is treated as "1.0-X-1".
				if len(list.list) > 0 {
					push()
				}
				add(newString(v[start:i], true))
				start = i
				push()
			}
			digit = true
		default:
			if digit && i > start {
				add(parseItem(true, v[start:i]))
				start = i
				push()
			}
			digit = false
		}
	}
	if len(v) > start {
		if !digit && len(list.list) > 0 {
			push()
		}
		add(parseItem(digit, v[start:]))
	}
	for i := len(stack) - 1; i >= 0; i-- {
		stack[i].normalize()
	}
	return root
}

func compareNum(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// compare orders it against o; a nil o stands for "nothing here" (the
// shorter version ran out), which a null item equals.
func (it *item) compare(o *item) int {
	if o == nil {
		switch it.kind {
		case intItem:
			if it.num == "" {
				return 0
			}
			return 1
		case stringItem:
			return strings.Compare(comparableQualifier(it.str), releaseRank)
		}
		for _, x := range it.list {
			if c := x.compare(nil); c != 0 {
				return c
			}
		}
		return 0
	}
	switch it.kind {
	case intItem:
		if o.kind == intItem {
			return compareNum(it.num, o.num)
		}
		return 1 // a number beats a qualifier and a sub-list
	case stringItem:
		if o.kind == stringItem {
			return strings.Compare(comparableQualifier(it.str), comparableQualifier(o.str))
		}
		return -1
	}
	switch o.kind {
	case intItem:
		return -1
	case stringItem:
		return 1
	}
	for i := 0; i < len(it.list) || i < len(o.list); i++ {
		var l, r *item
		if i < len(it.list) {
			l = it.list[i]
		}
		if i < len(o.list) {
			r = o.list[i]
		}
		var c int
		switch {
		case l == nil:
			c = -r.compare(nil)
		default:
			c = l.compare(r)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
