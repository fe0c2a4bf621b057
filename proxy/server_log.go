package proxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The access line is written once per request: through slog's JSON
// handler it cost more than the rest of a warm manifest GET (an
// allocation per attribute, json.Marshal for the duration). LogHandler
// is slog's JSON handler that also lets the Server append the access
// line itself, byte for byte as slog writes it (server_log_test.go
// compares the two).

// LogHandler is slog.NewJSONHandler(w, opts) whose access lines the
// Server writes without slog's per-line cost. Build the logger given to
// NewApp or NewServer with it. When w is a file (stdout), lines are written
// behind the replies (server_log_writer.go): call Flush before exiting.
type LogHandler struct {
	*slog.JSONHandler
	w   *logWriter
	rep func(groups []string, a slog.Attr) slog.Attr
}

// NewLogHandler returns slog.NewJSONHandler(w, opts) as a LogHandler.
func NewLogHandler(w io.Writer, opts *slog.HandlerOptions) *LogHandler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	lw := newLogWriter(w)
	return &LogHandler{JSONHandler: slog.NewJSONHandler(lw, opts), w: lw, rep: opts.ReplaceAttr}
}

// Flush returns once every line logged before it is written.
func (h *LogHandler) Flush() { h.w.Flush() }

// Handle writes r; a warning or an error is written at once, with the
// lines before it.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	return urgent{h.JSONHandler, h.w}.Handle(ctx, r)
}

// WithAttrs and WithGroup return slog's handlers, which write warnings and
// errors at once as well. They are not LogHandlers: the Server's access
// line would leave their attributes out.
func (h *LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return urgent{h.JSONHandler, h.w}.WithAttrs(as)
}

func (h *LogHandler) WithGroup(name string) slog.Handler {
	return urgent{h.JSONHandler, h.w}.WithGroup(name)
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// logLine is one line under way: its attributes are appended in order;
// ok turns false when ReplaceAttr changed one, and the caller logs the
// line through slog instead.
type logLine struct {
	buf *[]byte
	now bool // a warning or an error: written at once
	rep func(groups []string, a slog.Attr) slog.Attr
	ok  bool
}

// accessLine starts the line of msg at level, or returns false when the
// handler would not write it or a plain slog line is needed.
func (h *LogHandler) accessLine(level slog.Level, msg string) (logLine, bool) {
	if !h.Enabled(context.Background(), level) {
		return logLine{}, false
	}
	l := logLine{buf: lineBufs.Get().(*[]byte), rep: h.rep, ok: true, now: level >= slog.LevelWarn}
	b := append((*l.buf)[:0], '{')
	t := time.Now().Round(0)
	if y := t.Year(); y < 0 || y >= 10000 || !l.same(slog.Time(slog.TimeKey, t)) ||
		!l.same(slog.Any(slog.LevelKey, level)) || !l.same(slog.String(slog.MessageKey, msg)) {
		lineBufs.Put(l.buf)
		return logLine{}, false
	}
	b = append(b, `"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = appendJSONString(b, level.String())
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, msg)
	*l.buf = b
	return l, true
}

// same reports whether ReplaceAttr leaves a alone.
func (l *logLine) same(a slog.Attr) bool {
	return l.rep == nil || l.rep(nil, a).Equal(a)
}

func (l *logLine) key(k string) []byte {
	b := append(*l.buf, ',')
	b = appendJSONString(b, k)
	return append(b, ':')
}

func (l *logLine) str(k, v string) {
	if l.ok = l.ok && l.same(slog.String(k, v)); l.ok {
		*l.buf = appendJSONString(l.key(k), v)
	}
}

func (l *logLine) int(k string, v int64) {
	if l.ok = l.ok && l.same(slog.Int64(k, v)); l.ok {
		*l.buf = strconv.AppendInt(l.key(k), v, 10)
	}
}

// float writes v as json.Marshal does (which slog calls).
func (l *logLine) float(k string, v float64) {
	if l.ok = l.ok && l.same(slog.Float64(k, v)); !l.ok {
		return
	}
	b := l.key(k)
	if v == 0 || (v >= 1e-6 && v < 1e21) {
		*l.buf = strconv.AppendFloat(b, v, 'f', -1, 64)
		return
	}
	j, err := json.Marshal(v)
	if err != nil {
		l.ok = false
		return
	}
	*l.buf = append(b, j...)
}

// write ends the line and writes it; false if a plain slog line is needed
// (nothing was written).
func (h *LogHandler) write(l logLine) bool {
	defer lineBufs.Put(l.buf)
	if !l.ok {
		return false
	}
	*l.buf = append(*l.buf, '}', '\n')
	_, _ = h.w.Write(*l.buf)
	if l.now {
		h.w.kick()
	}
	return true
}

// appendJSONString appends s quoted and escaped as slog's JSON handler
// does: ", \ and control bytes escaped, invalid UTF-8 as \ufffd, U+2028
// and U+2029 escaped, nothing else (not <, > or &).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
