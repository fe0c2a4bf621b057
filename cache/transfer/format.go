package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"time"
)

// A backup is a PAX tar stream:
//   - nora-backup.json first: {"format": 1, "created": ...};
//   - store/<key> for each store object, local/<path> for each state file
//     of the storage path (its mode kept);
//   - each of these entries with its sha256 in the PAX record NORA.sha256;
//   - nora-backup-end.json last: how many entries and bytes came before
//     it, and a digest over their names and sums in order, so that a
//     truncated stream, and a renamed or lost entry, are told apart from a
//     whole one.
const (
	formatVersion = 1
	headerName    = "nora-backup.json"
	endName       = "nora-backup-end.json"
	storePrefix   = "store/"
	localPrefix   = "local/"
	paxSHA256     = "NORA.sha256"
)

type backupHeader struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
}

type backupEnd struct {
	Entries int64  `json:"entries"`
	Bytes   int64  `json:"bytes"`
	Digest  string `json:"digest"`
}

// tally counts the entries of a backup as they pass, for its end record.
type tally struct {
	entries, bytes int64
	h              hash.Hash
}

func (t *tally) add(name, sum string, size int64) {
	if t.h == nil {
		t.h = sha256.New()
	}
	t.h.Write([]byte(name + "\x00" + sum + "\n"))
	t.entries++
	t.bytes += size
}

func (t *tally) end() backupEnd {
	if t.h == nil {
		t.h = sha256.New()
	}
	return backupEnd{Entries: t.entries, Bytes: t.bytes, Digest: hex.EncodeToString(t.h.Sum(nil))}
}
