package derive

import (
	"errors"
	"fmt"
	"math"
	"regexp"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Def declares one derived signal.
type Def struct {
	Name string `yaml:"name"` // the derived signal's name
	Expr string `yaml:"expr"` // an expr expression over earlier names
	// Field says where the definition came from, for errors, e.g.
	// "assets[2].derive[0]".
	Field string `yaml:"-"`
}

// CompileError says which definition failed to compile and why.
type CompileError struct {
	Field, Name, Expr string
	Err               error
}

func (e *CompileError) Error() string {
	field := e.Field
	if field == "" {
		field = "derive"
	}
	return fmt.Sprintf("%s: derived signal %q = %q: %v", field, e.Name, e.Expr, e.Err)
}

func (e *CompileError) Unwrap() error { return e.Err }

// Stats say how the expressions run.
type Stats struct {
	Fast int // on the allocation-free stack program
	VM   int // on the expr VM
}

type compiled struct {
	slot int // where the result goes in the vector
	// fast path
	code  []instr
	depth int
	// VM path
	prog *vm.Program
	refs []int // vector slots the expression reads
}

// Deriver evaluates a set of derived signals. See the package comment.
type Deriver struct {
	names  []string
	inputs int
	defs   []compiled
	stack  []float64
	vm     vm.VM
	env    map[string]any
	stats  Stats
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New compiles defs over the signals named inputs. Every failure is a
// *CompileError (or a plain error for a bad input list).
func New(inputs []string, defs []Def) (*Deriver, error) {
	d := &Deriver{inputs: len(inputs), env: map[string]any{}}
	slots := map[string]int{}
	for i, n := range inputs {
		if n == "" {
			return nil, fmt.Errorf("derive: input %d has no name", i)
		}
		if _, dup := slots[n]; dup {
			return nil, fmt.Errorf("derive: input %q named twice", n)
		}
		slots[n] = i
		d.names = append(d.names, n)
		d.env[n] = 0.0
	}
	for _, def := range defs {
		fail := func(err error) error {
			return &CompileError{Field: def.Field, Name: def.Name, Expr: def.Expr, Err: err}
		}
		if !identRe.MatchString(def.Name) {
			return nil, fail(errors.New("name must be an identifier (letters, digits, '_')"))
		}
		if _, dup := slots[def.Name]; dup {
			return nil, fail(errors.New("name already used by a signal or an earlier derived signal"))
		}
		if def.Expr == "" {
			return nil, fail(errors.New("empty expression"))
		}
		prog, err := expr.Compile(def.Expr, expr.Env(d.env), expr.AsFloat64())
		if err != nil {
			return nil, fail(err)
		}
		c := compiled{slot: len(d.names)}
		if code, depth, ok := lower(prog.Node(), slots); ok {
			c.code, c.depth = code, depth
			d.stats.Fast++
			d.stack = make([]float64, max(len(d.stack), depth))
		} else {
			c.prog = prog
			c.refs = references(prog.Node(), slots)
			d.stats.VM++
		}
		d.defs = append(d.defs, c)
		slots[def.Name] = c.slot
		d.names = append(d.names, def.Name)
		d.env[def.Name] = 0.0
	}
	return d, nil
}

// Names returns the vector layout: the inputs, then the derived signals.
// The slice must not be modified.
func (d *Deriver) Names() []string { return d.names }

// Inputs returns how many of Names are inputs.
func (d *Deriver) Inputs() int { return d.inputs }

// Stats says how many expressions take each evaluation path.
func (d *Deriver) Stats() Stats { return d.stats }

// Eval computes the derived signals of vec, which holds len(Names())
// values with the inputs filled in, into vec's derived slots. A failing
// expression leaves NaN in its slot; Eval goes on with the others and
// returns the first error.
func (d *Deriver) Eval(vec []float64) error {
	if len(vec) != len(d.names) {
		return fmt.Errorf("derive: vector of %d values, want %d", len(vec), len(d.names))
	}
	var first error
	for i := range d.defs {
		c := &d.defs[i]
		if c.code != nil {
			vec[c.slot] = run(c.code, d.stack, vec)
			continue
		}
		for _, r := range c.refs {
			d.env[d.names[r]] = vec[r]
		}
		out, err := d.vm.Run(c.prog, d.env)
		v, ok := out.(float64)
		if err != nil || !ok {
			vec[c.slot] = math.NaN()
			if first == nil {
				if err == nil {
					err = fmt.Errorf("result %T is not a float64", out)
				}
				first = fmt.Errorf("derive %q: %w", d.names[c.slot], err)
			}
			continue
		}
		vec[c.slot] = v
	}
	return first
}

// references returns the vector slots an expression reads.
func references(n ast.Node, slots map[string]int) []int {
	v := &refVisitor{slots: slots, seen: map[int]bool{}}
	ast.Walk(&n, v)
	return v.refs
}

type refVisitor struct {
	slots map[string]int
	seen  map[int]bool
	refs  []int
}

func (v *refVisitor) Visit(n *ast.Node) {
	name := ""
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		name = x.Value
	case *ast.StringNode: // $env["name"], or a string that happens to be a name: harmless
		name = x.Value
	}
	if i, ok := v.slots[name]; ok && !v.seen[i] {
		v.seen[i] = true
		v.refs = append(v.refs, i)
	}
}
