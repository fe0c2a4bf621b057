package proxy_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"nora/proxy/proxytest"
)

// crateBomb is a .crate (a gzipped tar) whose Cargo.toml is mib MiB of
// zeros, a thousandth of that on the wire.
func crateBomb(t *testing.T, root string, mib int) []byte {
	t.Helper()
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: root + "/Cargo.toml", Mode: 0o644, Size: int64(mib) << 20, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	// The data fills whole blocks; two zero blocks end the archive.
	return proxytest.GzipBomb(hdr.Bytes(), 0, mib, make([]byte, 1024))
}

// wheelBomb is a wheel whose METADATA is mib MiB of zeros, deflated; a
// lying one says it is 100 bytes.
func wheelBomb(t *testing.T, dist, version string, mib int, lying bool) []byte {
	t.Helper()
	raw, crc, size := proxytest.DeflateBomb([]byte("Metadata-Version: 2.1\nName: "+dist+"\nVersion: "+version+"\nSummary: "), 0, mib, nil)
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	fh := &zip.FileHeader{Name: dist + "-" + version + ".dist-info/METADATA", Method: zip.Deflate,
		CRC32: crc, CompressedSize64: uint64(len(raw)), UncompressedSize64: uint64(size)}
	if lying {
		fh.UncompressedSize64 = 100
	}
	w, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	zw.Close()
	return b.Bytes()
}

// Decompression bombs in what nora inflates to check a publish: a .crate
// whose Cargo.toml unpacks to 600 MiB (past the 512 MiB a crate may
// unpack to) and a wheel whose METADATA inflates to 600 MiB (past the
// 4 MiB nora keeps). Each is refused in its format's error, with the heap
// bounded and nothing stored.
func TestHostileBombs(t *testing.T) {
	n := startHostileBodies(t)
	before := storedFiles(t, n)
	basic := "Basic " + basicOf(hostileUser, hostilePass)
	send := func(method, target, ctype string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.URL+target, bytes.NewReader(body))
		req.Header.Set("Authorization", basic)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const bombMiB = 600

	crate := crateBomb(t, "bomb-1.0.0", bombMiB)
	meta, _ := json.Marshal(map[string]any{"name": "bomb", "vers": "1.0.0", "deps": []any{}, "features": map[string]any{}})
	body := binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))
	body = binary.LittleEndian.AppendUint32(append(body, meta...), uint32(len(crate)))
	body = append(body, crate...)
	var status int
	var msg string
	grew := heapGrowth(func() { status, msg = send("PUT", "/cargo/api/v1/crates/new", "application/octet-stream", body) })
	t.Logf("crate bomb of %d KiB: %d %s; heap grew %d MiB", len(crate)>>10, status, msg, grew>>20)
	if status != 400 || !strings.Contains(msg, `"errors"`) || !strings.Contains(msg, "unpacks to more than") {
		t.Fatalf("crate bomb: %d %s", status, msg)
	}
	if grew > 64<<20 {
		t.Fatalf("crate bomb: the heap grew by %d MiB", grew>>20)
	}

	for _, lying := range []bool{false, true} {
		wheel := wheelBomb(t, "bomb", "1.0", bombMiB, lying)
		form, ctype := wheelForm(t, "bomb", "1.0", "bomb-1.0-py3-none-any.whl", wheel)
		grew = heapGrowth(func() { status, msg = send("POST", "/simple/", ctype, form) })
		t.Logf("wheel bomb of %d KiB (lying %v): %d %s; heap grew %d MiB", len(wheel)>>10, lying, status, msg, grew>>20)
		if status != 400 || !strings.Contains(msg, "METADATA") {
			t.Fatalf("wheel bomb (lying %v): %d %s", lying, status, msg)
		}
		if grew > 64<<20 {
			t.Fatalf("wheel bomb: the heap grew by %d MiB", grew>>20)
		}
	}

	n.WaitNoTempFiles(t, 10*time.Second)
	for f := range storedFiles(t, n) {
		if !before[f] {
			t.Errorf("stored after refused bombs: %s", f)
		}
	}
}

// wheelForm is a legacy upload of a wheel, as twine sends it.
func wheelForm(t *testing.T, name, version, filename string, data []byte) ([]byte, string) {
	t.Helper()
	sum, m := sha256.Sum256(data), md5.Sum(data)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range [][2]string{{":action", "file_upload"}, {"protocol_version", "1"}, {"name", name}, {"version", version},
		{"filetype", "bdist_wheel"}, {"pyversion", "py3"}, {"metadata_version", "2.1"},
		{"sha256_digest", hex.EncodeToString(sum[:])}, {"md5_digest", hex.EncodeToString(m[:])}} {
		mw.WriteField(kv[0], kv[1])
	}
	w, _ := mw.CreateFormFile("content", filename)
	w.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}
