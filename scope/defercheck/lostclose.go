package defercheck

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"os"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/astutil"
	"golang.org/x/tools/go/ast/inspector"
)

// LostClose reports `defer w.Close()` that drops Close's error on something
// the function wrote to, in a function that returns an error: Close is where
// buffered and delayed writes fail (a full disk, NFS, a gzip or zip trailer),
// so the function reports success for data that was never written.
//
// "Written to" means a file from os.Create or os.OpenFile with a constant
// flag that creates, truncates, appends or is write-only, or any value whose Write-like method the function calls or
// that it passes where an io.Writer is expected. Closing what was only read
// is not reported (the noise of gosec G307), nor network connections, whose
// Close reports nothing about delivered data, nor a value the function also
// closes or syncs explicitly (the defer then only guards the failure paths). The suggested fix, offered when the error result is
// named, assigns Close's error to it; with reclaim, register the value on a
// scope.Scope and `defer s.CloseInto(&err)`.
var LostClose = &analysis.Analyzer{
	Name:     "lostclose",
	Doc:      "report a deferred Close whose error is dropped on a value the function wrote to",
	URL:      "https://pkg.go.dev/github.com/reclaim-go/reclaim/scope/defercheck#LostClose",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      runLostClose,
}

// writeMethods are the methods whose call means the function wrote to the
// receiver.
var writeMethods = map[string]bool{
	"Write": true, "WriteString": true, "WriteByte": true, "WriteRune": true,
	"WriteAt": true, "ReadFrom": true,
}

func runLostClose(pass *analysis.Pass) (any, error) {
	ins := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	ins.WithStack([]ast.Node{(*ast.DeferStmt)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return false
		}
		d := n.(*ast.DeferStmt)
		fn := enclosingFunc(stack)
		ft, body := funcType(fn)
		hasErr, named := returnsError(pass.TypesInfo, ft)
		if !hasErr {
			return false
		}
		sel, ok := astutil.Unparen(d.Call.Fun).(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Close" || len(d.Call.Args) != 0 {
			return false
		}
		id, ok := astutil.Unparen(sel.X).(*ast.Ident)
		if !ok {
			return false
		}
		v, _ := pass.TypesInfo.Uses[id].(*types.Var)
		if v == nil || !closeReturnsError(pass.TypesInfo, d.Call) || isConn(v.Type()) || isPipeWriter(v.Type()) {
			return false
		}
		how := writtenTo(pass.TypesInfo, body, v)
		if how == "" || closedElsewhere(pass.TypesInfo, body, d, v) {
			return false
		}
		diag := analysis.Diagnostic{
			Pos: d.Pos(),
			End: d.End(),
			Message: "error of " + v.Name() + ".Close() is dropped, but " + v.Name() + " " + how +
				" and Close is where its writes can fail; register it on a scope.Scope and defer s.CloseInto(&err) on a named error result",
		}
		if named != nil && !shadowed(pass, named, d.Pos()) {
			if fix, ok := keepCloseError(pass, d, v.Name(), named.Name); ok {
				diag.SuggestedFixes = []analysis.SuggestedFix{fix}
			}
		}
		pass.Report(diag)
		return false
	})
	return nil, nil
}

// enclosingFunc returns the innermost function declaration or literal on
// the stack.
func enclosingFunc(stack []ast.Node) ast.Node {
	for i := len(stack) - 1; i >= 0; i-- {
		switch stack[i].(type) {
		case *ast.FuncDecl, *ast.FuncLit:
			return stack[i]
		}
	}
	return nil
}

func closeReturnsError(info *types.Info, call *ast.CallExpr) bool {
	sig, ok := info.TypeOf(call.Fun).(*types.Signature)
	return ok && sig.Results().Len() == 1 && isError(sig.Results().At(0).Type())
}

// isConn reports whether t is a network connection or listener: a Close
// error there says nothing about whether written data was delivered.
func isConn(t types.Type) bool {
	ms := types.NewMethodSet(t)
	_, isPtr := t.(*types.Pointer)
	if _, isIface := t.Underlying().(*types.Interface); !isPtr && !isIface {
		ms = types.NewMethodSet(types.NewPointer(t))
	}
	for _, name := range []string{"RemoteAddr", "Addr"} {
		for i := range ms.Len() {
			if ms.At(i).Obj().Name() == name {
				return true
			}
		}
	}
	return false
}

