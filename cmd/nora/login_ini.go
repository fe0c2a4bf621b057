package main

import (
	"slices"
	"strings"
)

// iniFile edits an INI file (pip.conf, .pypirc) as Python's configparser
// reads it, line by line, so that comments, order and every other entry
// stay as they were.
type iniFile struct {
	lines []string
}

func parseINI(b []byte) *iniFile {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return &iniFile{}
	}
	return &iniFile{lines: strings.Split(s, "\n")}
}

func (f *iniFile) bytes() []byte { return []byte(strings.Join(f.lines, "\n") + "\n") }

// header returns the section a line opens, if it is a header.
func iniHeader(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if len(t) < 2 || t[0] != '[' || !strings.Contains(t, "]") || startsIndented(line) {
		return "", false
	}
	return strings.TrimSpace(t[1:strings.Index(t, "]")]), true
}

func startsIndented(line string) bool { return line != "" && (line[0] == ' ' || line[0] == '\t') }

// section returns the line range [from, to) of the body of name, the lines
// after its header up to the next header.
func (f *iniFile) section(name string) (from, to int, ok bool) {
	for i, l := range f.lines {
		if s, h := iniHeader(l); h {
			if ok {
				return from, i, true
			}
			if s == name {
				from, ok = i+1, true
			}
		}
	}
	return from, len(f.lines), ok
}

// iniKey returns the key an option line sets (configparser lowercases
// keys; pip also reads '_' as '-').
func iniKey(line string) (string, bool) {
	if line == "" || startsIndented(line) || line[0] == '#' || line[0] == ';' {
		return "", false
	}
	i := strings.IndexAny(line, "=:")
	if i <= 0 {
		return "", false
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(line[:i])), "_", "-"), true
}

// option returns the line range [at, end) of key in section: its line and
// its continuation lines.
func (f *iniFile) option(section, key string) (at, end int, ok bool) {
	from, to, found := f.section(section)
	if !found {
		return 0, 0, false
	}
	key = strings.ReplaceAll(strings.ToLower(key), "_", "-")
	for i := from; i < to; i++ {
		if k, isKey := iniKey(f.lines[i]); isKey && k == key {
			end = i + 1
			for end < to && startsIndented(f.lines[end]) && strings.TrimSpace(f.lines[end]) != "" {
				end++
			}
			return i, end, true
		}
	}
	return 0, 0, false
}

// get returns the value of key in section, continuation lines joined by
// "\n".
func (f *iniFile) get(section, key string) (string, bool) {
	at, end, ok := f.option(section, key)
	if !ok {
		return "", false
	}
	l := f.lines[at]
	vals := []string{strings.TrimSpace(l[strings.IndexAny(l, "=:")+1:])}
	for _, c := range f.lines[at+1 : end] {
		vals = append(vals, strings.TrimSpace(c))
	}
	return strings.TrimSpace(strings.Join(vals, "\n")), true
}

// set makes key = value the option of section (value lines after the
// first are written indented), replacing the key's old value in place or
// adding it at the end of the section, or adding the section at the end
// of the file.
func (f *iniFile) set(section, key, value string) {
	lines := iniOption(key, value)
	if at, end, ok := f.option(section, key); ok {
		f.lines = slices.Replace(f.lines, at, end, lines...)
		return
	}
	from, to, ok := f.section(section)
	if !ok {
		if len(f.lines) > 0 && strings.TrimSpace(f.lines[len(f.lines)-1]) != "" {
			f.lines = append(f.lines, "")
		}
		f.lines = append(f.lines, "["+section+"]")
		f.lines = append(f.lines, lines...)
		return
	}
	// After the section's last non-blank line, before the blank lines that
	// separate it from the next one.
	at := to
	for at > from && strings.TrimSpace(f.lines[at-1]) == "" {
		at--
	}
	f.lines = slices.Insert(f.lines, at, lines...)
}

func iniOption(key, value string) []string {
	vals := strings.Split(value, "\n")
	if len(vals) == 1 {
		return []string{key + " = " + value}
	}
	lines := []string{key + " ="}
	for _, v := range vals {
		lines = append(lines, "    "+v)
	}
	return lines
}
