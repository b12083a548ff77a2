package defercheck

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ast/astutil"
	"golang.org/x/tools/go/cfg"
)

// An owned value must be given up on every path out of the function that
// made it: a Scope closed, a Lease or Ref released, or either handed on
// (returned, stored, passed, captured).
type owned struct {
	v      *types.Var
	made   ast.Node   // the statement that made it
	errVar *types.Var // the error of the call that made it, or nil
	what   string     // "scope.Scope", "pool.Lease", "handles.Ref"
	keep   map[string]bool
	// holds is false for a scope until a cleanup is registered on it: a
	// return before that leaves nothing behind.
	holds bool
}

// keepScope and keepBorrowed are the methods that use a value without giving
// it up.
var (
	keepScope    = map[string]bool{"Defer": true, "DeferFunc": true, "DeferClose": true, "DeferContext": true, "OnFailure": true, "Len": true}
	keepBorrowed = map[string]bool{"Value": true}
)

// checkReleased reports each value owned by the function with the given body
// that some path returns without giving up.
func checkReleased(pass *analysis.Pass, body *ast.BlockStmt) {
	values := ownedIn(pass.TypesInfo, body)
	if len(values) == 0 {
		return
	}
	g := cfg.New(body, func(call *ast.CallExpr) bool { return mayReturn(pass.TypesInfo, call) })
	for _, o := range values {
		if ret := leakingReturn(pass.TypesInfo, g, o); ret != nil {
			line := pass.Fset.Position(ret.Pos()).Line
			switch o.what {
			case "scope.Scope":
				pass.Reportf(o.made.Pos(), "scope %s is neither closed on every path nor returned or stored: "+
					"the return at line %d leaves its cleanups unrun; defer %s.Close() (or %s.CloseInto(&err)) after making it",
					o.v.Name(), line, o.v.Name(), o.v.Name())
			default:
				pass.Reportf(o.made.Pos(), "%s %s is neither released on every path nor returned or stored: "+
					"the return at line %d keeps it borrowed; defer %s.Close() after the error check",
					o.what, o.v.Name(), line, o.v.Name())
			}
		}
	}
}

// ownedIn finds the values the function itself makes: scopes from scope.New
// or declared as zero values and then registered on, and leases and refs
// from calls. Nested function literals are checked on their own.
func ownedIn(info *types.Info, body *ast.BlockStmt) []owned {
	var out []owned
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE || len(n.Rhs) != 1 {
				return true
			}
			call, ok := astutil.Unparen(n.Rhs[0]).(*ast.CallExpr)
			if !ok {
				return true
			}
			var errVar *types.Var
			if len(n.Lhs) > 1 {
				if v := identVar(info, n.Lhs[len(n.Lhs)-1]); v != nil && isError(v.Type()) {
					errVar = v
				}
			}
			for _, l := range n.Lhs {
				v := identVar(info, l)
				if v == nil || info.Defs[l.(*ast.Ident)] == nil {
					continue
				}
				if what := borrowed(v.Type()); what != "" {
					out = append(out, owned{v: v, made: n, errVar: errVar, what: what, keep: keepBorrowed, holds: true})
				} else if isScope(v.Type()) && isScopeNew(info, call) && registersOn(info, body, v) && !keepsHandle(info, body, v) {
					out = append(out, owned{v: v, made: n, what: "scope.Scope", keep: keepScope})
				}
			}
		case *ast.DeclStmt:
			gd, ok := n.Decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				return true
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					v, _ := info.Defs[id].(*types.Var)
					if v == nil || !isScope(v.Type()) || !registersOn(info, body, v) || keepsHandle(info, body, v) {
						continue
					}
					_, _, ptr := named(v.Type())
					fromNew := i < len(vs.Values) && len(vs.Values) == len(vs.Names) && isScopeNew(info, vs.Values[i])
					if (!ptr && len(vs.Values) == 0) || fromNew {
						// The control-flow graph holds each var spec as a statement.
						out = append(out, owned{v: v, made: vs, what: "scope.Scope", keep: keepScope})
					}
				}
			}
		}
		return true
	})
	return out
}

