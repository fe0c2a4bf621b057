package cargo

import (
	"bufio"
	"encoding/binary"

	"github.com/valyala/fasthttp"

	"nora/internal/fault"
	"nora/proxy/httpx"
)

// A publish counts against the storage quota of its crate's tenant (DESIGN
// 3.2 [[tenants]]) with the .crate's bytes. The publish body declares them
// in its framing, chunked or not (u32 length, JSON, u32 length, .crate):
// once the metadata is read and the crate name authorized, the .crate's
// length is peeked at and a publish that passes the quota is refused
// before a byte of the .crate is read. The refusal is 403 in cargo's
// shape, {"errors":[{"detail":"tenant ... is over its storage quota of
// ..."}]}, which cargo prints.

// reserveCrate refuses the publish of crate name whose .crate, next in
// body, passes the quota, answering itself, and reports whether the
// publish may go on. A body that ends before the length is left to the
// publish to refuse.
func reserveCrate(ctx *fasthttp.RequestCtx, body *bufio.Reader, name string) bool {
	b, err := body.Peek(4)
	if err != nil {
		return true
	}
	n := int64(binary.LittleEndian.Uint32(b))
	if err := httpx.ReserveQuota(ctx, "cargo", name, 0, n); err != nil {
		httpx.Drain(ctx)
		cargoError(ctx, fasthttp.StatusForbidden, fault.Message(err))
		return false
	}
	return true
}
