// Package derive computes derived signals declared as expressions over an
// asset's signals, such as
//
//	power = voltage * current
//	dT    = bearing_temp - ambient
//	temp_f = temp_c * 9 / 5 + 32
//
// # Compilation
//
// New compiles every expression once with github.com/expr-lang/expr against
// the asset's signal names (and the derived signals declared before it), so
// an unknown name, a type error or a non-numeric result fails at load time;
// the error names the expression, its signal and the configuration field it
// came from. A signal whose name is not an identifier (sensor ids may hold
// '-' and '.') is reached as $env["bearing-temp"].
//
// # Evaluation
//
// Eval fills the derived slots of a vector laid out as Names: the inputs,
// then the derived signals in declaration order. NaN inputs give NaN
// results, as float arithmetic does.
//
// Expressions of numbers, signal names, + - * / ** ^, unary minus and the
// builtins abs, min, max, floor, ceil and round (most derived signals) run
// on a small float64 stack program built from expr's checked syntax tree:
// no boxing, no allocation. Anything else (conditionals, comparisons, other
// builtins) runs on a reused expr VM over a reused environment map, which
// allocates: expr boxes every float64 it loads or computes as an interface
// value, about one small allocation per input set and per operation.
// Stats says how many expressions took each path.
//
// A Deriver is not safe for concurrent use.
package derive
