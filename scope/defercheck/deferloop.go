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

// DeferLoop reports a defer directly inside a loop body whose cleanup is for
// a value made in that iteration: every iteration's resource stays open until
// the function returns. A defer inside a function literal called per
// iteration is fine, and so is one on a value made before the loop (locking
// every shard, closing every file of a slice) or only named in it (an alias
// such as mu := &shards[i].mu), a deferred Unlock (holding every lock until
// the function returns is a locking order, not a leak), one followed in its
// own block by a return or break, which ends the loop, and one whose cleanup
// the iteration also runs itself.
var DeferLoop = &analysis.Analyzer{
	Name:     "deferloop",
	Doc:      "report a defer in a loop body on a resource made in that iteration",
	URL:      "https://pkg.go.dev/github.com/reclaim-go/reclaim/scope/defercheck#DeferLoop",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      runDeferLoop,
}

func runDeferLoop(pass *analysis.Pass) (any, error) {
	ins := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	ins.WithStack([]ast.Node{(*ast.DeferStmt)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return false
		}
		d := n.(*ast.DeferStmt)
		loop := enclosingLoop(stack)
		if loop == nil {
			return false
		}
		v := deferredResource(pass.TypesInfo, d.Call)
		body := loopBody(loop)
		if v == nil || !within(v.Pos(), body) || isUnlock(d.Call) || !madeByCall(pass.TypesInfo, body, v) ||
			endsLoopAfter(pass.TypesInfo, d, stack) || cleanedInIteration(pass.TypesInfo, body, d) {
			return false
		}
		text, _ := source(pass, d.Call)
		pass.ReportRangef(d, "defer %s in a loop: the %s of every iteration stays open until the function returns; "+
			"close it at the end of the iteration: move the body into a function called per iteration, "+
			"or register it on a scope.Scope closed at the end of each iteration", text, v.Name())
		return false
	})
	return nil, nil
}

// enclosingLoop returns the innermost for or range statement around the top
// of stack, or nil when a function boundary comes first.
func enclosingLoop(stack []ast.Node) ast.Stmt {
	for i := len(stack) - 2; i >= 0; i-- {
		switch n := stack[i].(type) {
		case *ast.FuncLit, *ast.FuncDecl:
			return nil
		case *ast.ForStmt:
			if within(stack[len(stack)-1].Pos(), n.Body) {
				return n
			}
		case *ast.RangeStmt:
			if within(stack[len(stack)-1].Pos(), n.Body) {
				return n
			}
		}
	}
	return nil
}

func loopBody(loop ast.Stmt) *ast.BlockStmt {
	if f, ok := loop.(*ast.ForStmt); ok {
		return f.Body
	}
	return loop.(*ast.RangeStmt).Body
}

// within reports whether pos lies inside n.
func within(pos token.Pos, n ast.Node) bool {
	return pos.IsValid() && n.Pos() <= pos && pos < n.End()
}

// deferredResource names the variable a deferred call cleans up: the root of
// the receiver (f in f.Close()), or the first argument that is a variable
// (f in closeFile(f)).
func deferredResource(info *types.Info, call *ast.CallExpr) *types.Var {
	if v := receiverVar(info, call); v != nil {
		return v
	}
	if _, isMethod := info.Selections[selectorOf(call)]; isMethod {
		return nil
	}
	for _, a := range call.Args {
		if id := rootIdent(a); id != nil {
			if v, ok := info.Uses[id].(*types.Var); ok && !v.IsField() {
				return v
			}
		}
	}
	return nil
}

func selectorOf(call *ast.CallExpr) *ast.SelectorExpr {
	sel, _ := call.Fun.(*ast.SelectorExpr)
	return sel
}

// endsLoopAfter reports whether a statement after d in its own block (or in
// any enclosing block inside the loop) ends the loop or the function, so the
// defer runs for one iteration at most.
func endsLoopAfter(info *types.Info, d *ast.DeferStmt, stack []ast.Node) bool {
	// An unlabelled break inside a switch or select leaves it, not the loop.
	inSwitch := false
	for i := len(stack) - 2; i >= 0; i-- {
		switch stack[i].(type) {
		case *ast.SwitchStmt, *ast.TypeSwitchStmt, *ast.SelectStmt:
			inSwitch = true
		}
		if _, ok := stack[i].(*ast.ForStmt); ok {
			break
		}
		if _, ok := stack[i].(*ast.RangeStmt); ok {
			break
		}
	}
	for i := len(stack) - 2; i >= 0; i-- {
		var list []ast.Stmt
		switch n := stack[i].(type) {
		case *ast.ForStmt, *ast.RangeStmt, *ast.FuncLit, *ast.FuncDecl:
			return false
		case *ast.BlockStmt:
			list = n.List
		case *ast.CaseClause:
			list = n.Body
		case *ast.CommClause:
			list = n.Body
		default:
			continue
		}
		for _, s := range list {
			if s.Pos() <= d.Pos() {
				continue
			}
			if _, ok := s.(*ast.ReturnStmt); ok {
				return true
			}
			if b, ok := s.(*ast.BranchStmt); ok && b.Tok == token.BREAK && (b.Label != nil || !inSwitch) {
				return true
			}
			if e, ok := s.(*ast.ExprStmt); ok && terminates(info, e) {
				return true
			}
		}
	}
	return false
}

// cleanedInIteration reports whether the loop body also makes the deferred
// call itself, not deferred (f.Close() at the end of the iteration): the
// resource does not stay open, the defer only guards the early exits.
func cleanedInIteration(info *types.Info, body *ast.BlockStmt, d *ast.DeferStmt) bool {
	want, ok := sourceOf(d.Call.Fun)
	v := deferredResource(info, d.Call)
	if !ok || v == nil {
		return false
	}
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.DeferStmt, *ast.FuncLit:
			return false
		case *ast.CallExpr:
			if got, ok := sourceOf(n.Fun); ok && got == want && deferredResource(info, n) == v {
				found = true
			}
		}
		return !found
	})
	return found
}

// isUnlock matches a deferred mu.Unlock() or mu.RUnlock().
func isUnlock(call *ast.CallExpr) bool {
	sel := selectorOf(call)
	return sel != nil && (sel.Sel.Name == "Unlock" || sel.Sel.Name == "RUnlock")
}

// madeByCall reports whether body defines v from a call (os.Open,
// NewIterator, Clone, ...): the iteration made a resource, rather than
// naming one that exists already.
func madeByCall(info *types.Info, body *ast.BlockStmt, v *types.Var) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || found {
			return !found
		}
		for i, l := range as.Lhs {
			id, ok := l.(*ast.Ident)
			if !ok || info.ObjectOf(id) != v {
				continue
			}
			rhs := as.Rhs[0]
			if len(as.Rhs) == len(as.Lhs) {
				rhs = as.Rhs[i]
			}
			call, ok := astutil.Unparen(rhs).(*ast.CallExpr)
			found = ok && !info.Types[call.Fun].IsType() // a conversion makes nothing
		}
		return !found
	})
	return found
}
