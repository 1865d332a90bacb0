package plantbench

import (
	"fmt"
	"io"
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