// isScopeNew matches a call of scope.New.
func isScopeNew(info *types.Info, e ast.Expr) bool {
	_, fn := callee(info, e)
	return fn != nil && fn.Pkg() != nil && fn.Pkg().Path() == scopePath && fn.Name() == "New"
}

// registersOn reports whether body registers a cleanup on v directly: an
// unused scope holds nothing to leak.
func registersOn(info *types.Info, body *ast.BlockStmt, v *types.Var) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok && methodOn(info, call, v, registrations) != "" {
			found = true
		}
		return !found
	})
	return found
}

// keepsHandle reports whether a registration on v has its Handle used: the
// handle may run or cancel the entry, so the scope's contents are not known.
func keepsHandle(info *types.Info, body *ast.BlockStmt, v *types.Var) bool {
	bare := map[*ast.CallExpr]bool{}
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ExprStmt:
			if call, ok := astutil.Unparen(n.X).(*ast.CallExpr); ok {
				bare[call] = true
			}
		case *ast.DeferStmt:
			bare[n.Call] = true
		case *ast.GoStmt:
			bare[n.Call] = true
		case *ast.CallExpr:
			if !bare[n] && methodOn(info, n, v, registrations) != "" {
				found = true
			}
		}
		return !found
	})
	return found
}

// methodOn returns the method name when call is v.M(...) with M in names.
func methodOn(info *types.Info, call *ast.CallExpr, v *types.Var, names map[string]bool) string {
	sel, ok := astutil.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok || !names[sel.Sel.Name] {
		return ""
	}
	if id, ok := astutil.Unparen(sel.X).(*ast.Ident); ok && info.Uses[id] == v {
		return sel.Sel.Name
	}
	return ""
}

// givesUp reports whether n uses o's value in any way other than a kept
// method: a release, a return, a store, an argument, a capture.
func givesUp(info *types.Info, n ast.Node, o owned) bool {
	kept := map[*ast.Ident]bool{}
	ast.Inspect(n, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok && methodOn(info, call, o.v, o.keep) != "" {
			sel := astutil.Unparen(call.Fun).(*ast.SelectorExpr)
			kept[astutil.Unparen(sel.X).(*ast.Ident)] = true
		}
		return true
	})
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && info.Uses[id] == o.v && !kept[id] {
			found = true
		}
		return !found
	})
	return found
}

// leakingReturn walks the paths from the statement that made o and returns
// the first return statement reached without giving o up. The branch on
// which the making call's error is non-nil is not followed: there is
// nothing to give up there. Paths that end in a panic or os.Exit are not
// returns.
func leakingReturn(info *types.Info, g *cfg.CFG, o owned) *ast.ReturnStmt {
	type at struct {
		b *cfg.Block
		i int
	}
	var start *at
	for _, b := range g.Blocks {
		for i, n := range b.Nodes {
			if n == o.made {
				start = &at{b, i + 1}
			}
		}
	}
	if start == nil || !start.b.Live {
		return nil
	}
	type state struct {
		b     *cfg.Block
		holds bool
	}
	seen := map[state]bool{}
	stack := []at{*start}
	holding := []bool{o.holds}
	for len(stack) > 0 {
		cur, holds := stack[len(stack)-1], holding[len(holding)-1]
		stack, holding = stack[:len(stack)-1], holding[:len(holding)-1]
		gaveUp := false
		for _, n := range cur.b.Nodes[cur.i:] {
			if givesUp(info, n, o) || assertsError(info, n, o.errVar) {
				gaveUp = true
				break
			}
			holds = holds || registers(info, n, o.v)
		}
		if gaveUp {
			continue
		}
		succs := cur.b.Succs
		if len(succs) == 0 {
			if k := len(cur.b.Nodes); k > 0 && holds {
				if ret, ok := cur.b.Nodes[k-1].(*ast.ReturnStmt); ok {
					return ret
				}
			}
			continue
		}
		if len(succs) == 2 && len(cur.b.Nodes) > 0 {
			if cond, ok := cur.b.Nodes[len(cur.b.Nodes)-1].(ast.Expr); ok {
				switch errTest(info, cond, o.errVar) {
				case token.NEQ:
					succs = succs[1:] // err != nil: the true branch holds nothing
				case token.EQL:
					succs = succs[:1]
				}
			}
		}
		for _, s := range succs {
			if st := (state{s, holds}); !seen[st] {
				seen[st] = true
				stack = append(stack, at{s, 0})
				holding = append(holding, holds)
			}
		}
	}
	return nil
}

