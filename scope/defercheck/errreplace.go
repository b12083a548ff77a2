package defercheck

import (
	"go/ast"
	"go/token"
	"go/types"
	"strconv"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/astutil"
	"golang.org/x/tools/go/ast/inspector"
)

// ErrReplace reports a deferred function that assigns a cleanup's error to
// the function's named error result where that result may already hold an
// error, replacing it:
//
//	defer func() {
//		if err != nil {
//			if rerr := tx.Rollback(); rerr != nil {
//				err = rerr // the caller never sees why it failed
//			}
//		}
//	}()
//
// An unguarded `err = f.Close()` is worse: a nil from Close turns a failed
// call into a success. Assignments guarded by `err == nil`, and values that
// keep err (errors.Join(err, cerr), fmt.Errorf("...%w", err)), are fine. The
// suggested fix joins the two errors when the file imports errors; scope's
// CloseInto appends cleanup errors after the body's.
var ErrReplace = &analysis.Analyzer{
	Name:     "errreplace",
	Doc:      "report a deferred cleanup whose error replaces the function's error",
	URL:      "https://pkg.go.dev/github.com/reclaim-go/reclaim/scope/defercheck#ErrReplace",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      runErrReplace,
}

// cleanupMethods are the calls whose error a deferred function typically
// folds into the result.
var cleanupMethods = map[string]bool{
	"Close": true, "Rollback": true, "Flush": true, "Sync": true, "Release": true,
	"Shutdown": true, "Stop": true, "Remove": true, "RemoveAll": true, "Unlock": true,
	"CloseSend": true, "CloseWithError": true,
}

func runErrReplace(pass *analysis.Pass) (any, error) {
	ins := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	ins.WithStack([]ast.Node{(*ast.DeferStmt)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return false
		}
		d := n.(*ast.DeferStmt)
		lit, ok := astutil.Unparen(d.Call.Fun).(*ast.FuncLit)
		if !ok {
			return false
		}
		ft, _ := funcType(enclosingFunc(stack))
		hasErr, named := returnsError(pass.TypesInfo, ft)
		if !hasErr || named == nil {
			return false
		}
		result, _ := pass.TypesInfo.Defs[named].(*types.Var)
		checkReplacements(pass, lit, result, stack)
		return false
	})
	return nil, nil
}

// checkReplacements walks the deferred literal's body, keeping the stack of
// enclosing statements to know the guards of each assignment.
func checkReplacements(pass *analysis.Pass, lit *ast.FuncLit, result *types.Var, outer []ast.Node) {
	info := pass.TypesInfo
	var path []ast.Node
	ast.Inspect(lit.Body, func(n ast.Node) bool {
		if n == nil {
			path = path[:len(path)-1]
			return false
		}
		if _, ok := n.(*ast.FuncLit); ok {
			return false
		}
		path = append(path, n)
		as, ok := n.(*ast.AssignStmt)
		if !ok || as.Tok != token.ASSIGN || len(as.Lhs) != len(as.Rhs) {
			return true
		}
		for i, l := range as.Lhs {
			id, ok := astutil.Unparen(l).(*ast.Ident)
			if !ok || info.Uses[id] != result {
				continue
			}
			rhs := as.Rhs[i]
			call := cleanupCall(info, lit.Body, rhs)
			if call == "" || mentions(info, rhs, result) || guardedByNil(info, path, result) || excludesKnownError(info, path, rhs) {
				continue
			}
			diag := analysis.Diagnostic{
				Pos: as.Pos(),
				End: as.End(),
				Message: "the error of " + call + " replaces " + result.Name() + ", which may already hold the function's error: " +
					"the caller loses why it failed; join them (errors.Join) or assign only when " + result.Name() + " == nil, " +
					"as scope's CloseInto does",
			}
			if fix, ok := joinFix(pass, as, id, rhs, outer); ok {
				diag.SuggestedFixes = []analysis.SuggestedFix{fix}
			}
			pass.Report(diag)
		}
		return true
	})
}

