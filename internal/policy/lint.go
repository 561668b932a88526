package policy

import (
	"fmt"
	"strconv"
	"strings"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// lint finds the footguns of a valid expression, one warning (one line) each, in the order found; deny says the
// expression is a rule's deny (true denies), not a grant's when (true allows):
//
//   - a loop over `args` itself (args.exists(k, ...), args.all, args.map, ...) that looks at the values (args[k])
//     or at the text of the keys: it sees only the top level, so a value nested in an object or a list, or a key
//     of a nested object, passes unseen;
//   - an argument compared with a number on one side only (args.a < 1000): negative numbers, or huge ones, pass;
//   - between(..., lo, hi) with literal bounds lo > hi: never true.
//
// Parse must not panic: should the linter fail on an expression, that is one warning too.
func lint(a *celast.AST, deny bool) (out []string) {
	defer func() {
		if r := recover(); r != nil {
			msg := strings.Join(strings.Fields(fmt.Sprint(r)), " ")
			out = []string{"the expression could not be checked for pitfalls: " + msg}
		}
	}()
	l := &linter{ast: a, bounds: map[string]*bound{}}
	l.walk(a.Expr(), deny)
	for _, path := range l.order {
		if w := l.bounds[path].warning(path); w != "" {
			l.out = append(l.out, w)
		}
	}
	return l.out
}

type linter struct {
	ast    *celast.AST
	out    []string
	bounds map[string]*bound // by argument path, "args.a"
	order  []string          // argument paths in the order first compared
}

// bound records the sides from which the numbers an expression lets through are bounded, for one argument.
type bound struct {
	upper, lower string // the first comparison bounding each side, as written: "args.a < 1000"
}

func (b *bound) warning(path string) string {
	const fix = "bound both sides, e.g. between(%s, 0, 999), which also refuses strings and other non-numbers"
	switch {
	case b.upper != "" && b.lower == "":
		return fmt.Sprintf("%s is compared with a number on one side only (%s): negative numbers pass; "+fix, path, b.upper, path)
	case b.lower != "" && b.upper == "":
		return fmt.Sprintf("%s is compared with a number on one side only (%s): numbers of any size pass; "+fix, path, b.lower, path)
	}
	return ""
}

// walk visits every node; neg says whether the node's truth denies rather than allows: an odd number of `!`
// stands above it, in a grant's when, or an even number in a rule's deny.
func (l *linter) walk(e celast.Expr, neg bool) {
	switch e.Kind() {
	case celast.CallKind:
		l.call(e, neg)
	case celast.ComprehensionKind:
		l.loop(e)
		c := e.AsComprehension()
		for _, sub := range []celast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
			l.walk(sub, neg)
		}
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			l.walk(el, neg)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			l.walk(en.AsMapEntry().Key(), neg)
			l.walk(en.AsMapEntry().Value(), neg)
		}
	case celast.SelectKind:
		l.walk(e.AsSelect().Operand(), neg)
	}
}

// upperOps are the comparisons that bound their left operand from above (flipped when the argument is on the
// right, or under a `!`).
var upperOps = map[string]bool{"_<_": true, "_<=_": true, "_>_": false, "_>=_": false}

func (l *linter) call(e celast.Expr, neg bool) {
	c := e.AsCall()
	fn := c.FunctionName()
	if fn == "!_" {
		neg = !neg
	}
	if up, ok := upperOps[fn]; ok && len(c.Args()) == 2 {
		l.comparison(c, up, neg)
	}
	if fn == "between" && len(c.Args()) == 3 {
		l.between(c)
	}
	if c.IsMemberFunction() {
		l.walk(c.Target(), neg)
	}
	for _, a := range c.Args() {
		l.walk(a, neg)
	}
}

// comparison records `args.x OP number` (or `number OP args.x`).
func (l *linter) comparison(c celast.CallExpr, upper, neg bool) {
	a, b := c.Args()[0], c.Args()[1]
	path, lit := argPath(a), numberLit(b)
	if path == "" || lit == "" {
		path, lit, upper = argPath(b), numberLit(a), !upper
		if path == "" || lit == "" {
			return
		}
	}
	if neg {
		upper = !upper
	}
	bd := l.bound(path)
	op := argPath(a) + numberLit(a) + " " + c.FunctionName()[1:len(c.FunctionName())-1] + " " + argPath(b) + numberLit(b)
	switch {
	case upper && bd.upper == "":
		bd.upper = op
	case !upper && bd.lower == "":
		bd.lower = op
	}
}

func (l *linter) bound(path string) *bound {
	bd, ok := l.bounds[path]
	if !ok {
		bd = &bound{}
		l.bounds[path] = bd
		l.order = append(l.order, path)
	}
	return bd
}

