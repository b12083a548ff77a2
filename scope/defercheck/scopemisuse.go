package defercheck

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/astutil"
	"golang.org/x/tools/go/ast/inspector"
)

// ScopeMisuse reports misuses of reclaim itself:
//
//   - CloseInto inside a deferred function literal, not deferred on the
//     named result, or deferred on anything but the named result;
//   - a Scope made in a function and neither closed on every path nor
//     returned or stored;
//   - cleanups registered in a loop on a Scope that the same loop closes:
//     from the second iteration on they run at once;
//   - a *retry.Attempt that escapes its function: stored outside it, sent
//     on a channel or used by a go statement;
//   - a pool.Lease or handles.Ref acquired and neither released on every
//     path nor returned or stored.
var ScopeMisuse = &analysis.Analyzer{
	Name:     "scopemisuse",
	Doc:      "report misuses of reclaim's Scope, retry.Attempt, pool.Lease and handles.Ref",
	URL:      "https://pkg.go.dev/github.com/reclaim-go/reclaim/scope/defercheck#ScopeMisuse",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      runScopeMisuse,
}

func runScopeMisuse(pass *analysis.Pass) (any, error) {
	if !importsReclaim(pass.Pkg) {
		return nil, nil
	}
	ins := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	filter := []ast.Node{(*ast.FuncDecl)(nil), (*ast.FuncLit)(nil), (*ast.CallExpr)(nil), (*ast.ForStmt)(nil), (*ast.RangeStmt)(nil)}
	ins.WithStack(filter, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return true
		}
		switch n := n.(type) {
		case *ast.FuncDecl, *ast.FuncLit:
			ft, body := funcType(n)
			if body != nil {
				checkReleased(pass, body)
				checkAttemptEscapes(pass, ft, body)
			}
		case *ast.CallExpr:
			checkCloseInto(pass, n, stack)
		case *ast.ForStmt:
			checkClosedInLoop(pass, n.Body)
		case *ast.RangeStmt:
			checkClosedInLoop(pass, n.Body)
		}
		return true
	})
	return nil, nil
}

// importsReclaim reports whether pkg uses any of reclaim's packages, so the
// check costs nothing elsewhere.
func importsReclaim(pkg *types.Package) bool {
	for _, imp := range pkg.Imports() {
		switch imp.Path() {
		case scopePath, retryPath, poolPath, handlesPath:
			return true
		}
	}
	return false
}

// checkCloseInto: CloseInto recovers the function's panic and adds to its
// final error, so the idiom is `defer s.CloseInto(&err)` on the named
// result. Reported: CloseInto inside a deferred function literal (it runs
// late enough but cannot see the panic, so the scope closes as succeeded
// and OnFailure cleanups never run); CloseInto on the named result but not
// deferred (the result is not final yet: a later return overwrites what it
// added); and a deferred CloseInto on anything but a named result (what it
// adds never reaches the caller). A direct call on a local error, as in
// `if err != nil { s.CloseInto(&err) }`, is the documented way to close as
// failed and is not reported.
func checkCloseInto(pass *analysis.Pass, call *ast.CallExpr, stack []ast.Node) {
	sel, ok := astutil.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "CloseInto" || !isScope(pass.TypesInfo.TypeOf(sel.X)) || len(call.Args) != 1 {
		return
	}
	fn := enclosingFunc(stack)
	ft, _ := funcType(fn)
	onResult := isNamedResultAddr(pass.TypesInfo, ft, call.Args[0])
	if d, ok := stack[len(stack)-2].(*ast.DeferStmt); ok && d.Call == call {
		if !onResult {
			pass.ReportRangef(call, "CloseInto needs the address of the function's named error result: "+
				"otherwise cleanup errors never reach the caller and the scope cannot see that the function failed")
		}
		return
	}
	if lit, ok := fn.(*ast.FuncLit); ok && deferredLit(stack, lit) {
		pass.ReportRangef(call, "CloseInto must be deferred directly (defer s.CloseInto(&err)): "+
			"inside a deferred function it cannot see a panic, so the scope closes as succeeded and OnFailure cleanups do not run")
		return
	}
	if onResult {
		pass.ReportRangef(call, "CloseInto on the named result must be deferred (defer s.CloseInto(&err)): "+
			"called now, it skips the returns before it and a later return overwrites what it added")
	}
}

// deferredLit reports whether lit is the function a defer statement calls.
func deferredLit(stack []ast.Node, lit *ast.FuncLit) bool {
	for i := len(stack) - 1; i >= 1; i-- {
		if stack[i] == lit {
			call, ok := stack[i-1].(*ast.CallExpr)
			if !ok || astutil.Unparen(call.Fun) != lit || i < 2 {
				return false
			}
			d, ok := stack[i-2].(*ast.DeferStmt)
			return ok && d.Call == call
		}
	}
	return false
}

// isNamedResultAddr matches &err where err is one of ft's named results.
func isNamedResultAddr(info *types.Info, ft *ast.FuncType, e ast.Expr) bool {
	u, ok := astutil.Unparen(e).(*ast.UnaryExpr)
	if !ok || u.Op != token.AND || ft == nil || ft.Results == nil {
		return false
	}
	id, ok := astutil.Unparen(u.X).(*ast.Ident)
	if !ok {
		return false
	}
	for _, f := range ft.Results.List {
		for _, name := range f.Names {
			if info.Defs[name] != nil && info.Defs[name] == info.Uses[id] {
				return true
			}
		}
	}
	return false
}

