package server

import (
	"context"
	"fmt"
	"time"
)

// StatusLine is the one-line summary printed every StatusEvery.
func (s *Server) StatusLine(ctx context.Context) (string, error) {
	c, err := s.store.Counts(ctx)
	if err != nil {
		return "", err
	}
	st := s.ingest.Stats()
	ready := ""
	if s.Ready() != nil {
		ready = "  broker not connected"
	}
	return fmt.Sprintf("hub: http://%s  gateways %d/%d online  machines %d  alerts %d open  ingested %d  rejected %d%s",
		s.HTTPAddr(), c.GatewaysOnline, c.Gateways, c.Machines, c.AlertsOpen, st.Ingested, st.Rejected, ready), nil
}

func (s *Server) runStatus(ctx context.Context) error {
	t := time.NewTicker(s.opts.StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		line, err := s.StatusLine(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("status line", "err", err)
			continue
		}
		if _, err := fmt.Fprintln(s.opts.StatusOut, line); err != nil {
			return fmt.Errorf("print status: %w", err)
		}
	}
}
