package wire

// Version is the schema version this package writes and reads.
const Version = 1

// Envelope heads every message.
type Envelope struct {
	Version uint16 `cbor:"1,keyasint" json:"v"`
	Sender  string `cbor:"2,keyasint" json:"sender"`
	// Seq increases by one for every message a sender sends on a topic
	// family; receivers de-duplicate on (Sender, Seq).
	Seq uint64 `cbor:"3,keyasint" json:"seq"`
	// Time is the event time in Unix nanoseconds.
	Time int64 `cbor:"4,keyasint" json:"time"`
}

// Reading is one sample of one sensor.
type Reading struct {
	Sensor string  `cbor:"1,keyasint" json:"sensor"`
	Time   int64   `cbor:"2,keyasint" json:"time"` // Unix nanoseconds, event time
	Value  float64 `cbor:"3,keyasint" json:"value"`
}

// Telemetry carries readings of one machine.
type Telemetry struct {
	Env      Envelope  `cbor:"0,keyasint" json:"env"`
	Machine  string    `cbor:"1,keyasint" json:"machine"`
	Readings []Reading `cbor:"2,keyasint" json:"readings"`
}

// MachineInfo describes a machine an agent watches.
type MachineInfo struct {
	ID      string   `cbor:"1,keyasint" json:"id"`
	Type    string   `cbor:"2,keyasint" json:"type"`
	Site    string   `cbor:"3,keyasint,omitempty" json:"site,omitempty"`
	Line    string   `cbor:"4,keyasint,omitempty" json:"line,omitempty"`
	Sensors []string `cbor:"5,keyasint,omitempty" json:"sensors,omitempty"`
	Model   string   `cbor:"6,keyasint,omitempty" json:"model,omitempty"` // champion model kind
}

// Birth announces an agent and what it watches. Published retained.
type Birth struct {
	Env          Envelope      `cbor:"0,keyasint" json:"env"`
	AgentVersion string        `cbor:"1,keyasint" json:"agent_version"`
	Machines     []MachineInfo `cbor:"2,keyasint" json:"machines"`
	ConfigHash   string        `cbor:"3,keyasint,omitempty" json:"config_hash,omitempty"`
	// SigningKey is the agent's Ed25519 public key (32 bytes), with which
	// it signs the snapshots it uploads. The hub pins the first one it sees.
	SigningKey []byte `cbor:"4,keyasint,omitempty" json:"signing_key,omitempty"`
}

// Death is an agent's last will, or its goodbye on a clean shutdown.
type Death struct {
	Env    Envelope `cbor:"0,keyasint" json:"env"`
	Reason string   `cbor:"1,keyasint" json:"reason"`
}

// Model roles on an asset.
const (
	RoleChampion   = "champion"
	RoleTwin       = "twin"
	RoleChallenger = "challenger"
)

// ModelMetric summarises one model's scores on one machine over an interval.
type ModelMetric struct {
	Machine   string  `cbor:"1,keyasint" json:"machine"`
	Model     string  `cbor:"2,keyasint" json:"model"` // model instance name, e.g. "hst"
	Role      string  `cbor:"3,keyasint" json:"role"`
	Count     uint64  `cbor:"4,keyasint" json:"count"` // vectors scored in the interval
	ScoreMean float64 `cbor:"5,keyasint" json:"score_mean"`
	ScoreMax  float64 `cbor:"6,keyasint" json:"score_max"`
	ScoreLast float64 `cbor:"7,keyasint" json:"score_last"`
	Alerts    uint64  `cbor:"8,keyasint" json:"alerts"`      // decisions above threshold in the interval
	Samples   uint64  `cbor:"9,keyasint" json:"samples"`     // samples seen since the model started learning
	LatencyNs int64   `cbor:"10,keyasint" json:"latency_ns"` // mean score+learn time
	Threshold float64 `cbor:"11,keyasint" json:"threshold"`
	// Paired decisions against the machine's champion on the same vectors
	// (zero for the champion itself): both alarmed, only this model alarmed,
	// only the champion alarmed. They feed the hub's McNemar test.
	Both         uint64 `cbor:"12,keyasint,omitempty" json:"both,omitempty"`
	OnlyModel    uint64 `cbor:"13,keyasint,omitempty" json:"only_model,omitempty"`
	OnlyChampion uint64 `cbor:"14,keyasint,omitempty" json:"only_champion,omitempty"`
	// Hist counts the interval's scores in HistBins equal bins over [0, 1].
	Hist []uint32 `cbor:"15,keyasint,omitempty" json:"hist,omitempty"`
	// Kind is the model's algorithm (the instance name is Model).
	Kind string `cbor:"16,keyasint,omitempty" json:"kind,omitempty"`
	// Snapshot is the content hash of the snapshot the model started from.
	Snapshot string `cbor:"17,keyasint,omitempty" json:"snapshot,omitempty"`
}

// HistBins is the number of bins of ModelMetric.Hist.
const HistBins = 20

// Metrics is a batch of model metrics for the interval ending at Env.Time.
type Metrics struct {
	Env        Envelope      `cbor:"0,keyasint" json:"env"`
	IntervalNs int64         `cbor:"1,keyasint" json:"interval_ns"`
	Series     []ModelMetric `cbor:"2,keyasint" json:"series"`
}

