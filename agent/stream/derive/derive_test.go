package derive

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
)

var inputs = []string{"voltage", "current", "bearing_temp", "ambient", "temp_c", "bearing-temp"}

func TestEval(t *testing.T) {
	tests := []struct {
		expr string
		want float64
		fast bool
	}{
		{"voltage * current", 230 * 2.5, true},
		{"bearing_temp - ambient", 61 - 21, true},
		{"temp_c * 9 / 5 + 32", 100, true},
		{"-voltage + 1", -229, true},
		{"voltage ** 2", 230 * 230, true},
		{"voltage ^ 0.5", math.Sqrt(230), true},
		{"abs(ambient - bearing_temp)", 40, true},
		{"max(ambient, bearing_temp, temp_c)", 61, true},
		{"min(ambient, bearing_temp) * 2", 42, true},
		{"round(current) + floor(2.7) + ceil(0.2)", 3 + 2 + 1, true},
		{`$env["bearing-temp"] - ambient`, 55 - 21, true},
		{"3", 3, true},
		{"(1 + 2) * voltage", 690, true},
		{"voltage > 200 ? current : 0", 2.5, false},
		{"current * (bearing_temp > 60 ? 1.0 : 0.5)", 2.5, false},
		{"float(len(\"abc\")) * current", 7.5, false},
	}
	vec0 := []float64{230, 2.5, 61, 21, 37.77777777777778, 55}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			d, err := New(inputs, []Def{{Name: "out", Expr: tt.expr}})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Stats().Fast == 1; got != tt.fast {
				t.Errorf("fast path: %v, want %v", got, tt.fast)
			}
			vec := append(slices.Clone(vec0), 0)
			if err := d.Eval(vec); err != nil {
				t.Fatal(err)
			}
			if got := vec[len(vec)-1]; math.Abs(got-tt.want) > 1e-9*math.Abs(tt.want) {
				t.Fatalf("= %v, want %v", got, tt.want)
			}
		})
	}
}

func TestChainedDefinitionsAndLayout(t *testing.T) {
	d, err := New([]string{"voltage", "current"}, []Def{
		{Name: "power", Expr: "voltage * current"},
		{Name: "kw", Expr: "power / 1000"},
		{Name: "high", Expr: "kw > 1 ? 1.0 : 0.0"}, // VM path reading a derived value
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Names(), []string{"voltage", "current", "power", "kw", "high"}) || d.Inputs() != 2 {
		t.Fatalf("names %v inputs %d", d.Names(), d.Inputs())
	}
	if st := d.Stats(); st.Fast != 2 || st.VM != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, tc := range []struct{ v, i, kw, high float64 }{{400, 5, 2, 1}, {100, 5, 0.5, 0}} {
		vec := []float64{tc.v, tc.i, 0, 0, 0}
		if err := d.Eval(vec); err != nil {
			t.Fatal(err)
		}
		if vec[3] != tc.kw || vec[4] != tc.high {
			t.Fatalf("%v", vec)
		}
	}
	if err := d.Eval(make([]float64, 3)); err == nil {
		t.Fatal("short vector accepted")
	}
}

func TestNaNInputGivesNaN(t *testing.T) {
	d, err := New([]string{"a", "b"}, []Def{{Name: "s", Expr: "a + b"}, {Name: "c", Expr: "a > 0 ? b : a"}})
	if err != nil {
		t.Fatal(err)
	}
	vec := []float64{math.NaN(), 1, 0, 0}
	if err := d.Eval(vec); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(vec[2]) || !math.IsNaN(vec[3]) {
		t.Fatalf("%v", vec)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		def  Def
		want string
	}{
		{"unknown name", Def{Name: "p", Expr: "voltage * curent", Field: "assets[0].derive[1]"}, "curent"},
		{"syntax", Def{Name: "p", Expr: "voltage *", Field: "assets[0].derive[1]"}, "unexpected"},
		{"string result", Def{Name: "p", Expr: `"volts"`, Field: "assets[0].derive[1]"}, "float64"},
		{"bool result", Def{Name: "p", Expr: "voltage > 1", Field: "assets[0].derive[1]"}, "float64"},
		{"empty", Def{Name: "p", Field: "assets[0].derive[1]"}, "empty"},
		{"bad name", Def{Name: "p-1", Expr: "voltage", Field: "assets[0].derive[1]"}, "identifier"},
		{"clash with input", Def{Name: "voltage", Expr: "current", Field: "assets[0].derive[1]"}, "already used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]string{"voltage", "current"}, []Def{tt.def})
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("err %v is not a *CompileError", err)
			}
			msg := err.Error()
			for _, part := range []string{tt.def.Field, `"` + tt.def.Name + `"`, tt.want} {
				if !strings.Contains(msg, part) {
					t.Errorf("%q does not mention %q", msg, part)
				}
			}
		})
	}
	if _, err := New([]string{"a", "a"}, nil); err == nil {
		t.Error("duplicate input accepted")
	}
}

