package derive

import (
	"math"

	"github.com/expr-lang/expr/ast"
)

type opcode uint8

const (
	opLoad opcode = iota // push vec[arg]
	opConst
	opAdd
	opSub
	opMul
	opDiv
	opPow
	opNeg
	opAbs
	opFloor
	opCeil
	opRound
	opMin // pops arg values, pushes their minimum
	opMax
)

type instr struct {
	op  opcode
	arg int
	c   float64
}

// lower turns a checked expr tree into a stack program when it uses only
// what the stack machine knows; ok is false otherwise.
func lower(n ast.Node, slots map[string]int) (code []instr, depth int, ok bool) {
	l := &lowerer{slots: slots}
	if !l.node(n) {
		return nil, 0, false
	}
	return l.code, l.max, true
}

type lowerer struct {
	slots   map[string]int
	code    []instr
	sp, max int
}

func (l *lowerer) emit(in instr, push int) {
	l.code = append(l.code, in)
	l.sp += push
	l.max = max(l.max, l.sp)
}

func (l *lowerer) node(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		i, ok := l.slots[x.Value]
		if !ok {
			return false
		}
		l.emit(instr{op: opLoad, arg: i}, 1)
		return true
	case *ast.MemberNode: // $env["name"]
		id, ok1 := x.Node.(*ast.IdentifierNode)
		s, ok2 := x.Property.(*ast.StringNode)
		if !ok1 || !ok2 || id.Value != "$env" || x.Optional || x.Method {
			return false
		}
		i, ok := l.slots[s.Value]
		if !ok {
			return false
		}
		l.emit(instr{op: opLoad, arg: i}, 1)
		return true
	case *ast.FloatNode:
		l.emit(instr{op: opConst, c: x.Value}, 1)
		return true
	case *ast.IntegerNode:
		l.emit(instr{op: opConst, c: float64(x.Value)}, 1)
		return true
	case *ast.ConstantNode:
		var c float64
		switch v := x.Value.(type) {
		case float64:
			c = v
		case int:
			c = float64(v)
		default:
			return false
		}
		l.emit(instr{op: opConst, c: c}, 1)
		return true
	case *ast.UnaryNode:
		if !l.node(x.Node) {
			return false
		}
		switch x.Operator {
		case "-":
			l.emit(instr{op: opNeg}, 0)
		case "+":
		default:
			return false
		}
		return true
	case *ast.BinaryNode:
		var op opcode
		switch x.Operator {
		case "+":
			op = opAdd
		case "-":
			op = opSub
		case "*":
			op = opMul
		case "/":
			op = opDiv
		case "**", "^":
			op = opPow
		default:
			return false
		}
		// Integer arithmetic of constants only would differ from expr's
		// (it keeps ints); such subtrees are folded by expr's optimizer or
		// go to the VM.
		if isInt(x.Left) && isInt(x.Right) && op != opDiv && op != opPow {
			return false
		}
		if !l.node(x.Left) || !l.node(x.Right) {
			return false
		}
		l.emit(instr{op: op}, -1)
		return true
	case *ast.BuiltinNode:
		return l.builtin(x.Name, x.Arguments)
	case *ast.CallNode:
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		return l.builtin(id.Value, x.Arguments)
	}
	return false
}

func isInt(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.IntegerNode:
		return true
	case *ast.ConstantNode:
		_, ok := x.Value.(int)
		return ok
	case *ast.UnaryNode:
		return isInt(x.Node)
	}
	return false
}

func (l *lowerer) builtin(name string, args []ast.Node) bool {
	one := map[string]opcode{"abs": opAbs, "floor": opFloor, "ceil": opCeil, "round": opRound}
	if op, ok := one[name]; ok {
		if len(args) != 1 || !l.node(args[0]) {
			return false
		}
		l.emit(instr{op: op}, 0)
		return true
	}
	var op opcode
	switch name {
	case "min":
		op = opMin
	case "max":
		op = opMax
	default:
		return false
	}
	if len(args) < 1 {
		return false
	}
	for _, a := range args {
		if !l.node(a) {
			return false
		}
	}
	l.emit(instr{op: op, arg: len(args)}, 1-len(args))
	return true
}

// run executes code over vec with stack as scratch.
func run(code []instr, stack, vec []float64) float64 {
	sp := 0
	for _, in := range code {
		switch in.op {
		case opLoad:
			stack[sp] = vec[in.arg]
			sp++
		case opConst:
			stack[sp] = in.c
			sp++
		case opAdd:
			sp--
			stack[sp-1] += stack[sp]
		case opSub:
			sp--
			stack[sp-1] -= stack[sp]
		case opMul:
			sp--
			stack[sp-1] *= stack[sp]
		case opDiv:
			sp--
			stack[sp-1] /= stack[sp]
		case opPow:
			sp--
			stack[sp-1] = math.Pow(stack[sp-1], stack[sp])
		case opNeg:
			stack[sp-1] = -stack[sp-1]
		case opAbs:
			stack[sp-1] = math.Abs(stack[sp-1])
		case opFloor:
			stack[sp-1] = math.Floor(stack[sp-1])
		case opCeil:
			stack[sp-1] = math.Ceil(stack[sp-1])
		case opRound:
			stack[sp-1] = math.Round(stack[sp-1])
		case opMin, opMax:
			base := sp - in.arg
			v := stack[base]
			for _, w := range stack[base+1 : sp] {
				if in.op == opMin {
					v = math.Min(v, w)
				} else {
					v = math.Max(v, w)
				}
			}
			sp = base + 1
			stack[base] = v
		}
	}
	return stack[0]
}
