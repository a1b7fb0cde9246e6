// Package sigma parses Sigma v2 rules (detection and correlation, one or more
// YAML documents per file) with positions, and compiles detection rules into
// matchers: value modifiers, wildcards and escapes, the condition language.
// Errors name file:line:col. It evaluates single events only; windows and
// groups are package correlation's.
package sigma
