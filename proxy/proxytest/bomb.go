package proxytest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
)

// DeflateBomb is raw deflate data of prefix, mib MiB of the byte fill and
// suffix, with the CRC-32 and length of what it inflates to: about a
// thousandth of that length. The MiB of fill is compressed once and
// repeated (compressing a GiB takes a minute under the race detector):
// each part comes from a fresh compressor, so it refers back only within
// itself.
func DeflateBomb(prefix []byte, fill byte, mib int, suffix []byte) ([]byte, uint32, int64) {
	part := func(p []byte, last bool) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		w.Write(p)
		if last {
			w.Close()
		} else {
			w.Flush()
		}
		return b.Bytes()
	}
	block := bytes.Repeat([]byte{fill}, 1<<20)
	raw := append(part(prefix, false), bytes.Repeat(part(block, false), mib)...)
	raw = append(raw, part(suffix, true)...)
	crc := crc32.NewIEEE()
	crc.Write(prefix)
	for range mib {
		crc.Write(block)
	}
	crc.Write(suffix)
	return raw, crc.Sum32(), int64(len(prefix)) + int64(mib)<<20 + int64(len(suffix))
}

// GzipBomb is DeflateBomb as a gzip stream.
func GzipBomb(prefix []byte, fill byte, mib int, suffix []byte) []byte {
	raw, crc, size := DeflateBomb(prefix, fill, mib, suffix)
	gz := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, raw...)
	gz = binary.LittleEndian.AppendUint32(gz, crc)
	return binary.LittleEndian.AppendUint32(gz, uint32(size))
}
