package daemon

import (
	"context"
	"errors"
	"slices"
	"time"
)

// reload is a configuration handed to the loop goroutine.
type reload struct {
	opts Options
	done chan Reloaded
}

// Reloaded says what a Reload applied and what needs a restart.
type Reloaded struct {
	Applied []string // option names applied at once
	Restart []string // option names that changed but need a restart
}

// Reload applies the options that can change while the agent runs: alert
// thresholds and timing, the periodic intervals and the log level (when
// Options.LevelVar is set). Others that differ from the running ones are
// listed in Restart and logged; they take effect on the next start. It
// returns an error when the agent is not running or ctx ends first.
func (a *Agent) Reload(ctx context.Context, opts Options) (Reloaded, error) {
	opts.Gateway = a.opts.Gateway // a missing gateway must not make it invalid
	opts, err := opts.withDefaults()
	if err != nil {
		return Reloaded{}, err
	}
	r := reload{opts: opts, done: make(chan Reloaded, 1)}
	select {
	case a.reloads <- r:
	case <-ctx.Done():
		return Reloaded{}, ctx.Err()
	case <-a.inStop:
		return Reloaded{}, errors.New("agent stopping")
	}
	select {
	case res := <-r.done:
		return res, nil
	case <-ctx.Done():
		return Reloaded{}, ctx.Err()
	}
}

type resetter interface{ Reset(time.Duration) }

// applyReload runs on the loop goroutine.
func (a *Agent) applyReload(n Options, metrics, saves, snaps resetter) Reloaded {
	var res Reloaded
	o := &a.opts
	if n.Alert != o.Alert {
		o.Alert = n.Alert
		a.pl.SetAlert(n.Alert)
		res.Applied = append(res.Applied, "alert")
	}
	for _, iv := range []struct {
		name string
		cur  *time.Duration
		next time.Duration
		tick resetter
	}{
		{"intervals.metrics", &o.MetricsInterval, n.MetricsInterval, metrics},
		{"intervals.state", &o.StateInterval, n.StateInterval, saves},
		{"intervals.snapshot", &o.SnapshotInterval, n.SnapshotInterval, snaps},
	} {
		if *iv.cur != iv.next {
			*iv.cur = iv.next
			iv.tick.Reset(iv.next)
			res.Applied = append(res.Applied, iv.name)
		}
	}
	if n.LogLevel != o.LogLevel {
		o.LogLevel = n.LogLevel
		if o.LevelVar != nil {
			o.LevelVar.Set(n.LogLevel)
			res.Applied = append(res.Applied, "log_level")
		} else {
			res.Restart = append(res.Restart, "log_level")
		}
	}
	restart := func(name string, changed bool) {
		if changed {
			res.Restart = append(res.Restart, name)
		}
	}
	restart("broker", n.BrokerURL != o.BrokerURL)
	restart("state_dir", n.StateDir != o.StateDir)
	restart("http", n.HTTPAddr != o.HTTPAddr)
	restart("model", n.Model != o.Model)
	restart("features.learn", n.Learn != o.Learn)
	restart("models.warmup", n.WarmUp != o.WarmUp)
	restart("models.max_challengers", n.MaxChallengers != o.MaxChallengers)
	restart("drift", n.DriftMinGap != o.DriftMinGap || n.DriftDisabled != o.DriftDisabled)
	restart("event_time", n.Stream.Lateness != o.Stream.Lateness || n.Stream.Late != o.Stream.Late || n.Stream.Idle != o.Stream.Idle)
	restart("features.window", n.Stream.Window != o.Stream.Window || n.Stream.Step != o.Stream.Step)
	restart("derived", !slices.Equal(n.Stream.Derived, o.Stream.Derived))
	restart("local.alerts_topic", n.LocalAlertTopic != o.LocalAlertTopic)
	restart("outbox", n.AckTimeout != o.AckTimeout || n.FlushTimeout != o.FlushTimeout || n.OutboxMaxBytes != o.OutboxMaxBytes)
	a.log.Info("configuration reloaded", "applied", res.Applied)
	if len(res.Restart) > 0 {
		a.log.Warn("configuration changes that need a restart", "fields", res.Restart)
	}
	return res
}
