package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"millwright/wire"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := Model{Machine: "press-1", Role: "champion", Kind: "baseline", Sensors: []string{"a", "b"}, Data: []byte{1, 2, 3}, Saved: 42}
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	want.Data = []byte{4, 5} // overwrite in place
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	got, failed, err := LoadAll(dir)
	if err != nil || len(failed) != 0 || len(got) != 1 {
		t.Fatalf("LoadAll = %v, %v, %v", got, failed, err)
	}
	want.Version = Version
	if g := got[0]; g.Machine != want.Machine || !slices.Equal(g.Data, want.Data) || !slices.Equal(g.Sensors, want.Sensors) || g.Kind != want.Kind || g.Saved != 42 {
		t.Errorf("got %+v, want %+v", g, want)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want 1", len(entries))
	}
}

func TestLoadAllReportsBadFiles(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, Model{Machine: "ok", Role: "champion", Kind: "k", Sensors: []string{"a"}, Data: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"garbage.champion.model": []byte("not cbor at all"),
		"empty.champion.model":   nil,
	}
	for name, b := range bad {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A valid record under another machine's name is refused too.
	b, _ := os.ReadFile(Path(dir, "ok", "champion"))
	os.WriteFile(filepath.Join(dir, "other.champion.model"), b, 0o600)

	got, failed, err := LoadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Machine != "ok" {
		t.Errorf("loaded %+v", got)
	}
	if len(failed) != 3 {
		t.Fatalf("failed = %+v, want 3", failed)
	}
	for _, f := range failed {
		if f.Err == nil {
			t.Errorf("%s: no reason", f.Path)
		}
		if strings.HasSuffix(f.Path, "other.champion.model") && !strings.Contains(f.Err.Error(), "not its file name") {
			t.Errorf("other: %v", f.Err)
		}
		if err := SetAside(f.Path); err != nil {
			t.Error(err)
		}
	}
	if _, failed, _ := LoadAll(dir); len(failed) != 0 {
		t.Errorf("set-aside files are loaded again: %+v", failed)
	}
}

func TestSaveRefusesBadIDs(t *testing.T) {
	if err := Save(t.TempDir(), Model{Machine: "../x", Role: "champion"}); err == nil {
		t.Error("Save accepted a machine id with a path in it")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xa0})
	full, err := cbor.Marshal(Model{Version: Version, Machine: "m", Role: "challenger", Kind: "hst", Sensors: []string{"a", "b"},
		Data: []byte{1, 2}, Saved: 7, Slot: "c-x", Name: "x", Parent: "ab", Warm: 3, Previous: false, Thresh: 0.9})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if m.Version != Version || len(m.Data) == 0 || len(m.Sensors) == 0 {
			t.Errorf("accepted incomplete %+v", m)
		}
		// Round trip: what was accepted encodes to what decodes the same.
		again, err := cbor.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Errorf("round trip: %+v -> %+v, %v", m, m2, err)
		}
	})
}

func TestSaveMachinePrunesRemovedModels(t *testing.T) {
	dir := t.TempDir()
	mk := func(slot, role string) Model {
		return Model{Role: role, Slot: slot, Kind: "k", Sensors: []string{"a"}, Data: []byte{1}, Name: slot}
	}
	all := []Model{mk("champion", "champion"), mk("twin", "twin"), mk("c-x", "challenger")}
	if err := SaveMachine(dir, "m", all); err != nil {
		t.Fatal(err)
	}
	// Another machine whose id starts like this one's file names.
	if err := SaveMachine(dir, "m.c", all[:1]); err != nil {
		t.Fatal(err)
	}
	if err := SaveMachine(dir, "m", all[:2]); err != nil {
		t.Fatal(err)
	}
	got, failed, err := LoadAll(dir)
	if err != nil || len(failed) != 0 {
		t.Fatal(err, failed)
	}
	var keys []string
	for _, m := range got {
		keys = append(keys, m.Machine+"/"+m.Key())
	}
	slices.Sort(keys)
	if want := "m.c/champion m/champion m/twin"; strings.Join(keys, " ") != want {
		t.Errorf("files after pruning: %v, want %s", keys, want)
	}
}

// A write interrupted by a crash leaves a temporary file; the next load
// removes it and loads the whole files beside it.
func TestLoadAllRemovesLeftoverTemporaries(t *testing.T) {
	dir := t.TempDir()
	m := Model{Machine: "m1", Role: wire.RoleChampion, Kind: "k", Sensors: []string{"a"}, Data: []byte{1}}
	if err := Save(dir, m); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".m1.champion.model.tmp123")
	other := filepath.Join(dir, ".keep")
	for _, p := range []string{tmp, other} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ms, failed, err := LoadAll(dir)
	if err != nil || len(failed) != 0 || len(ms) != 1 {
		t.Fatalf("LoadAll = %d models, failed %v, err %v", len(ms), failed, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not a state temporary was removed: %v", err)
	}
}
