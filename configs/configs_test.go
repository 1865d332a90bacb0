// Package configs holds the example configuration of every Millwright
// binary. Its test loads every file here with the loader of the binary it
// configures, so an example that drifts from the code fails the build.
package configs

import (
	"path/filepath"
	"strings"
	"testing"

	agentconfig "millwright/agent/config"
	"millwright/firmware-sim/plant"
	hubconfig "millwright/hub/config"
)

// loaders maps a file-name prefix to the loader of the binary it configures.
var loaders = map[string]func(path string) error{
	"hub":          func(p string) error { _, err := hubconfig.Load(p); return err },
	"firmware-sim": func(p string) error { _, err := plant.LoadScenario(p); return err },
	"agent":        func(p string) error { _, err := agentconfig.Load(p); return err },
}

func TestEveryConfigLoads(t *testing.T) {
	files, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".go") {
			continue
		}
		t.Run(f, func(t *testing.T) {
			load := loaderFor(f)
			if load == nil {
				t.Fatalf("no test loads %s: add its loader to configs_test.go", f)
			}
			if err := load(f); err != nil {
				t.Fatalf("load %s: %v", f, err)
			}
			loaded++
		})
	}
	if loaded == 0 {
		t.Fatal("no config file loaded")
	}
}

func loaderFor(name string) func(string) error {
	best := ""
	for prefix := range loaders {
		if strings.HasPrefix(name, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return nil
	}
	return loaders[best]
}
