package proxytest

import (
	"bytes"
	"log/slog"
	"sync"

	"nora/proxy"
)

// Log keeps what a test nora logs (StartLogged with Log.Logger()), for
// tests that check what went to the log rather than to the client.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Logger is a JSON logger that writes to l.
func (l *Log) Logger() *slog.Logger { return slog.New(proxy.NewLogHandler(l, nil)) }

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
