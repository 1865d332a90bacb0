// Package configs holds the example configuration of every Millwright
// binary. Its test loads every file here with the loader of the binary it
// configures, so an example that drifts from the code fails the build.
package configs

import (
	"fmt"
	"os"
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
	// The unit's flags are parsed by the agent's own test (agent/dist_test.go);
	// here it must at least be a well-formed unit that starts the agent.
	"millwright-agent.service": checkUnit,
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

func checkUnit(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sections := map[string]bool{}
	exec := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sections[line] = true
		case strings.Contains(line, "="):
			if k, v, _ := strings.Cut(line, "="); k == "ExecStart" {
				exec = v
			}
		default:
			return fmt.Errorf("line %d: %q is neither a section, a key=value nor a comment", i+1, line)
		}
	}
	for _, s := range []string{"[Unit]", "[Service]", "[Install]"} {
		if !sections[s] {
			return fmt.Errorf("missing section %s", s)
		}
	}
	if !strings.Contains(exec, "agent run") {
		return fmt.Errorf("ExecStart %q does not run the agent", exec)
	}
	return nil
}
