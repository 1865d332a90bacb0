package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportMode(t *testing.T) {
	dir := t.TempDir()
	err := run(t.Context(), []string{"--export-csv", dir, "--duration", "30s", "--seed", "9", "--rate", "4"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "gw2", "pump-2.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(b), "\n"); rows != 1+120 {
		t.Fatalf("%d lines, want a header and 30s × 4 Hz = 120 rows", rows)
	}
}

// TestPresetsAndFrames: --scenario takes the built-in scenarios by name,
// --frames adds the vibration features.
func TestPresetsAndFrames(t *testing.T) {
	tests := []struct {
		args []string
		file string
		want string // a column the file must have
	}{
		{[]string{"--scenario", "e2e"}, filepath.Join("gw1", "motor-1.csv"), "vib_rms"},
		{[]string{"--scenario", "bench"}, filepath.Join("line-1", "conv-11.csv"), "belt_speed"},
		{[]string{"--scenario", "bench"}, filepath.Join("line-2", "motor-21.csv"), "vib_kurtosis"},
		{[]string{"--frames"}, filepath.Join("gw2", "pump-2.csv"), "vib_defect"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			args := append(tt.args, "--export-csv", dir, "--duration", "10s")
			if err := run(t.Context(), args, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			header, _, _ := strings.Cut(string(b), "\n")
			if !strings.Contains(header, tt.want) {
				t.Fatalf("header %q has no %s", header, tt.want)
			}
		})
	}
}

func TestBadFlagsAndScenario(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml"}, `format "xml"`},
		{[]string{"--scenario", "testdata/scenarios/bad-kind.bad.yaml", "--export-csv", "x"}, `unknown fault kind "melt"`},
		{[]string{"--scenario", "missing.yaml"}, "read config"},
		{[]string{"--rate", "-1", "--export-csv", "x"}, "rate: -1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(t.Context(), tt.args, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
