package policy

import (
	"fmt"
	"math"
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// The helpers policy authors get on top of CEL (docs/policy.md, "Helpers"). `args.exists(k, ...)` and `args[k]`
// see only the top level of the arguments; these look everywhere:
//
//	allStrings(x)   every string in x: x itself, list elements, map keys and values, at any depth
//	allNumbers(x)   every int, uint or double in x, likewise (a number written as a string is a string)
//	hasTraversal(x) some string in x has a ".." path segment, in any spelling (pathcheck.go)
//	hasAbsPath(x)   some string in x is an absolute or home path, in any spelling (pathcheck.go)
//	between(x, lo, hi) x is a number (not a string, bool, null, list or map) and lo <= x <= hi
//
// The walks are linear in what they visit, iterative (no recursion, whatever the nesting), and each call visits at
// most maxWalk values: more is an error, so the call is denied. Arguments within the default 1 MiB never reach
// it; a value built in the expression out of the arguments many times over (args.l.map(x, args.l)) can.
const maxWalk = 1 << 20

var errWalkTooBig = fmt.Errorf("the value holds more than %d strings, numbers, lists and maps to look at", maxWalk)

// helperFuncs declares the helpers in the CEL environment.
func helperFuncs() []cel.EnvOption {
	dyn := []*cel.Type{cel.DynType}
	return []cel.EnvOption{
		cel.Function("allStrings", cel.Overload("allStrings_dyn", dyn, cel.ListType(cel.StringType), cel.UnaryBinding(allStrings))),
		cel.Function("allNumbers", cel.Overload("allNumbers_dyn", dyn, cel.ListType(cel.DynType), cel.UnaryBinding(allNumbers))),
		cel.Function("hasTraversal", cel.Overload("hasTraversal_dyn", dyn, cel.BoolType, cel.UnaryBinding(anyString(hasTraversal)))),
		cel.Function("hasAbsPath", cel.Overload("hasAbsPath_dyn", dyn, cel.BoolType, cel.UnaryBinding(anyString(isAbsPath)))),
		cel.Function("between", cel.Overload("between_dyn_dyn_dyn", []*cel.Type{cel.DynType, cel.DynType, cel.DynType},
			cel.BoolType, cel.FunctionBinding(between))),
	}
}

// visitor receives the strings and numbers of a walk; returning true stops it.
type visitor struct {
	str func(string) bool
	num func(ref.Val) bool
}

// walk visits every string and number in v — v itself, list elements, map keys and values, depth first, map keys in
// sorted order for the arguments' maps — with a stack of its own holding one frame per open list or map (a list
// of the arguments is read in place, not copied). v is a CEL value or, below the arguments, the decoded Go value
// (map[string]any, []any, string, int64, float64, bool, nil).
func walk(v any, vis visitor) error {
	type frame struct {
		items []any
		next  int
	}
	stack, pushed := []frame{{items: []any{v}}}, 1
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next == len(top.items) {
			stack = stack[:len(stack)-1]
			continue
		}
		x := top.items[top.next]
		top.next++
		children, stop := visit(x, vis)
		if stop {
			return nil
		}
		if len(children) == 0 {
			continue
		}
		if pushed += len(children); pushed > maxWalk {
			return errWalkTooBig
		}
		stack = append(stack, frame{items: children})
	}
	return nil
}

// visit hands a scalar to the visitor (stop: it found what it looked for) or lists a container's children.
func visit(x any, vis visitor) (children []any, stop bool) {
	switch x := x.(type) {
	case string:
		return nil, vis.str(x)
	case int64:
		return nil, vis.num(types.Int(x))
	case float64:
		return nil, vis.num(types.Double(x))
	case map[string]any:
		return nativeMap(x), false
	case []any:
		return x, false
	case ref.Val:
		return visitVal(x, vis)
	}
	return nil, false // bool, nil
}

// nativeMap lists a decoded object's keys and values, key before value, keys sorted.
func nativeMap(m map[string]any) []any {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]any, 0, 2*len(m))
	for _, k := range keys {
		out = append(out, k, m[k])
	}
	return out
}

// visitVal handles a CEL value: a scalar, a list or map over decoded arguments (walked natively), or a list or
// map built in the expression.
func visitVal(v ref.Val, vis visitor) ([]any, bool) {
	switch v := v.(type) {
	case types.String:
		return nil, vis.str(string(v))
	case types.Int, types.Uint, types.Double:
		return nil, vis.num(v)
	}
	switch n := v.Value().(type) {
	case map[string]any, []any:
		return []any{n}, false
	}
	var items []any
	switch c := v.(type) {
	case traits.Mapper:
		for it := c.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			items = append(items, k, c.Get(k))
		}
	case traits.Lister:
		for it := c.Iterator(); it.HasNext() == types.True; {
			items = append(items, it.Next())
		}
	}
	return items, false
}

// allStrings is the list of every string in v.
func allStrings(v ref.Val) ref.Val {
	var out []string
	err := walk(v, visitor{
		str: func(s string) bool { out = append(out, s); return false },
		num: func(ref.Val) bool { return false },
	})
	if err != nil {
		return types.NewErr("allStrings: %v", err)
	}
	return types.NewStringList(types.DefaultTypeAdapter, out)
}

// allNumbers is the list of every number in v.
func allNumbers(v ref.Val) ref.Val {
	var out []ref.Val
	err := walk(v, visitor{
		str: func(string) bool { return false },
		num: func(n ref.Val) bool { out = append(out, n); return false },
	})
	if err != nil {
		return types.NewErr("allNumbers: %v", err)
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

// anyString makes a helper that is true when some string in its argument satisfies test; the walk stops at the
// first.
func anyString(test func(string) bool) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		found := false
		err := walk(v, visitor{
			str: func(s string) bool { found = test(s); return found },
			num: func(ref.Val) bool { return false },
		})
		if err != nil {
			return types.NewErr("%v", err)
		}
		return types.Bool(found)
	}
}

// between(x, lo, hi): x is a number and lo <= x <= hi, compared across int, uint and double as CEL's < does. A
// bound that is not a number is an error; an x that is not one is false.
func between(args ...ref.Val) ref.Val {
	x, lo, hi := args[0], args[1], args[2]
	if !isNumber(lo) || !isNumber(hi) {
		return types.NewErr("between: the bounds must be numbers, got %s and %s", lo.Type().TypeName(), hi.Type().TypeName())
	}
	if !isNumber(x) {
		return types.False
	}
	return types.Bool(compare(lo, x) <= 0 && compare(x, hi) <= 0)
}

func isNumber(v ref.Val) bool {
	switch v := v.(type) {
	case types.Int, types.Uint:
		return true
	case types.Double:
		return !math.IsNaN(float64(v))
	}
	return false
}

// compare orders two numbers (neither NaN) as CEL does.
func compare(a, b ref.Val) int {
	if c, ok := a.(traits.Comparer).Compare(b).(types.Int); ok {
		return int(c)
	}
	return 1 // not reached for numbers; "greater" keeps between false
}