// cleanupCall names the cleanup whose error e is: e is a call of a cleanup
// method, or a variable that body set from one.
func cleanupCall(info *types.Info, body *ast.BlockStmt, e ast.Expr) string {
	name := func(e ast.Expr) string {
		call, ok := astutil.Unparen(e).(*ast.CallExpr)
		if !ok {
			return ""
		}
		sel, ok := astutil.Unparen(call.Fun).(*ast.SelectorExpr)
		if !ok || !cleanupMethods[sel.Sel.Name] {
			return ""
		}
		if s, ok := sourceOf(sel.X); ok {
			return s + "." + sel.Sel.Name + "()"
		}
		return sel.Sel.Name + "()"
	}
	if s := name(e); s != "" {
		return s
	}
	id, ok := astutil.Unparen(e).(*ast.Ident)
	if !ok {
		return ""
	}
	v, _ := info.Uses[id].(*types.Var)
	if v == nil || !within(v.Pos(), body) {
		return ""
	}
	found := ""
	ast.Inspect(body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
			for i, l := range as.Lhs {
				if lid, ok := l.(*ast.Ident); ok && info.ObjectOf(lid) == v {
					if s := name(as.Rhs[i]); s != "" {
						found = s
					}
				}
			}
		}
		return found == ""
	})
	return found
}

// sourceOf prints a short receiver: an identifier or a selector chain.
func sourceOf(e ast.Expr) (string, bool) {
	switch x := astutil.Unparen(e).(type) {
	case *ast.Ident:
		return x.Name, true
	case *ast.SelectorExpr:
		s, ok := sourceOf(x.X)
		return s + "." + x.Sel.Name, ok
	}
	return "", false
}

// guardedByNil reports whether an if on the path makes result nil where the
// assignment runs: inside `if result == nil` (or a conjunction with it), or
// in the else branch of `if result != nil`.
func guardedByNil(info *types.Info, path []ast.Node, result *types.Var) bool {
	for i := len(path) - 2; i >= 0; i-- {
		ifs, ok := path[i].(*ast.IfStmt)
		if !ok {
			continue
		}
		child := path[i+1]
		if (child == ifs.Body && nilWhen(info, ifs.Cond, true, result)) ||
			(child == ifs.Else && nilWhen(info, ifs.Cond, false, result)) {
			return true
		}
	}
	return false
}

// excludesKnownError reports whether an if on the path tests the cleanup's
// error with errors.Is: `rerr != nil && !errors.Is(rerr, ErrTxClosed)` is
// how code that rolls back itself on every failure keeps the deferred
// rollback for the success path (pgx's BeginFunc), so the replacement is
// deliberate there.
func excludesKnownError(info *types.Info, path []ast.Node, rhs ast.Expr) bool {
	id, ok := astutil.Unparen(rhs).(*ast.Ident)
	if !ok {
		return false
	}
	v := info.Uses[id]
	for _, n := range path {
		ifs, ok := n.(*ast.IfStmt)
		if !ok {
			continue
		}
		found := false
		ast.Inspect(ifs.Cond, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return !found
			}
			call, fn := callee(info, e)
			if fn != nil && fn.FullName() == "errors.Is" && len(call.Args) > 0 {
				if a, ok := astutil.Unparen(call.Args[0]).(*ast.Ident); ok && info.Uses[a] == v {
					found = true
				}
			}
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

// nilWhen reports whether cond evaluating to branch implies v == nil.
func nilWhen(info *types.Info, cond ast.Expr, branch bool, v *types.Var) bool {
	switch c := astutil.Unparen(cond).(type) {
	case *ast.UnaryExpr:
		return c.Op == token.NOT && nilWhen(info, c.X, !branch, v)
	case *ast.BinaryExpr:
		switch c.Op {
		case token.LAND:
			return branch && (nilWhen(info, c.X, true, v) || nilWhen(info, c.Y, true, v))
		case token.LOR:
			return !branch && (nilWhen(info, c.X, false, v) || nilWhen(info, c.Y, false, v))
		}
	}
	switch errTest(info, cond, v) {
	case token.EQL:
		return branch
	case token.NEQ:
		return !branch
	}
	return false
}

// joinFix rewrites `err = x` as `err = errors.Join(err, x)` when the file
// imports errors under its own name.
func joinFix(pass *analysis.Pass, as *ast.AssignStmt, id *ast.Ident, rhs ast.Expr, outer []ast.Node) (analysis.SuggestedFix, bool) {
	file, ok := outer[0].(*ast.File)
	if !ok || len(as.Lhs) != 1 {
		return analysis.SuggestedFix{}, false
	}
	imported := false
	for _, imp := range file.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "errors" && (imp.Name == nil || imp.Name.Name == "errors") {
			imported = true
		}
	}
	text, ok := source(pass, rhs)
	if !imported || !ok {
		return analysis.SuggestedFix{}, false
	}
	return analysis.SuggestedFix{
		Message: "Join the errors",
		TextEdits: []analysis.TextEdit{{
			Pos: rhs.Pos(), End: rhs.End(),
			NewText: []byte("errors.Join(" + id.Name + ", " + text + ")"),
		}},
	}, true
}
