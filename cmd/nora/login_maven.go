package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// mavenSettings is the settings.xml nora login creates when there is none.
const mavenSettings = `<?xml version="1.0" encoding="UTF-8"?>
<settings>
  <servers>
  </servers>
</settings>
`

// setMavenServer makes <server><id>id</id>... the entry for id in a Maven
// settings.xml: it replaces the old entry of that id, else adds one to
// <servers>, adding <servers> if needed. The rest of the file, comments
// included, is kept byte for byte.
func setMavenServer(old []byte, id, user, pass string) ([]byte, error) {
	if len(bytes.TrimSpace(old)) == 0 {
		old = []byte(mavenSettings)
	}
	s, err := scanMavenSettings(old, id)
	if err != nil {
		return nil, err
	}
	entry := func(indent string) string {
		return indent + "<server>\n" +
			indent + "  <id>" + xmlText(id) + "</id>\n" +
			indent + "  <username>" + xmlText(user) + "</username>\n" +
			indent + "  <password>" + xmlText(pass) + "</password>\n" +
			indent + "</server>"
	}
	switch {
	case s.server != nil:
		// In place: the entry's first line keeps the indentation before it.
		return splice(old, s.server[0], s.server[1], strings.TrimLeft(entry(lineIndent(old, s.server[0])), " \t")), nil
	case s.serversEnd >= 0:
		return insertBeforeClose(old, s.serversEnd, entry), nil
	case s.serversEmpty != nil:
		in := lineIndent(old, s.serversEmpty[0])
		return splice(old, s.serversEmpty[0], s.serversEmpty[1], "<servers>\n"+entry(in+"  ")+"\n"+in+"</servers>"), nil
	case s.settingsEnd >= 0:
		return insertBeforeClose(old, s.settingsEnd, func(in string) string {
			return in + "<servers>\n" + entry(in+"  ") + "\n" + in + "</servers>"
		}), nil
	}
	return nil, errors.New("no <settings> element that could take a <servers> entry")
}

// mavenScan holds byte offsets into a settings.xml; -1 or nil: not there.
type mavenScan struct {
	server       []int // [start, end) of the first <server> whose <id> is the one wanted
	serversEnd   int   // start of </servers>
	serversEmpty []int // [start, end) of <servers/>
	settingsEnd  int   // start of </settings>
}

func scanMavenSettings(doc []byte, id string) (mavenScan, error) {
	s := mavenScan{serversEnd: -1, settingsEnd: -1}
	d := xml.NewDecoder(bytes.NewReader(doc))
	var path []string
	var starts []int64 // of the elements on path
	var serverID strings.Builder
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, fmt.Errorf("not XML: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path, starts = append(path, tok.Name.Local), append(starts, off)
			if strings.Join(path, "/") == "settings/servers/server" {
				serverID.Reset()
			}
		case xml.CharData:
			if strings.Join(path, "/") == "settings/servers/server/id" {
				serverID.Write(tok)
			}
		case xml.EndElement:
			if len(path) == 0 {
				return s, errors.New("not XML: unbalanced end element")
			}
			start := starts[len(starts)-1]
			// A self-closing element's end consumes nothing.
			selfClosing := d.InputOffset() == off
			switch p := strings.Join(path, "/"); {
			case p == "settings/servers/server" && s.server == nil && strings.TrimSpace(serverID.String()) == id:
				s.server = []int{int(start), int(d.InputOffset())}
			case p == "settings/servers" && selfClosing:
				s.serversEmpty = []int{int(start), int(off)}
			case p == "settings/servers":
				s.serversEnd = int(off)
			case p == "settings" && !selfClosing:
				s.settingsEnd = int(off)
			}
			path, starts = path[:len(path)-1], starts[:len(starts)-1]
		}
	}
	return s, nil
}

// insertBeforeClose inserts block(indent) on its own line before the
// closing tag at at; indent is the closing tag's indentation plus two.
func insertBeforeClose(doc []byte, at int, block func(indent string) string) []byte {
	in := lineIndent(doc, at)
	lineStart := at - len(in)
	if lineStart > 0 && doc[lineStart-1] == '\n' {
		return splice(doc, lineStart, lineStart, block(in+"  ")+"\n")
	}
	return splice(doc, at, at, "\n"+block(in+"  ")+"\n"+in)
}

// lineIndent is the run of blanks just before at on its line, when only
// blanks precede at there.
func lineIndent(doc []byte, at int) string {
	i := at
	for i > 0 && (doc[i-1] == ' ' || doc[i-1] == '\t') {
		i--
	}
	if i > 0 && doc[i-1] != '\n' {
		return ""
	}
	return string(doc[i:at])
}

func splice(doc []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(doc)+len(s))
	out = append(out, doc[:from]...)
	out = append(out, s...)
	return append(out, doc[to:]...)
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
