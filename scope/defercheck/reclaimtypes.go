package defercheck

import "go/types"

// reclaim's packages, matched by import path and type name so that the
// checks follow a type across a package split (pool.Ref became handles.Ref).
const (
	scopePath   = "github.com/reclaim-go/reclaim/scope"
	retryPath   = "github.com/reclaim-go/reclaim/retry"
	poolPath    = "github.com/reclaim-go/reclaim/pool"
	handlesPath = "github.com/reclaim-go/reclaim/pool/handles"
)

// named returns the package path and name of t's type, seen through one
// pointer, with type arguments dropped.
func named(t types.Type) (path, name string, pointer bool) {
	if p, ok := t.(*types.Pointer); ok {
		t, pointer = p.Elem(), true
	}
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.Obj().Pkg() == nil {
		return "", "", pointer
	}
	return n.Obj().Pkg().Path(), n.Obj().Name(), pointer
}

// isScope reports whether t is scope.Scope or *scope.Scope.
func isScope(t types.Type) bool {
	path, name, _ := named(t)
	return path == scopePath && name == "Scope"
}

// isAttempt reports whether t is *retry.Attempt.
func isAttempt(t types.Type) bool {
	path, name, ptr := named(t)
	return ptr && path == retryPath && name == "Attempt"
}

// borrowed names what t is when it is a pool.Lease or a handles.Ref (still
// pool.Ref before the split), and "" otherwise.
func borrowed(t types.Type) string {
	switch path, name, ptr := named(t); {
	case ptr:
		return ""
	case path == poolPath && name == "Lease":
		return "pool.Lease"
	case (path == handlesPath || path == poolPath) && name == "Ref":
		return "handles.Ref"
	}
	return ""
}

// registrations are Scope's methods that add a cleanup.
var registrations = map[string]bool{
	"Defer": true, "DeferFunc": true, "DeferClose": true, "DeferContext": true, "OnFailure": true,
}

// closers are Scope's methods that run its cleanups.
var closers = map[string]bool{"Close": true, "CloseContext": true, "CloseInto": true}
