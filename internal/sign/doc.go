// Package sign signs and verifies Millwright's commands and snapshots with
// Ed25519.
//
// # Keys
//
// A key is named by its id: the hex of the first 8 bytes of the SHA-256 of
// its public key (KeyID). Private keys are PEM PKCS#8 files, written 0600
// and read with conf.ReadKeyFile, which refuses looser permissions; public
// keys are PEM PKIX files, and a file may hold several.
//
// # What is signed
//
// A Signer signs a message's canonical bytes (wire.CommandSigningBytes,
// wire.SnapshotSigningBytes): a per-type domain prefix and the message's
// deterministic CBOR without its signature. A command's snapshot bytes are
// covered through its signed SnapshotHash, which VerifyCommand checks.
//
// # Rotation
//
// A Keyring trusts several public keys at once and verifies with whichever
// a signature names; a hub signs with one active key. To rotate: add a new
// key (Dir.Generate), give agents the new trusted bundle, activate it
// (Dir.Activate), and drop the old key from the bundle (Dir.Retire) once
// no agent needs it.
//
// # Replay
//
// A command's Env.Seq is the hub's sequence, signed with it. The hub draws
// it from a Sequence, which reserves blocks in a file so that it keeps
// growing across restarts even when the clock steps back. An agent's
// Replay keeps the highest sequence it accepted per signing key durably
// and refuses one not above it: a replayed command, a duplicate delivery
// and one overtaken by a newer command alike.
package sign
