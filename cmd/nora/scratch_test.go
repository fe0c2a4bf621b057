package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"nora/cache"
	"nora/proxy"
	"nora/proxy/docker"
)

type fc struct {
	Server  proxy.Config  `toml:"server"`
	Storage cache.Config  `toml:"storage"`
	Docker  docker.Config `toml:"docker"`
}

func TestScratch(t *testing.T) {
	for _, doc := range []string{
		"[storage]\nmax_size = 5\n[server]\nread_timeout = 5\n",
		"[storage]\nmax_size = 5.5\n",
		"[storage]\nmax_size = -5\n",
		"[server]\nread_timeout = 1979-05-27\n",
		"[server]\nlisten = 5\n",
	} {
		var c fc
		d := toml.NewDecoder(bytes.NewReader([]byte(doc)))
		d.DisallowUnknownFields()
		err := d.Decode(&c)
		fmt.Println(err, c.Storage.MaxSize, c.Server.ReadTimeout)
	}
}
