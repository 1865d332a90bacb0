package plantbench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// WriteTable writes r's faults and false alarms as aligned text.
func WriteTable(w io.Writer, name string, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate, weeks := r.FalseAlarmsPerWeek()
	fmt.Fprintf(tw, "%s: %s, %v simulated, %d vectors; false alarms %.2f per machine-week over %.2f machine-weeks\n",
		name, r.Scenario, r.Duration, r.Vectors, rate, weeks)
	if len(r.Faults) > 0 {
		fmt.Fprintln(tw, "  machine\tfault\tdetected\tdelay\tlead\t")
	}
	for _, f := range r.Faults {
		det := "no"
		switch {
		case f.Detected:
			det = "yes"
		case f.Masked:
			det = "masked"
		}
		delay, lead := "-", "-"
		if f.Detected {
			delay, lead = f.Delay.Round(100*time.Millisecond).String(), f.Lead.Round(100*time.Millisecond).String()
			if !f.Progressive {
				lead = "-"
			}
		}
		fmt.Fprintf(tw, "  %s/%s\t%s\t%s\t%s\t%s\t\n", f.Gateway, f.Machine, f.Kind, det, delay, lead)
	}
	fmt.Fprintln(tw, "  machine\tfaults\talerts\tfalse\thealthy\tmax healthy score\t")
	for _, m := range r.Machines {
		fmt.Fprintf(tw, "  %s/%s\t%d\t%d\t%d\t%v\t%.6f\t\n", m.Gateway, m.Machine, m.Faults, m.Alerts, m.FalseAlarms, m.Healthy.Round(time.Second), m.MaxHealthy)
	}
	return tw.Flush()
}

// TypeStats sums the machines of one type over runs.
type TypeStats struct {
	Type string
	// Machines counted, healthy online time (Healthy) and the part of it
	// scored (Scored), starts seen and false alarms.
	Machines        int
	Healthy, Scored time.Duration
	Starts          int
	FalseAlarms     int
}

// Weeks returns the healthy machine-weeks and the false alarms per
// machine-week.
func (s TypeStats) Weeks() (weeks, rate float64) {
	weeks = s.Healthy.Hours() / (7 * 24)
	if weeks > 0 {
		rate = float64(s.FalseAlarms) / weeks
	}
	return weeks, rate
}

// ByType sums r's machines by machine type, in order of first appearance.
func ByType(r Result) []TypeStats {
	var out []TypeStats
	for _, m := range r.Machines {
		i := slices.IndexFunc(out, func(s TypeStats) bool { return s.Type == m.Type })
		if i < 0 {
			out = append(out, TypeStats{Type: m.Type})
			i = len(out) - 1
		}
		s := &out[i]
		s.Machines++
		s.Healthy += m.Healthy
		s.Scored += m.Scored
		s.Starts += m.Starts
		s.FalseAlarms += m.FalseAlarms
	}
	return out
}

// WriteTypes writes r's false alarms per machine type, and their total.
func WriteTypes(w io.Writer, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "type\tmachines\tmachine-weeks\tscored weeks\tstarts\tfalse alarms\tper machine-week\t")
	var all TypeStats
	for _, s := range ByType(r) {
		weeks, rate := s.Weeks()
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%d\t%d\t%.2f\t\n", s.Type, s.Machines, weeks, s.Scored.Hours()/(7*24), s.Starts, s.FalseAlarms, rate)
		all.Machines += s.Machines
		all.Healthy += s.Healthy
		all.Scored += s.Scored
		all.Starts += s.Starts
		all.FalseAlarms += s.FalseAlarms
	}
	weeks, rate := all.Weeks()
	fmt.Fprintf(tw, "all\t%d\t%.2f\t%.2f\t%d\t%d\t%.2f\t\n", all.Machines, weeks, all.Scored.Hours()/(7*24), all.Starts, all.FalseAlarms, rate)
	return tw.Flush()
}

// WriteFaults writes r's faults: type, kind, whether detected before
// failure, the delay after onset and the lead before failure.
func WriteFaults(w io.Writer, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "type\tfault\tmachine\tramp\tdetected\tdelay\tlead before failure\t")
	for _, f := range r.Faults {
		det, delay, lead := "no", "-", "-"
		switch {
		case f.Detected:
			det = "yes"
			delay = f.Delay.Round(time.Second).String()
			if f.Progressive {
				lead = f.Lead.Round(time.Second).String()
			}
		case f.Masked:
			det = "masked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%v\t%s\t%s\t%s\t\n", f.Type, f.Kind, f.Gateway, f.Machine, f.Failure.Sub(f.Onset), det, delay, lead)
	}
	return tw.Flush()
}
