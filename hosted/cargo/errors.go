package cargo

import "nora/internal/fault"

// Every refusal is a *fault.Error whose Msg is the detail cargo shows the
// user; its Kind says which (the HTTP side maps it to a status):
//
//	fault.Invalid   the publish body or its metadata is malformed, cut off
//	                or not a .crate of the crate it names (400)
//	fault.TooLarge  the body is larger than the configured cap (413)
//	fault.Conflict  the version is published already, or the name collides
//	                with another hosted crate's (409)
//	fault.NotFound  no such hosted crate or version (404)
//
// Anything else is a storage failure, for the log only.

func invalid(msg string) error  { return fault.New(fault.Invalid, msg) }
func notFound(msg string) error { return fault.New(fault.NotFound, msg) }
