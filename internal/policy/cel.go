package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// Bounds on CEL expressions. Without a loop (exists, all, map, filter), an expression's work is bounded by its own
// size times the size of the arguments. With one, two loops over the arguments are enough to be quadratic, so
// such expressions run under a deadline, checked every few iterations, shared by all the expressions of one call:
// past it evaluation stops with an error, and the call is denied. (cel-go's cost limit is not used: its cost
// tracking is itself quadratic in the number of iterations, and slows every evaluation.)
const (
	maxExprChars   = 4096
	evalBudget     = 20 * time.Millisecond
	interruptEvery = 32
)

// The CEL variables; docs/policy.md describes them.
var celVars = []struct {
	name string
	typ  *cel.Type
}{
	{"tool", cel.StringType},
	{"args", cel.MapType(cel.StringType, cel.DynType)},
	{"agent", cel.StringType},
	{"server", cel.StringType},
	{"method", cel.StringType},
	{"path", cel.StringType},
}

// celEnv is built once: it is immutable and safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		ext.Strings(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(maxExprChars),
	}
	for _, v := range celVars {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	opts = append(opts, helperFuncs()...)
	return cel.NewEnv(opts...)
})

// program is one compiled expression (a grant's `when`, a rule's `deny`).
type program struct {
	text string
	prg  cel.Program
	// needsArgs: the expression reads `args`. One that does not can be judged without a call's arguments (Allowed).
	needsArgs bool
	// loops: the expression has a comprehension, so it runs under the call's deadline.
	loops bool
	// ast is the checked expression; warnings what lint found in it, one line each (set by the builder).
	ast      *celast.AST
	warnings []string
}

// compile checks a bool-typed expression and plans it. cel-go panics on a few inputs (its regex size validator
// on a repeat such as {1000}, for one); Parse must not, so a panic is an error.
func compile(text string) (p *program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the CEL library failed on this expression: %v", r)
		}
	}()
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	ast, iss := env.Compile(text)
	if iss.Err() != nil {
		return nil, issuesError(iss)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("the expression must be a bool, not %s", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(interruptEvery))
	if err != nil {
		return nil, err
	}
	native := ast.NativeRep()
	if dynamicRegex(native) {
		return nil, errors.New("the pattern of matches() must be a string literal: a pattern taken from the arguments would be compiled on every call")
	}
	p = &program{text: text, prg: prg, ast: native}
	p.loops = len(celast.MatchDescendants(celast.NavigateAST(native), celast.KindMatcher(celast.ComprehensionKind))) > 0
	for _, r := range native.ReferenceMap() {
		if r.Name == "args" {
			p.needsArgs = true
		}
	}
	return p, nil
}

// dynamicRegex reports a matches() whose pattern is not a literal.
func dynamicRegex(a *celast.AST) bool {
	return len(celast.MatchDescendants(celast.NavigateAST(a), func(e celast.NavigableExpr) bool {
		if e.Kind() != celast.CallKind || e.AsCall().FunctionName() != "matches" {
			return false
		}
		args := e.AsCall().Args()
		return len(args) > 0 && args[len(args)-1].Kind() != celast.LiteralKind
	})) > 0
}

// issuesError is the compile errors on one line: "col 5: undeclared reference to 'argz'; ...".
func issuesError(iss *cel.Issues) error {
	var msgs []string
	for _, e := range iss.Errors() {
		msg := strings.TrimSuffix(e.Message, " (in container '')")
		msgs = append(msgs, fmt.Sprintf("col %d: %s", e.Location.Column()+1, msg))
	}
	if len(msgs) == 0 {
		return errors.New(strings.ReplaceAll(iss.String(), "\n", " "))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// eval runs the program; anything but a bool result is an error, which the caller turns into a deny.
func (p *program) eval(a *activation) (bool, error) {
	var out ref.Val
	var err error
	if p.loops {
		out, _, err = p.prg.ContextEval(a.deadline(), a)
	} else {
		out, _, err = p.prg.Eval(a)
	}
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %s, not a bool", out.Type())
	}
	return bool(b), nil
}

// activation binds the CEL variables to one call. Arguments are decoded on first use; the deadline is set by the
// first expression with a loop. close releases it.
type activation struct {
	c       *Call
	args    ref.Val
	argsErr error
	maxArgs int
	ctx     context.Context
	cancel  context.CancelFunc
}

func (a *activation) deadline() context.Context {
	if a.ctx == nil {
		a.ctx, a.cancel = context.WithTimeout(context.Background(), evalBudget)
	}
	return a.ctx
}

func (a *activation) close() {
	if a != nil && a.cancel != nil {
		a.cancel()
	}
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "tool":
		return types.String(a.c.Tool), true
	case "args":
		if v, err := a.loadArgs(); err == nil {
			return v, true
		}
		return nil, false
	case "agent":
		return types.String(a.c.Agent), true
	case "server":
		return types.String(a.c.Server), true
	case "method":
		return types.String(a.c.Method), true
	case "path":
		return types.String(a.c.Path), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) loadArgs() (ref.Val, error) {
	if a.args == nil && a.argsErr == nil {
		m, err := decodeArgs(a.c.Args, a.maxArgs)
		if err != nil {
			a.argsErr = err
		} else {
			a.args = types.DefaultTypeAdapter.NativeToValue(m)
		}
	}
	return a.args, a.argsErr
}
