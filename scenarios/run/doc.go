// Package run replays a scenario against a mail system: it starts the
// target (mailsim/target), runs every actor and the staff model on the
// scenario clock through the scheduler, records the ground truth beside
// the audit trail, feeds the trail to the rules and hands the recording to
// scenarios.Judge. Each step kind of the scenario language has its
// implementation here, one family per file (auth, read, modify, send,
// flow); Suite runs many scenarios side by side.
package run