// Contribution names a feature and how much it drove a score.
type Contribution struct {
	Feature string  `cbor:"1,keyasint" json:"feature"`
	Value   float64 `cbor:"2,keyasint" json:"value"`
}

// Alert severities.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is raised by a champion model. Env.Time is when the condition started
// (event time); the ID is stable across redelivery.
type Alert struct {
	Env          Envelope       `cbor:"0,keyasint" json:"env"`
	ID           string         `cbor:"1,keyasint" json:"id"`
	Machine      string         `cbor:"2,keyasint" json:"machine"`
	Model        string         `cbor:"3,keyasint" json:"model"`
	Severity     string         `cbor:"4,keyasint" json:"severity"`
	Score        float64        `cbor:"5,keyasint" json:"score"`
	Threshold    float64        `cbor:"6,keyasint" json:"threshold"`
	Contributors []Contribution `cbor:"7,keyasint,omitempty" json:"contributors,omitempty"`
	Message      string         `cbor:"8,keyasint,omitempty" json:"message,omitempty"`
}

// Snapshot is a model's whole state, as written by the model itself.
type Snapshot struct {
	Env     Envelope `cbor:"0,keyasint" json:"env"`
	Machine string   `cbor:"1,keyasint" json:"machine"`
	Model   string   `cbor:"2,keyasint" json:"model"` // model kind
	Role    string   `cbor:"3,keyasint" json:"role"`
	Parent  string   `cbor:"4,keyasint,omitempty" json:"parent,omitempty"` // content hash of the snapshot it started from
	Samples uint64   `cbor:"5,keyasint" json:"samples"`
	Data    []byte   `cbor:"6,keyasint" json:"data"`
	// Sig is the uploading agent's signature (see SnapshotSigningBytes).
	Sig *Signature `cbor:"7,keyasint,omitempty" json:"sig,omitempty"`
}

// Drift reports a change in the distribution of a model's input or score.
type Drift struct {
	Env      Envelope `cbor:"0,keyasint" json:"env"`
	Machine  string   `cbor:"1,keyasint" json:"machine"`
	Model    string   `cbor:"2,keyasint" json:"model"`
	Role     string   `cbor:"3,keyasint" json:"role"`
	Detector string   `cbor:"4,keyasint" json:"detector"` // "adwin", "page-hinkley"
	Signal   string   `cbor:"5,keyasint" json:"signal"`   // "score" or a feature name
	Before   float64  `cbor:"6,keyasint" json:"before"`   // mean before the change
	After    float64  `cbor:"7,keyasint" json:"after"`    // mean after the change
	Samples  uint64   `cbor:"8,keyasint" json:"samples"`  // samples the evidence spans
}

// Command kinds.
const (
	CmdDeploy   = "deploy"
	CmdRollback = "rollback"
	CmdPing     = "ping"
	CmdRemove   = "remove" // remove a challenger
)

// Command is sent by the hub to one agent.
type Command struct {
	Env      Envelope `cbor:"0,keyasint" json:"env"`
	ID       string   `cbor:"1,keyasint" json:"id"`
	Kind     string   `cbor:"2,keyasint" json:"kind"`
	Machine  string   `cbor:"3,keyasint,omitempty" json:"machine,omitempty"`
	Role     string   `cbor:"4,keyasint,omitempty" json:"role,omitempty"`
	Model    string   `cbor:"5,keyasint,omitempty" json:"model,omitempty"`
	Snapshot []byte   `cbor:"6,keyasint,omitempty" json:"snapshot,omitempty"`
	// Settings tune a fresh model of kind Model when no Snapshot is given.
	Settings map[string]float64 `cbor:"7,keyasint,omitempty" json:"settings,omitempty"`
	// Name is the model instance name on the machine (e.g. "challenger-2").
	Name   string `cbor:"8,keyasint,omitempty" json:"name,omitempty"`
	Reason string `cbor:"9,keyasint,omitempty" json:"reason,omitempty"`
	// SnapshotHash is the hex SHA-256 of Snapshot. A signed command's
	// signature covers it instead of the snapshot bytes themselves.
	SnapshotHash string `cbor:"10,keyasint,omitempty" json:"snapshot_hash,omitempty"`
	// Sig is the hub's signature (see CommandSigningBytes); Env.Seq is
	// the hub's sequence, which agents keep for anti-replay.
	Sig *Signature `cbor:"11,keyasint,omitempty" json:"sig,omitempty"`
}

// CommandAck answers a Command.
type CommandAck struct {
	Env       Envelope `cbor:"0,keyasint" json:"env"`
	CommandID string   `cbor:"1,keyasint" json:"command_id"`
	OK        bool     `cbor:"2,keyasint" json:"ok"`
	Reason    string   `cbor:"3,keyasint,omitempty" json:"reason,omitempty"`
}

// Ack tells an agent which of its sequence numbers the hub has durably stored.
type Ack struct {
	Env  Envelope `cbor:"0,keyasint" json:"env"`
	Seqs []uint64 `cbor:"1,keyasint" json:"seqs"`
}
