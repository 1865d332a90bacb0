package plant

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ExportCSV writes d of simulated time of the plant as CSV, one file per
// machine at dir/{gateway}/{machine}.csv, for `agent replay`, and the ground
// truth as dir/labels.json and dir/labels.csv. Each file's header is
// "time" (RFC 3339, the device's event time), the machine's sensors, and
// "anomaly" (1 while one of the machine's faults is active in true time);
// a reading a dropout fault removed is an empty cell.
func ExportCSV(dir string, sc Scenario, start time.Time, d time.Duration) error {
	g, err := NewGenerator(sc, start)
	if err != nil {
		return err
	}
	type out struct {
		f *os.File
		w *bufio.Writer
	}
	outs := make([]out, len(g.machines))
	defer func() {
		for _, o := range outs {
			if o.f != nil {
				o.f.Close()
			}
		}
	}()
	for i, gm := range g.machines {
		sub := filepath.Join(dir, gm.gw)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return fmt.Errorf("export csv: %w", err)
		}
		f, err := os.Create(filepath.Join(sub, gm.st.id+".csv"))
		if err != nil {
			return fmt.Errorf("export csv: %w", err)
		}
		outs[i] = out{f: f, w: bufio.NewWriterSize(f, 64<<10)}
		w := outs[i].w
		w.WriteString("time")
		for _, s := range gm.st.sensors {
			w.WriteString("," + sensorNameOf[s])
		}
		w.WriteString(",anomaly\n")
	}
	ticks := int64(d) / g.step
	var line []byte
	for range ticks {
		frames := g.Next()
		tsec := float64(frames[0].True-g.start) / 1e9
		for i, f := range frames {
			gm := g.machines[i]
			line = time.Unix(0, f.Telemetry.Env.Time).UTC().AppendFormat(line[:0], time.RFC3339Nano)
			r := 0
			for _, s := range gm.st.sensors {
				line = append(line, ',')
				if r < len(f.Telemetry.Readings) && f.Telemetry.Readings[r].Sensor == sensorNameOf[s] {
					line = strconv.AppendFloat(line, f.Telemetry.Readings[r].Value, 'g', 8, 64)
					r++
				}
			}
			anomaly := byte('0')
			for k := range gm.st.faults {
				if gm.st.faults[k].active(tsec) {
					anomaly = '1'
				}
			}
			line = append(line, ',', anomaly, '\n')
			if _, err := outs[i].w.Write(line); err != nil {
				return fmt.Errorf("export csv: %w", err)
			}
		}
	}
	for _, o := range outs {
		if err := o.w.Flush(); err != nil {
			return fmt.Errorf("export csv: %w", err)
		}
		if err := o.f.Close(); err != nil {
			return fmt.Errorf("export csv: %w", err)
		}
	}
	outs = nil
	return WriteLabels(filepath.Join(dir, "labels.json"), g.AllLabels())
}
