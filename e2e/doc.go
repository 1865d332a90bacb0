// Package e2e holds Millwright's end-to-end tests: a hub, agents and the
// simulated plant run together in-process against a real MQTT broker (the
// hub's embedded one, or Mosquitto), and the tests check what a user would
// see: the injected fault becomes an alert stored in the hub.
package e2e