func (l *linter) between(c celast.CallExpr) {
	if path := argPath(c.Args()[0]); path != "" {
		bd := l.bound(path)
		bd.upper, bd.lower = "between", "between"
	}
	lo, hi := literalVal(c.Args()[1]), literalVal(c.Args()[2])
	if lo != nil && hi != nil && isNumber(lo) && isNumber(hi) && compare(lo, hi) > 0 {
		l.out = append(l.out, fmt.Sprintf("between(..., %s, %s) is never true: the lower bound is above the upper one",
			numberLit(c.Args()[1]), numberLit(c.Args()[2])))
	}
}

// loop warns about a loop over args itself whose body looks at the values, or at the text of the keys.
func (l *linter) loop(e celast.Expr) {
	c := e.AsComprehension()
	if r := c.IterRange(); r.Kind() != celast.IdentKind || r.AsIdent() != "args" {
		return
	}
	v, macro := c.IterVar(), macroName(c)
	switch {
	case readsValue(l.ast, c.LoopStep(), v):
		l.out = append(l.out, fmt.Sprintf("args.%s(%s, ...) looks only at the top level of args: a value nested in an object or a list passes unseen; look everywhere with hasTraversal(args), allStrings(args).exists(s, ...) or allNumbers(args).all(n, ...)", macro, v))
	case readsKeyText(l.ast, c.LoopStep(), v):
		l.out = append(l.out, fmt.Sprintf("args.%s(%s, ...) looks only at the top-level keys of args: the keys of nested objects pass unseen; allStrings(args) holds every key and every string value", macro, v))
	}
}

// macroName names the macro a comprehension over args came from, by its accumulator and step.
func macroName(c celast.ComprehensionExpr) string {
	init := c.AccuInit()
	if init.Kind() == celast.LiteralKind {
		switch init.AsLiteral() {
		case types.False:
			return "exists"
		case types.True:
			return "all"
		case types.IntZero:
			return "exists_one"
		}
	}
	if step := c.LoopStep(); step.Kind() == celast.CallKind && step.AsCall().FunctionName() == "_?_:_" {
		return "filter"
	}
	return "map"
}

// readsValue: the loop body indexes args with the loop variable (args[k]).
func readsValue(a *celast.AST, body celast.Expr, v string) bool {
	return len(celast.MatchDescendants(celast.NavigateExpr(a, body), func(e celast.NavigableExpr) bool {
		if e.Kind() != celast.CallKind || e.AsCall().FunctionName() != "_[_]" {
			return false
		}
		a := e.AsCall().Args()
		return isIdent(a[0], "args") && isIdent(a[1], v)
	})) > 0
}

// keyTextFuncs look into a string's text, unlike ==, != and in.
var keyTextFuncs = map[string]bool{
	"contains": true, "startsWith": true, "endsWith": true, "matches": true, "indexOf": true, "lastIndexOf": true,
	"lowerAscii": true, "upperAscii": true, "replace": true, "split": true, "substring": true, "trim": true,
	"hasTraversal": true, "hasAbsPath": true,
}

// readsKeyText: the loop body looks into the text of the loop variable (k.contains(...), matches(k, ...)).
func readsKeyText(a *celast.AST, body celast.Expr, v string) bool {
	return len(celast.MatchDescendants(celast.NavigateExpr(a, body), func(e celast.NavigableExpr) bool {
		if e.Kind() != celast.CallKind || !keyTextFuncs[e.AsCall().FunctionName()] {
			return false
		}
		c := e.AsCall()
		if c.IsMemberFunction() && isIdent(c.Target(), v) {
			return true
		}
		return len(c.Args()) > 0 && isIdent(c.Args()[0], v)
	})) > 0
}

func isIdent(e celast.Expr, name string) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == name
}

// argPath renders an expression that reads one argument — args.a, args["a b"], args.a.b, args.l[0] — or "".
func argPath(e celast.Expr) string {
	switch e.Kind() {
	case celast.IdentKind:
		if e.AsIdent() == "args" {
			return "args"
		}
	case celast.SelectKind:
		s := e.AsSelect()
		if base := argPath(s.Operand()); base != "" && !s.IsTestOnly() {
			return base + "." + s.FieldName()
		}
	case celast.CallKind:
		c := e.AsCall()
		if c.FunctionName() == "_[_]" && len(c.Args()) == 2 && c.Args()[1].Kind() == celast.LiteralKind {
			if base := argPath(c.Args()[0]); base != "" {
				return base + "[" + literalText(c.Args()[1].AsLiteral()) + "]"
			}
		}
	}
	return ""
}

// numberLit renders a numeric literal, or "".
func numberLit(e celast.Expr) string {
	if v := literalVal(e); v != nil && isNumber(v) {
		return literalText(v)
	}
	return ""
}

func literalVal(e celast.Expr) ref.Val {
	if e.Kind() != celast.LiteralKind {
		return nil
	}
	return e.AsLiteral()
}

func literalText(v ref.Val) string {
	switch v := v.(type) {
	case types.String:
		return strconv.Quote(string(v))
	case types.Double:
		return strconv.FormatFloat(float64(v), 'g', -1, 64)
	case types.Uint:
		return fmt.Sprintf("%du", uint64(v))
	}
	return fmt.Sprint(v.Value())
}
