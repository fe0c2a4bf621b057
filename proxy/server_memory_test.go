package proxy

import (
	"testing"

	"nora/proxy/sitetls"
)

// A plain listener's idle connections give their buffers back between
// requests (fasthttp's ReduceMemoryUsage); a TLS one keeps them, so that a
// failed handshake is still logged (TestTLSWrongProtocol).
func TestServerReducesIdleMemory(t *testing.T) {
	plain := NewServer(DefaultConfig(), nil, nil)
	if !plain.fs.ReduceMemoryUsage {
		t.Error("plain listener: idle connections keep their buffers")
	}
	cfg := DefaultConfig()
	cfg.TLS.Mode = sitetls.ModeAuto
	if NewServer(cfg, nil, nil).fs.ReduceMemoryUsage {
		t.Error("TLS: idle connections give their buffers back, and a failed handshake goes unlogged")
	}
}
