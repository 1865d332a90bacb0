package main

import (
	"bytes"
	"strings"
	"testing"

	"millwright/internal/sign"
)

func TestKeyCommand(t *testing.T) {
	dir := t.TempDir()
	var first, second bytes.Buffer
	if err := runKey([]string{"--state", dir}, &first); err != nil {
		t.Fatal(err)
	}
	if err := runKey([]string{"--state", dir}, &second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), "# generated") || strings.Contains(second.String(), "# generated") {
		t.Fatalf("first:\n%s\nsecond:\n%s", &first, &second)
	}
	keys, err := sign.ParsePublicKeys(second.Bytes())
	if err != nil || len(keys) != 1 || !strings.Contains(second.String(), sign.KeyID(keys[0])) {
		t.Fatalf("output %q: %v", &second, err)
	}
	if !strings.HasSuffix(first.String(), second.String()[strings.Index(second.String(), "# key id"):]) {
		t.Fatal("the key changed between two runs")
	}
}
