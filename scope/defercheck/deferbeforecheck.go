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

// DeferBeforeCheck reports a cleanup deferred on a value before the error of
// the call that produced it was checked:
//
//	f, err := os.Open(p)
//	defer f.Close() // f is nil when err is not
//	if err != nil {
//
// Its suggested fix moves the defer after the error check.
var DeferBeforeCheck = &analysis.Analyzer{
	Name:     "deferbeforecheck",
	Doc:      "report a cleanup deferred on a value before the error of the call that produced it was checked",
	URL:      "https://pkg.go.dev/github.com/reclaim-go/reclaim/scope/defercheck#DeferBeforeCheck",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      runDeferBeforeCheck,
}

func runDeferBeforeCheck(pass *analysis.Pass) (any, error) {
	ins := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	filter := []ast.Node{(*ast.BlockStmt)(nil), (*ast.CaseClause)(nil), (*ast.CommClause)(nil)}
	ins.Preorder(filter, func(n ast.Node) {
		var list []ast.Stmt
		switch n := n.(type) {
		case *ast.BlockStmt:
			list = n.List
		case *ast.CaseClause:
			list = n.Body
		case *ast.CommClause:
			list = n.Body
		}
		for i, s := range list {
			values, errVar := producedWithError(pass.TypesInfo, s)
			if errVar != nil {
				checkDeferBeforeCheck(pass, list[i+1:], values, errVar)
			}
		}
	})
	return nil, nil
}

// producedWithError matches `v1, ..., err := call()` (or =) and returns the
// non-blank values and the error variable.
func producedWithError(info *types.Info, s ast.Stmt) ([]*types.Var, *types.Var) {
	as, ok := s.(*ast.AssignStmt)
	if !ok || len(as.Lhs) < 2 || len(as.Rhs) != 1 {
		return nil, nil
	}
	if _, ok := astutil.Unparen(as.Rhs[0]).(*ast.CallExpr); !ok {
		return nil, nil
	}
	errVar := identVar(info, as.Lhs[len(as.Lhs)-1])
	if errVar == nil || !isError(errVar.Type()) {
		return nil, nil
	}
	var values []*types.Var
	for _, l := range as.Lhs[:len(as.Lhs)-1] {
		if v := identVar(info, l); v != nil {
			values = append(values, v)
		}
	}
	return values, errVar
}

// identVar returns the local variable an assignment's left side names.
func identVar(info *types.Info, e ast.Expr) *types.Var {
	id, ok := astutil.Unparen(e).(*ast.Ident)
	if !ok || id.Name == "_" {
		return nil
	}
	v, _ := info.ObjectOf(id).(*types.Var)
	if v == nil || v.IsField() {
		return nil
	}
	return v
}

// checkDeferBeforeCheck scans the statements after the producing call: a
// defer on one of its values that comes before the first statement reading
// the error, when that statement is an if testing it, is reported.
func checkDeferBeforeCheck(pass *analysis.Pass, rest []ast.Stmt, values []*types.Var, errVar *types.Var) {
	info := pass.TypesInfo
	var early *ast.DeferStmt
	var on *types.Var
	for _, s := range rest {
		if mentions(info, s, errVar) {
			check, ok := s.(*ast.IfStmt)
			if early == nil || !ok || check.Init != nil || !mentions(info, check.Cond, errVar) {
				return
			}
			reportDeferBeforeCheck(pass, early, on, errVar, check)
			return
		}
		d, ok := s.(*ast.DeferStmt)
		if !ok {
			if assigns(info, s, values) {
				return // the value was replaced: the defer no longer sees it
			}
			continue
		}
		if early != nil {
			continue
		}
		recv := receiverVar(info, d.Call)
		for _, v := range values {
			if recv == v {
				early, on = d, v
			}
		}
	}
}

// assigns reports whether s assigns to one of vars.
func assigns(info *types.Info, s ast.Stmt, vars []*types.Var) bool {
	as, ok := s.(*ast.AssignStmt)
	if !ok {
		return false
	}
	for _, l := range as.Lhs {
		v := identVar(info, l)
		for _, w := range vars {
			if v != nil && v == w {
				return true
			}
		}
	}
	return false
}

func reportDeferBeforeCheck(pass *analysis.Pass, d *ast.DeferStmt, v, errVar *types.Var, check *ast.IfStmt) {
	diag := analysis.Diagnostic{
		Pos: d.Pos(),
		End: d.End(),
		Message: "cleanup of " + v.Name() + " deferred before " + errVar.Name() +
			" is checked: when the call failed, " + v.Name() + " is not a valid value; defer it after the check",
	}
	if fix, ok := moveAfter(pass, d, check); ok {
		diag.SuggestedFixes = []analysis.SuggestedFix{fix}
	}
	pass.Report(diag)
}

// moveAfter moves the defer below `if err != nil { ...; return }`. An else
// branch or a body that falls through would run the moved defer on a
// failed path too, so those get no fix.
func moveAfter(pass *analysis.Pass, d *ast.DeferStmt, check *ast.IfStmt) (analysis.SuggestedFix, bool) {
	bin, ok := astutil.Unparen(check.Cond).(*ast.BinaryExpr)
	if !ok || bin.Op != token.NEQ || check.Else != nil || !terminates(pass.TypesInfo, check.Body) {
		return analysis.SuggestedFix{}, false
	}
	start, end, text, indent, ok := lineSpan(pass, d)
	if !ok {
		return analysis.SuggestedFix{}, false
	}
	return analysis.SuggestedFix{
		Message: "Move the defer after the error check",
		TextEdits: []analysis.TextEdit{
			{Pos: start, End: end},
			{Pos: check.End(), End: check.End(), NewText: []byte("\n" + indent + text)},
		},
	}, true
}
