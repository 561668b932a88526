package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// Bounds on CEL expressions. The cost limit is in cel-go's abstract units (about one per operation, plus the size
// of strings that are scanned); evaluation that passes it stops with an error, and the call is denied.
const (
	maxExprChars = 4096
	costLimit    = 1_000_000
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
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(maxExprChars),
	}
	for _, v := range celVars {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	return cel.NewEnv(opts...)
})

// program is one compiled expression (a grant's `when`, a rule's `deny`).
type program struct {
	text string
	prg  cel.Program
	// needsArgs: the expression reads `args`. One that does not can be judged without a call's arguments (Allowed).
	needsArgs bool
}

// compile checks a bool-typed expression and plans it with the cost limit.
func compile(text string) (*program, error) {
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
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	p := &program{text: text, prg: prg}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == "args" {
			p.needsArgs = true
		}
	}
	return p, nil
}

// issuesError is the compile errors on one line: "col 5: undeclared reference to 'argz'; ...".
func issuesError(iss *cel.Issues) error {
	var msgs []string
	for _, e := range iss.Errors() {
		msgs = append(msgs, fmt.Sprintf("col %d: %s", e.Location.Column()+1, e.Message))
	}
	if len(msgs) == 0 {
		return errors.New(strings.ReplaceAll(iss.String(), "\n", " "))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// eval runs the program; anything but a bool result is an error, which the caller turns into a deny.
func (p *program) eval(a *activation) (bool, error) {
	out, _, err := p.prg.Eval(a)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %s, not a bool", out.Type())
	}
	return bool(b), nil
}

// activation binds the CEL variables to one call. Arguments are decoded on first use.
type activation struct {
	c       *Call
	args    ref.Val
	argsErr error
	maxArgs int
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
