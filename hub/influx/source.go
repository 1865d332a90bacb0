package influx

import (
	"context"
	"fmt"
	"time"

	"millwright/hub/store"
)

// backfillBatch is how many points a StoreSource hands over at a time.
const backfillBatch = 1000

// maxPointsPerMachine bounds what StoreSource reads of one machine.
const maxPointsPerMachine = 1 << 20

// StoreSource re-reads metric points and alerts from the hub store.
type StoreSource struct {
	Store *store.Store
}

// Points implements Source: every machine's metric points, then the
// alerts that started in [from, to].
func (s StoreSource) Points(ctx context.Context, from, to time.Time, add func([]Point) error) error {
	machines, err := s.Store.Machines(ctx)
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	batch := make([]Point, 0, backfillBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := add(batch)
		batch = make([]Point, 0, backfillBatch) // add may keep nothing, but Add copies anyway
		return err
	}
	for _, m := range machines {
		// The store has no upper bound on time: read from `from` and stop at `to`.
		ps, err := s.Store.MetricPoints(ctx, m.Gateway, m.ID, from, maxPointsPerMachine)
		if err != nil {
			return fmt.Errorf("backfill %s/%s: %w", m.Gateway, m.ID, err)
		}
		for i := range ps {
			if ps[i].Time.After(to) {
				break
			}
			batch = append(batch, StoredPoint(m.Gateway, m.ID, &ps[i]))
			if len(batch) == backfillBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	alerts, err := s.Store.Alerts(ctx, store.AlertFilter{Limit: maxPointsPerMachine})
	if err != nil {
		return fmt.Errorf("backfill alerts: %w", err)
	}
	for i := range alerts {
		if alerts[i].Start.Before(from) || alerts[i].Start.After(to) {
			continue
		}
		batch = append(batch, AlertPoint(&alerts[i]))
		if len(batch) == backfillBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
