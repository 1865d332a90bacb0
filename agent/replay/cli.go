package replay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"millwright/agent/config"
	"millwright/models"
)

// Usage is the synopsis of the replay subcommand.
const Usage = "agent replay --in data.csv --out scores.csv [--model NAME] [--config FILE] [--columns a,b] " +
	"[--ignore label1,label2] [--delimiter ';'] [--strict] [--eval] [--label COLUMN] [--snapshot-out FILE] [--threshold X]"

// Main runs the replay subcommand with its command-line arguments; the
// summary and the evaluation go to stdout (or stderr when the scores do),
// malformed rows to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: "+Usage)
		fs.PrintDefaults()
	}
	in := fs.String("in", "", "input CSV `file` (- for stdin)")
	out := fs.String("out", "", "output CSV `file` (- for stdout)")
	model := fs.String("model", "", "model `kind` (catalog kinds or "+ModelSKABPCA+"; default the agent's champion kind)")
	cfgPath := fs.String("config", "", "agent configuration `file`: default model and alert threshold")
	columns := fs.String("columns", "", "feature `columns`, comma-separated (default every numeric column)")
	ignore := fs.String("ignore", "", "`columns` that are not features, comma-separated")
	delim := fs.String("delimiter", "", "input field `delimiter` (default detected from the header)")
	strict := fs.Bool("strict", false, "stop at the first malformed row")
	doEval := fs.Bool("eval", false, "print accuracy against the label column")
	label := fs.String("label", "", "label `column` (default anomaly, label or is_anomaly)")
	snapOut := fs.String("snapshot-out", "", "write the final model snapshot to `file`")
	threshold := fs.Float64("threshold", 0, "alert threshold (default the model's own, else the agent's)")
	seed := fs.Uint64("seed", 1, "seed of the model's random choices")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("replay: unexpected arguments %q", fs.Args())
	}
	if *in == "" || *out == "" {
		fs.Usage()
		return errors.New("replay: --in and --out are required")
	}
	if *threshold < 0 || *threshold > 1 {
		return fmt.Errorf("replay: --threshold %v: want a score in (0, 1]", *threshold)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("replay: configuration: %w", err)
	}
	opts := Options{
		Warn: stderr, Model: *model, Threshold: *threshold, Label: *label,
		Columns: split(*columns), Ignore: split(*ignore), Strict: *strict, Eval: *doEval, Seed: *seed,
	}
	if opts.Model == "" {
		opts.Model = cfg.Model
	}
	if opts.Threshold == 0 && *cfgPath != "" && opts.Model != ModelSKABPCA {
		opts.Threshold = cfg.Alert.Threshold
	}
	if *delim != "" {
		d := strings.ReplaceAll(*delim, `\t`, "\t")
		r, n := utf8.DecodeRuneInString(d)
		if n != len(d) || r == '"' || r == '\n' || r == '\r' {
			return fmt.Errorf("replay: --delimiter %q: want one character", *delim)
		}
		opts.Delimiter = r
	}
	report := stdout
	if *in == "-" {
		opts.In = os.Stdin
	} else {
		f, err := os.Open(*in)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		opts.In = f
	}
	var outFile *os.File
	if *out == "-" {
		opts.Out, report = stdout, stderr
	} else {
		outFile, err = os.Create(*out)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer outFile.Close()
		opts.Out = outFile
	}
	res, err := Run(ctx, opts)
	if err != nil {
		return err
	}
	if outFile != nil {
		if err := outFile.Close(); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
	}
	fmt.Fprintf(report, "%d rows scored, %d skipped, %d alerts at threshold %g; model %s on %d features (%s)\n",
		res.Rows, res.Skipped, res.Alerts, res.Threshold, res.Detector.Kind(), len(res.Features), strings.Join(res.Features, ", "))
	if *doEval {
		if res.Eval == nil {
			return errors.New("replay: --eval needs a label column (anomaly, label, is_anomaly, or --label)")
		}
		PrintEval(report, res.Label, res.Eval)
	}
	if *snapOut != "" {
		s, ok := res.Detector.(models.Snapshotter)
		if !ok {
			return fmt.Errorf("replay: model %s cannot be snapshotted", res.Detector.Kind())
		}
		b, err := s.MarshalSnapshot()
		if err != nil {
			return fmt.Errorf("replay: snapshot: %w", err)
		}
		if err := writeFile(*snapOut, b); err != nil {
			return fmt.Errorf("replay: snapshot: %w", err)
		}
		fmt.Fprintf(report, "snapshot of %d samples written to %s (%d bytes)\n", res.Detector.Samples(), *snapOut, len(b))
	}
	return nil
}

// PrintEval prints point and event metrics.
func PrintEval(w io.Writer, label string, e *Evaluation) {
	p, ev := e.Points, e.Events
	fmt.Fprintf(w, "against %s: F1 %.3f  precision %.3f  recall %.3f  FAR %.3f  MAR %.3f  (TP %d FP %d TN %d FN %d)\n",
		label, p.F1(), p.Precision(), p.Recall(), p.FAR(), p.MAR(), p.TP, p.FP, p.TN, p.FN)
	fmt.Fprintf(w, "events: %d anomaly windows, %d detected, %d missed; mean delay %v, max %v; %d false alarms (%.2f per day)\n",
		ev.Windows, ev.Detected, ev.Missed, ev.MeanDelay, ev.MaxDelay, ev.FalseAlarms, ev.FalseAlarmsPerDay)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// writeFile replaces path with b atomically.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
