package oci

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"
)

func TestLinkValues(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 5, time.UTC)
	legacy := binary.BigEndian.AppendUint64(nil, 42)
	f := func(v []byte, wantSize int64, wantTime time.Time) {
		t.Helper()
		if got := decodeSize(v); got != wantSize {
			t.Errorf("decodeSize(%x) = %d, want %d", v, got, wantSize)
		}
		if got := decodeLinkTime(v); !got.Equal(wantTime) {
			t.Errorf("decodeLinkTime(%x) = %v, want %v", v, got, wantTime)
		}
	}
	f(encodeLink(42, at), 42, at)
	f(legacy, 42, time.Time{}) // links from before the time was kept
	f(nil, -1, time.Time{})
	f([]byte("short"), -1, time.Time{})
}

// Records written before times were kept decode with zero times: the
// oldest, for retention and GC alike.
func TestLegacyRecords(t *testing.T) {
	var tr tagRecord
	if err := json.Unmarshal([]byte(`{"digest":"sha256:ab","mediaType":"x"}`), &tr); err != nil || !tr.Created.IsZero() {
		t.Fatalf("legacy tag: %+v %v", tr, err)
	}
	var mr manifestRecord
	if err := json.Unmarshal([]byte(`{"mediaType":"x","size":3}`), &mr); err != nil || !mr.Put.IsZero() {
		t.Fatalf("legacy manifest: %+v %v", mr, err)
	}
}