// TestFastPathAgreesWithVM checks the stack program against expr's own VM
// on random inputs.
func TestFastPathAgreesWithVM(t *testing.T) {
	exprs := []string{
		"voltage * current", "bearing_temp - ambient", "temp_c * 9 / 5 + 32",
		"-(voltage - current) / (ambient + 0.5)", "abs(voltage) ** 1.5", "max(voltage, current) - min(ambient, 2, temp_c)",
		"round(voltage * 10) / 10", "floor(current) + ceil(ambient)", "2 ^ current", "voltage / 3 * 2 - -ambient",
	}
	r := rand.New(rand.NewPCG(3, 3))
	for _, e := range exprs {
		d, err := New(inputs, []Def{{Name: "out", Expr: e}})
		if err != nil {
			t.Fatal(err)
		}
		if d.Stats().Fast != 1 {
			t.Fatalf("%s not on the fast path", e)
		}
		prog, err := expr.Compile(e, expr.Env(d.env), expr.AsFloat64())
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			vec := make([]float64, len(d.Names()))
			env := map[string]any{}
			for i, n := range inputs {
				vec[i] = r.NormFloat64() * 100
				env[n] = vec[i]
			}
			if err := d.Eval(vec); err != nil {
				t.Fatal(err)
			}
			want, err := expr.Run(prog, env)
			if err != nil {
				t.Fatal(err)
			}
			got, w := vec[len(vec)-1], want.(float64)
			if !(got == w || math.IsNaN(got) && math.IsNaN(w) || math.Abs(got-w) <= 1e-12*math.Abs(w)) {
				t.Fatalf("%s on %v: %v, VM %v", e, vec[:len(inputs)], got, w)
			}
		}
	}
}

func TestFastEvalAllocatesNothing(t *testing.T) {
	d, err := New(inputs, []Def{{Name: "p", Expr: "voltage * current"}, {Name: "f", Expr: "temp_c * 9 / 5 + 32"}, {Name: "m", Expr: "max(p, f)"}})
	if err != nil {
		t.Fatal(err)
	}
	vec := make([]float64, len(d.Names()))
	allocs := testing.AllocsPerRun(1000, func() {
		vec[0]++
		if err := d.Eval(vec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Eval", allocs)
	}
}

func benchEval(b *testing.B, e string, wantFast bool) {
	d, err := New(inputs, []Def{{Name: "out", Expr: e}})
	if err != nil {
		b.Fatal(err)
	}
	if (d.Stats().Fast == 1) != wantFast {
		b.Fatalf("%s: fast path %v", e, !wantFast)
	}
	vec := make([]float64, len(d.Names()))
	for i := range inputs {
		vec[i] = float64(i) + 0.5
	}
	b.ReportAllocs()
	for b.Loop() {
		vec[0] += 0.25
		if err := d.Eval(vec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalFastProduct(b *testing.B) { benchEval(b, "voltage * current", true) }
func BenchmarkEvalFastConversion(b *testing.B) {
	benchEval(b, "temp_c * 9 / 5 + 32", true)
}
func BenchmarkEvalVMProduct(b *testing.B) {
	benchEval(b, "voltage > 0 ? voltage * current : 0.0", false)
}
func BenchmarkEvalVMConversion(b *testing.B) {
	benchEval(b, "temp_c > -300 ? temp_c * 9 / 5 + 32 : 0.0", false)
}
