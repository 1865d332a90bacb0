package routing

import (
	"context"
	"fmt"

	"millwright/hub/store"
)

// adapterScan bounds how many alerts StoreStatus reads to find one.
const adapterScan = 10000

// StoreStatus answers AlertStatus from the store's alert list. It is a
// stopgap until the store has an AlertStatus(ctx, id) method of its own,
// which then satisfies StatusSource directly.
type StoreStatus struct {
	Store *store.Store
}

// AlertStatus implements StatusSource.
func (s StoreStatus) AlertStatus(ctx context.Context, id string) (string, error) {
	alerts, err := s.Store.Alerts(ctx, store.AlertFilter{Limit: adapterScan})
	if err != nil {
		return "", fmt.Errorf("alert status: %w", err)
	}
	for i := range alerts {
		if alerts[i].ID == id {
			return alerts[i].Status, nil
		}
	}
	return "", fmt.Errorf("alert %q: %w", id, store.ErrNotFound)
}

// MachineLocator reads machines' sites and lines (from their agents'
// birth messages) from the store.
type MachineLocator struct {
	Store *store.Store
}

// Locate implements Locator.
func (l MachineLocator) Locate(ctx context.Context, gateway, machine string) (string, string, error) {
	ms, err := l.Store.Machines(ctx)
	if err != nil {
		return "", "", fmt.Errorf("locate machine: %w", err)
	}
	for i := range ms {
		if ms[i].Gateway == gateway && ms[i].ID == machine {
			return ms[i].Site, ms[i].Line, nil
		}
	}
	return "", "", fmt.Errorf("machine %s/%s: %w", gateway, machine, store.ErrNotFound)
}