// registers reports whether n registers a cleanup on v.
func registers(info *types.Info, n ast.Node, v *types.Var) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if _, ok := n.(*ast.FuncLit); ok {
			return false
		}
		if call, ok := n.(*ast.CallExpr); ok && methodOn(info, call, v, registrations) != "" {
			found = true
		}
		return !found
	})
	return found
}

// errTest returns != or == when cond compares errVar with nil, and reads
// testify's `!assert.NoError(t, err)` as err != nil.
func errTest(info *types.Info, cond ast.Expr, errVar *types.Var) token.Token {
	if errVar == nil {
		return token.ILLEGAL
	}
	if not, ok := astutil.Unparen(cond).(*ast.UnaryExpr); ok && not.Op == token.NOT {
		if assertsNoError(info, not.X, errVar) {
			return token.NEQ
		}
	}
	if assertsNoError(info, cond, errVar) {
		return token.EQL
	}
	bin, ok := astutil.Unparen(cond).(*ast.BinaryExpr)
	// err != nil && x is true only when err is set; err == nil || x is
	// false only when err is set.
	if ok && bin.Op == token.LAND && (errTest(info, bin.X, errVar) == token.NEQ || errTest(info, bin.Y, errVar) == token.NEQ) {
		return token.NEQ
	}
	if ok && bin.Op == token.LOR && (errTest(info, bin.X, errVar) == token.EQL || errTest(info, bin.Y, errVar) == token.EQL) {
		return token.EQL
	}
	if !ok || (bin.Op != token.NEQ && bin.Op != token.EQL) {
		return token.ILLEGAL
	}
	isVar := func(e ast.Expr) bool {
		id, ok := astutil.Unparen(e).(*ast.Ident)
		return ok && info.Uses[id] == errVar
	}
	isNil := func(e ast.Expr) bool {
		id, ok := astutil.Unparen(e).(*ast.Ident)
		return ok && info.Types[id].IsNil()
	}
	if (isVar(bin.X) && isNil(bin.Y)) || (isNil(bin.X) && isVar(bin.Y)) {
		return bin.Op
	}
	return token.ILLEGAL
}

// assertsError matches a statement asserting that errVar is set, as
// testify's require.ErrorIs(t, err, target): on that path the call failed
// and there is nothing to give up.
func assertsError(info *types.Info, n ast.Node, errVar *types.Var) bool {
	es, ok := n.(*ast.ExprStmt)
	return ok && callsWith(info, es.X, errorAssertions, errVar)
}

var (
	errorAssertions   = map[string]bool{"Error": true, "ErrorIs": true, "ErrorAs": true, "ErrorContains": true, "EqualError": true}
	noErrorAssertions = map[string]bool{"NoError": true}
)

// assertsNoError matches a call named NoError given errVar, as testify's
// assert.NoError(t, err), which is true when err is nil.
func assertsNoError(info *types.Info, e ast.Expr, errVar *types.Var) bool {
	return callsWith(info, e, noErrorAssertions, errVar)
}