// checkClosedInLoop reports registrations on a Scope declared outside the
// loop that the loop body also closes: the first iteration closes it and
// every later registration runs at once instead of at the end.
func checkClosedInLoop(pass *analysis.Pass, body *ast.BlockStmt) {
	info := pass.TypesInfo
	closed := map[*types.Var]token.Pos{}
	var regs []*ast.CallExpr
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false // a per-iteration function has its own story
		case *ast.DeferStmt:
			return false // deferred closes run when the function returns
		case *ast.CallExpr:
			sel, ok := astutil.Unparen(n.Fun).(*ast.SelectorExpr)
			if !ok || !isScope(info.TypeOf(sel.X)) {
				return true
			}
			id, ok := astutil.Unparen(sel.X).(*ast.Ident)
			if !ok {
				return true
			}
			v, _ := info.Uses[id].(*types.Var)
			if v == nil || within(v.Pos(), body) {
				return true // a scope made per iteration is fresh each time
			}
			if closers[sel.Sel.Name] {
				if _, ok := closed[v]; !ok {
					closed[v] = n.Pos()
				}
			} else if registrations[sel.Sel.Name] {
				regs = append(regs, n)
			}
		}
		return true
	})
	for _, r := range regs {
		sel := astutil.Unparen(r.Fun).(*ast.SelectorExpr)
		v := info.Uses[astutil.Unparen(sel.X).(*ast.Ident)].(*types.Var)
		if at, ok := closed[v]; ok && !reassignedIn(info, body, v) {
			pass.ReportRangef(r, "%s.%s in a loop that closes %s (line %d): from the second iteration on the cleanup runs at once; "+
				"make the scope inside the loop", v.Name(), sel.Sel.Name, v.Name(), pass.Fset.Position(at).Line)
		}
	}
}

// reassignedIn reports whether body assigns a new value to v.
func reassignedIn(info *types.Info, body *ast.BlockStmt, v *types.Var) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok {
			for _, l := range as.Lhs {
				if id, ok := astutil.Unparen(l).(*ast.Ident); ok && info.Uses[id] == v {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// checkAttemptEscapes reports a *retry.Attempt parameter that outlives its
// call: an Attempt used after its function returned panics.
func checkAttemptEscapes(pass *analysis.Pass, ft *ast.FuncType, body *ast.BlockStmt) {
	info := pass.TypesInfo
	var attempts []*types.Var
	for _, f := range ft.Params.List {
		for _, name := range f.Names {
			if v, _ := info.Defs[name].(*types.Var); v != nil && isAttempt(v.Type()) {
				attempts = append(attempts, v)
			}
		}
	}
	for _, a := range attempts {
		ast.Inspect(body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				// The call's function value and arguments are evaluated before
				// the goroutine starts: go work(a.Context()) is fine.
				lit, _ := astutil.Unparen(n.Call.Fun).(*ast.FuncLit)
				recv := receiverVar(info, n.Call)
				escapes := recv == a || (lit != nil && mentions(info, lit.Body, a))
				for _, arg := range n.Call.Args {
					escapes = escapes || holds(info, arg, a)
				}
				if escapes {
					pass.ReportRangef(n, "attempt %s is used by a goroutine that can outlive the attempt; "+
						"pass it a.Context() and what it needs instead", a.Name())
					return false
				}
			case *ast.SendStmt:
				if holds(info, n.Value, a) {
					pass.ReportRangef(n, "attempt %s is sent on a channel and outlives the attempt", a.Name())
				}
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if i < len(n.Rhs) && len(n.Lhs) == len(n.Rhs) && holds(info, n.Rhs[i], a) && outside(info, l, body) {
						pass.ReportRangef(n, "attempt %s is stored outside its function and outlives the attempt", a.Name())
					}
				}
			}
			return true
		})
	}
}

// holds reports whether e is the attempt itself, or an append, composite
// literal or address that contains it directly.
func holds(info *types.Info, e ast.Expr, a *types.Var) bool {
	switch e := astutil.Unparen(e).(type) {
	case *ast.Ident:
		return info.Uses[e] == a
	case *ast.CallExpr:
		if id, ok := astutil.Unparen(e.Fun).(*ast.Ident); ok && id.Name == "append" {
			for _, x := range e.Args[1:] {
				if holds(info, x, a) {
					return true
				}
			}
		}
	case *ast.CompositeLit:
		for _, x := range e.Elts {
			if kv, ok := x.(*ast.KeyValueExpr); ok {
				x = kv.Value
			}
			if holds(info, x, a) {
				return true
			}
		}
	case *ast.UnaryExpr:
		return e.Op == token.AND && holds(info, e.X, a)
	}
	return false
}

// outside reports whether assigning to l stores beyond the function: a
// field, an element, a pointer target, or a variable declared elsewhere.
func outside(info *types.Info, l ast.Expr, body *ast.BlockStmt) bool {
	id, ok := astutil.Unparen(l).(*ast.Ident)
	if !ok {
		// x.f, m[k], *p: outside unless x is declared in the body (a
		// parameter, receiver or package variable reaches the caller).
		root := rootIdent(l)
		if root == nil {
			if ix, ok := astutil.Unparen(l).(*ast.IndexExpr); ok {
				root = rootIdent(ix.X)
			}
		}
		if root == nil {
			return true
		}
		v, _ := info.Uses[root].(*types.Var)
		return v == nil || !within(v.Pos(), body)
	}
	if id.Name == "_" {
		return false
	}
	v, _ := info.ObjectOf(id).(*types.Var)
	return v != nil && !within(v.Pos(), body)
}