// isPipeWriter reports whether t is *io.PipeWriter, whose Close never fails.
func isPipeWriter(t types.Type) bool {
	p, ok := t.(*types.Pointer)
	if !ok {
		return false
	}
	n, ok := p.Elem().(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "io" && n.Obj().Name() == "PipeWriter"
}

// writtenTo says how the function wrote to v, or "" when it did not.
func writtenTo(info *types.Info, body *ast.BlockStmt, v *types.Var) string {
	how := ""
	ast.Inspect(body, func(n ast.Node) bool {
		if how != "" {
			return false
		}
		switch n := n.(type) {
		case *ast.AssignStmt:
			if len(n.Rhs) == 1 && opensForWrite(info, n.Rhs[0]) {
				for _, l := range n.Lhs {
					if identVar(info, l) == v {
						how = "was opened for writing"
					}
				}
			}
		case *ast.CallExpr:
			if sel, ok := astutil.Unparen(n.Fun).(*ast.SelectorExpr); ok && writeMethods[sel.Sel.Name] {
				if id, ok := astutil.Unparen(sel.X).(*ast.Ident); ok && info.Uses[id] == v {
					how = "was written to (" + sel.Sel.Name + ")"
					return false
				}
			}
			if passedAsWriter(info, n, v) {
				how = "was passed as an io.Writer"
			}
		}
		return true
	})
	return how
}

// opensForWrite matches os.Create(...) and os.OpenFile(name, flag, perm)
// with a constant flag that can write.
func opensForWrite(info *types.Info, e ast.Expr) bool {
	call, fn := callee(info, e)
	if fn == nil {
		return false
	}
	switch fn.FullName() {
	case "os.Create":
		return true
	case "os.OpenFile":
		if len(call.Args) != 3 {
			return false
		}
		tv := info.Types[call.Args[1]]
		if tv.Value == nil || tv.Value.Kind() != constant.Int {
			return false
		}
		// O_RDWR alone is also how files are opened for ioctl and locks:
		// only a write then makes it written to.
		flag, ok := constant.Int64Val(tv.Value)
		return ok && flag&int64(os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC) != 0
	}
	return false
}

// passedAsWriter reports whether call passes v, directly, where its
// signature expects an interface with a Write method (io.Writer and kin).
func passedAsWriter(info *types.Info, call *ast.CallExpr, v *types.Var) bool {
	sig, ok := info.TypeOf(call.Fun).(*types.Signature)
	if !ok {
		return false
	}
	for i, a := range call.Args {
		id, ok := astutil.Unparen(a).(*ast.Ident)
		if !ok || info.Uses[id] != v {
			continue
		}
		var pt types.Type
		switch {
		case i < sig.Params().Len()-1 || (i < sig.Params().Len() && !sig.Variadic()):
			pt = sig.Params().At(i).Type()
		case sig.Variadic():
			pt = sig.Params().At(sig.Params().Len() - 1).Type().(*types.Slice).Elem()
		default:
			continue
		}
		iface, ok := pt.Underlying().(*types.Interface)
		if !ok {
			continue
		}
		hasWrite, hasRead := false, false
		for m := range iface.Methods() {
			hasWrite = hasWrite || m.Name() == "Write"
			hasRead = hasRead || m.Name() == "Read"
		}
		// An io.ReadWriter parameter may only be read from.
		if hasWrite && !hasRead {
			return true
		}
	}
	return false
}

// closedElsewhere reports whether the function closes v outside the defer
// (typically `return f.Close()` on the success path), which makes the defer
// a guard for the failure paths only.
func closedElsewhere(info *types.Info, body *ast.BlockStmt, d *ast.DeferStmt, v *types.Var) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if found || n == d {
			return false
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := astutil.Unparen(call.Fun).(*ast.SelectorExpr); ok && (sel.Sel.Name == "Close" || sel.Sel.Name == "Sync") {
			if id, ok := astutil.Unparen(sel.X).(*ast.Ident); ok && info.Uses[id] == v {
				found = true
			}
		}
		return true
	})
	return found
}

// keepCloseError rewrites the defer so that Close's error reaches the named
// result when nothing failed before it.
func keepCloseError(pass *analysis.Pass, d *ast.DeferStmt, v, errName string) (analysis.SuggestedFix, bool) {
	_, _, _, indent, ok := lineSpan(pass, d)
	if !ok {
		return analysis.SuggestedFix{}, false
	}
	text := "defer func() {\n" +
		indent + "\tif cerr := " + v + ".Close(); cerr != nil && " + errName + " == nil {\n" +
		indent + "\t\t" + errName + " = cerr\n" +
		indent + "\t}\n" +
		indent + "}()"
	return analysis.SuggestedFix{
		Message:   "Assign the error of " + v + ".Close() to " + errName,
		TextEdits: []analysis.TextEdit{{Pos: d.Pos(), End: d.End(), NewText: []byte(text)}},
	}, true
}

// shadowed reports whether, at pos, name refers to something other than the
// named result: a fix assigning to it there would miss the result.
func shadowed(pass *analysis.Pass, name *ast.Ident, pos token.Pos) bool {
	inner := pass.Pkg.Scope().Innermost(pos)
	if inner == nil {
		return true
	}
	_, obj := inner.LookupParent(name.Name, pos)
	return obj != pass.TypesInfo.Defs[name]
}
