package defercheck

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ast/astutil"
	"golang.org/x/tools/go/types/typeutil"
)

// rootIdent returns the variable at the root of a selector chain such as
// resp.Body.Close, or nil when the chain starts elsewhere (a call, an index).
func rootIdent(e ast.Expr) *ast.Ident {
	for {
		switch x := astutil.Unparen(e).(type) {
		case *ast.Ident:
			return x
		case *ast.SelectorExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		default:
			return nil
		}
	}
}

// receiverVar is the local variable whose method a deferred call runs:
// f in f.Close(), resp in resp.Body.Close(). Package-qualified calls such as
// os.Remove(p) have no receiver.
func receiverVar(info *types.Info, call *ast.CallExpr) *types.Var {
	sel, ok := astutil.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok {
		return nil
	}
	id := rootIdent(sel.X)
	if id == nil {
		return nil
	}
	v, _ := info.Uses[id].(*types.Var)
	if v == nil || v.IsField() {
		return nil
	}
	return v
}

// mentions reports whether n refers to obj anywhere, closures included.
func mentions(info *types.Info, n ast.Node, obj types.Object) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if found {
			return false
		}
		if id, ok := n.(*ast.Ident); ok && info.Uses[id] == obj {
			found = true
		}
		return true
	})
	return found
}

// errorType is the predeclared error interface.
var errorType = types.Universe.Lookup("error").Type()

// isError reports whether t is exactly the error interface.
func isError(t types.Type) bool { return t != nil && types.Identical(t, errorType) }

// funcType returns the signature and body of a function declaration or
// literal.
func funcType(n ast.Node) (*ast.FuncType, *ast.BlockStmt) {
	switch f := n.(type) {
	case *ast.FuncDecl:
		return f.Type, f.Body
	case *ast.FuncLit:
		return f.Type, f.Body
	}
	return nil, nil
}

// returnsError reports whether the function's last result is an error, and
// names that result's variable when it is named.
func returnsError(info *types.Info, ft *ast.FuncType) (ok bool, named *ast.Ident) {
	if ft == nil || ft.Results == nil || len(ft.Results.List) == 0 {
		return false, nil
	}
	last := ft.Results.List[len(ft.Results.List)-1]
	if !isError(info.TypeOf(last.Type)) {
		return false, nil
	}
	if n := len(last.Names); n > 0 && last.Names[n-1].Name != "_" {
		return true, last.Names[n-1]
	}
	return true, nil
}

// terminates reports whether s ends the flow of its statement list: a
// return, a branch (break, continue, goto), or a call that never returns.
func terminates(info *types.Info, s ast.Stmt) bool {
	switch s := s.(type) {
	case *ast.ReturnStmt, *ast.BranchStmt:
		return true
	case *ast.ExprStmt:
		if call, ok := astutil.Unparen(s.X).(*ast.CallExpr); ok {
			return !mayReturn(info, call)
		}
	case *ast.BlockStmt:
		return len(s.List) > 0 && terminates(info, s.List[len(s.List)-1])
	}
	return false
}

// noReturn lists the functions and methods, by full name, after which a
// path never reaches its function's return.
var noReturn = map[string]bool{
	"os.Exit": true, "runtime.Goexit": true, "log.Fatal": true, "log.Fatalf": true,
	"log.Fatalln": true, "log.Panic": true, "log.Panicf": true, "log.Panicln": true,
	"(*log.Logger).Fatal": true, "(*log.Logger).Fatalf": true, "(*log.Logger).Fatalln": true,
	"(*log.Logger).Panic": true, "(*log.Logger).Panicf": true, "(*log.Logger).Panicln": true,
	"(*testing.common).Fatal": true, "(*testing.common).Fatalf": true,
	"(*testing.common).FailNow": true, "(*testing.common).Skip": true,
	"(*testing.common).Skipf": true, "(*testing.common).SkipNow": true,
	"(testing.TB).Fatal": true, "(testing.TB).Fatalf": true, "(testing.TB).FailNow": true,
	"(testing.TB).Skip": true, "(testing.TB).Skipf": true, "(testing.TB).SkipNow": true,
}

// mayReturn is the control-flow graph's view of a call: false for panic and
// for the functions in noReturn.
func mayReturn(info *types.Info, call *ast.CallExpr) bool {
	if id, ok := astutil.Unparen(call.Fun).(*ast.Ident); ok {
		if b, ok := info.Uses[id].(*types.Builtin); ok && b.Name() == "panic" {
			return false
		}
	}
	fn, _ := typeutil.Callee(info, call).(*types.Func)
	return fn == nil || !noReturn[fn.FullName()]
}

// lineSpan returns the positions of the start of n's first line and of the
// line after its last, n's text to the end of its line (a trailing comment
// goes with it), and its indentation, so that an edit can move whole lines;
// ok is false when n shares its lines with other code.
func lineSpan(pass *analysis.Pass, n ast.Node) (start, end token.Pos, text, indent string, ok bool) {
	tf := pass.Fset.File(n.Pos())
	src, err := pass.ReadFile(tf.Name())
	if err != nil || tf.Size() != len(src) {
		return 0, 0, "", "", false
	}
	start = tf.LineStart(tf.Line(n.Pos()))
	lastLine := tf.Line(n.End())
	end = token.Pos(tf.Base() + tf.Size())
	if lastLine < tf.LineCount() {
		end = tf.LineStart(lastLine + 1)
	}
	off := tf.Offset(start)
	i := off
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	if token.Pos(tf.Base()+i) != n.Pos() {
		return 0, 0, "", "", false
	}
	line := strings.TrimRight(string(src[i:tf.Offset(end)]), "\r\n")
	after := strings.TrimSpace(string(src[tf.Offset(n.End()):tf.Offset(end)]))
	if after != "" && !strings.HasPrefix(after, "//") {
		return 0, 0, "", "", false
	}
	return start, end, line, string(src[off:i]), true
}

// source returns the text of n as written.
func source(pass *analysis.Pass, n ast.Node) (string, bool) {
	tf := pass.Fset.File(n.Pos())
	src, err := pass.ReadFile(tf.Name())
	if err != nil || tf.Size() != len(src) {
		return "", false
	}
	return string(src[tf.Offset(n.Pos()):tf.Offset(n.End())]), true
}

// callee returns e as a call and the function or method it calls, or nils
// when e is not a call of a declared function.
func callee(info *types.Info, e ast.Expr) (*ast.CallExpr, *types.Func) {
	call, ok := astutil.Unparen(e).(*ast.CallExpr)
	if !ok {
		return nil, nil
	}
	fn, _ := typeutil.Callee(info, call).(*types.Func)
	return call, fn
}

// callsWith reports whether e is a call of a method or function whose name
// is in names, with v itself among its arguments: require.ErrorIs(t, err, x).
func callsWith(info *types.Info, e ast.Expr, names map[string]bool, v *types.Var) bool {
	call, ok := astutil.Unparen(e).(*ast.CallExpr)
	if !ok || v == nil {
		return false
	}
	sel, ok := astutil.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok || !names[sel.Sel.Name] {
		return false
	}
	for _, a := range call.Args {
		if id, ok := astutil.Unparen(a).(*ast.Ident); ok && info.Uses[id] == v {
			return true
		}
	}
	return false
}
