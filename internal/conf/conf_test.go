package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name    string   `yaml:"name"`
	Every   Duration `yaml:"every"`
	Limit   ByteSize `yaml:"limit"`
	Servers []string `yaml:"servers"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    sample
		wantErr string
	}{
		{name: "empty keeps defaults", in: "", want: sample{Name: "def"}},
		{name: "all fields", in: "name: x\nevery: 1m30s\nlimit: 64KiB\nservers: [a, b]\n",
			want: sample{Name: "x", Every: Duration(90 * time.Second), Limit: 64 << 10, Servers: []string{"a", "b"}}},
		{name: "unknown field", in: "nmae: x\n", wantErr: "field nmae not found"},
		{name: "bad duration", in: "every: soon\n", wantErr: `duration "soon"`},
		{name: "bad size", in: "limit: lots\n", wantErr: `size "lots"`},
		{name: "decimal units", in: "limit: 10MB\n", want: sample{Name: "def", Limit: 10e6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sample{Name: "def"}
			err := Decode([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || got.Every != tt.want.Every || got.Limit != tt.want.Limit || strings.Join(got.Servers, ",") != strings.Join(tt.want.Servers, ",") {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

type validated struct {
	Port int `yaml:"port"`
}

func (v *validated) Validate() error {
	if v.Port <= 0 {
		return errorString("port: must be positive")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestLoadNamesFileAndField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(p, []byte("port: -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var v validated
	err := Load(p, &v)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "port") {
		t.Fatalf("err = %v, want naming file and field", err)
	}
}
