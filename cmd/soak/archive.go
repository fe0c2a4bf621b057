package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
)

// tgz is a gzipped tar of files (name, body pairs), as npm and cargo
// pack a package.
func tgz(files ...string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for i := 0; i+1 < len(files); i += 2 {
		tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

// wheel is a minimal pure-Python wheel of project at version.
func wheel(project, version string) (string, []byte) {
	dist := underscore(project)
	info := dist + "-" + version + ".dist-info/"
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range [][2]string{
		{dist + ".py", "DATA = " + quote(noise(256)) + "\n"},
		{info + "METADATA", "Metadata-Version: 2.1\nName: " + project + "\nVersion: " + version + "\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	} {
		w, _ := zw.Create(f[0])
		w.Write([]byte(f[1]))
	}
	zw.Close()
	return dist + "-" + version + "-py3-none-any.whl", b.Bytes()
}

func underscore(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("-"), []byte("_")))
}

func quote(s string) string { return "'" + s + "'" }

// noise is n random letters: no two packages of a run are alike.
func noise(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b)
}
