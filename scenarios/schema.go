package scenarios

import (
	"encoding/json"
	"sort"
)

// JSONSchema returns the scenario language as a JSON Schema (draft
// 2020-12), generated from the step registry so it never drifts from the
// parser. Editors use it to validate and complete scenario files.
func JSONSchema() []byte {
	str := map[string]any{"type": "string"}
	dur := map[string]any{"type": "string", "pattern": `^\d+d|^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$|^\d+d(\d+(\.\d+)?(ns|us|ms|s|m|h))+$`, "description": `a duration: "90s", "15m", "2h30m", "1d"`}
	strList := map[string]any{"oneOf": []any{str, map[string]any{"type": "array", "items": str}}}
	size := map[string]any{"type": "string", "pattern": `^[0-9.]+\s*(B|KB|MB|GB)?$`, "description": "a size: 40KB, 2MB"}
	integer := map[string]any{"type": "integer", "minimum": 0}
	boolean := map[string]any{"type": "boolean"}
	paramSchemas := map[string]any{
		"mailbox": map[string]any{"type": "string", "description": `a mailbox; "@role/INBOX" or "@local.part/INBOX" names another user's or a shared mailbox`},
		"pattern": str, "user": str, "users": map[string]any{"oneOf": []any{integer, map[string]any{"const": "all"}}},
		"passwords": map[string]any{"oneOf": []any{map[string]any{"const": "common"}, map[string]any{"type": "array", "items": str}}},
		"attempts":  integer, "delay": dur, "service": map[string]any{"enum": []string{"imap", "smtp"}}, "stop_on_success": boolean,
		"text": strList, "keywords": strList, "from": str, "since": map[string]any{"type": "string", "format": "date"}, "before": map[string]any{"type": "string", "format": "date"},
		"has_attachment": boolean, "from_search": boolean, "types": strList, "min_size": size, "max_size": size, "name": str, "limit": integer,
		"scope": map[string]any{"enum": []string{"delegated", "shared", "all"}}, "download": map[string]any{"enum": []string{"attachments", "messages", "none"}},
		"seen": boolean, "expunge": boolean, "to": strList, "subject": str, "body": str, "attach": map[string]any{"enum": []any{"downloaded", "none", true, false}},
		"max_attachments": integer, "duration": dur, "times": integer, "over": map[string]any{"enum": []string{"mailboxes", "others"}},
		"steps": map[string]any{"$ref": "#/$defs/steps"},
	}
	var stepVariants []any
	names := kindNames()
	sort.Strings(names)
	for _, name := range names {
		k := registry[name]
		props := map[string]any{}
		for _, key := range k.Keys {
			props[key] = paramSchemas[key]
		}
		params := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		var val any = params
		if k.Scalar != "" {
			val = map[string]any{"oneOf": []any{params, paramSchemas[k.Scalar]}}
		} else if len(k.Keys) == 0 {
			val = map[string]any{"oneOf": []any{params, map[string]any{"type": "null"}}}
		}
		stepVariants = append(stepVariants, map[string]any{
			"type": "object", "description": k.Summary,
			"properties":           map[string]any{"id": map[string]any{"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"}, "at": map[string]any{"type": "string", "description": `"+15h40m" after the start, or "23:40" the next time the clock shows it`}, name: val},
			"required":             []string{name},
			"additionalProperties": false,
		})
		if len(k.Keys) == 0 {
			stepVariants = append(stepVariants, map[string]any{"const": name})
		}
	}
	schema := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/maildrill/maildrill/scenarios/scenario.schema.json",
		"title":                "maildrill scenario",
		"type":                 "object",
		"required":             []string{"id", "title", "actors"},
		"additionalProperties": false,
		"properties": map[string]any{
			"id": map[string]any{"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"}, "title": str, "description": str, "narrative": str,
			"attack": map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": `^T\d{4}(\.\d{3})?$`}},
			"environment": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"seed": integer, "users": integer, "messages": integer, "target": map[string]any{"enum": []string{"embedded", "docker", "dovecot"}},
				"start": map[string]any{"type": "string", "format": "date-time"}, "timezone": str,
				"clock": map[string]any{"enum": []string{"virtual", "scaled", "real"}}, "speed": map[string]any{"type": "number", "exclusiveMinimum": 0},
				"duration": dur, "allow_plaintext_auth": boolean,
				"auth_throttling": map[string]any{"type": "object", "additionalProperties": false, "minProperties": 1, "properties": map[string]any{
					"failure_delay": dur, "max_failures_per_source": integer, "max_failures_per_account": integer, "window": dur}}}},
			"actors": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{
				"type": "object", "required": []string{"id", "kind"}, "additionalProperties": false,
				"properties": map[string]any{
					"id": map[string]any{"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"}, "kind": map[string]any{"enum": []string{"attacker", "insider", "staff"}},
					"source": strList, "helo": str, "tls": boolean,
					"client": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"name": str, "version": str}},
					"credentials": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"user": str, "password": str, "from": map[string]any{"enum": []string{"spray", "brute_force", "stolen"}},
						"list": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"user": str, "password": str}}}}},
					"pacing": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"delay": dur, "jitter": map[string]any{"type": "number", "minimum": 0, "maximum": 1}}},
					"budget": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"bytes": size, "messages": integer, "until": dur}},
					"staff": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
						"count": integer, "workday": map[string]any{"type": "string", "pattern": `^\d\d:\d\d-\d\d:\d\d$`}, "phones": integer, "late": integer, "mail_per_day": integer, "phone_network": str}},
					"steps": map[string]any{"$ref": "#/$defs/steps"},
				}}},
			"expect": map[string]any{"type": "array", "items": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"rule": str, "after": str, "edge": map[string]any{"enum": []string{"start", "end"}}, "min_delay": dur, "max_delay": dur, "within": dur,
				"count":         map[string]any{"oneOf": []any{integer, map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"min": integer, "max": integer}}}},
				"group":         map[string]any{"type": "object", "additionalProperties": str},
				"must_not_fire": boolean, "from": dur, "to": dur,
				"blind_on": map[string]any{"type": "array", "uniqueItems": true, "items": map[string]any{"enum": TelemetryNames}}}}},
			"noise": map[string]any{"type": "object", "additionalProperties": false, "minProperties": 1, "properties": map[string]any{
				"max_alerts": map[string]any{"type": "integer", "minimum": 0},
				"rules": map[string]any{"type": "array", "items": map[string]any{"type": "object", "additionalProperties": false, "required": []string{"rule", "max_alerts"},
					"properties": map[string]any{"rule": str, "max_alerts": map[string]any{"type": "integer", "minimum": 0}}}}}},
			"injects": map[string]any{"type": "array", "items": map[string]any{"type": "object", "additionalProperties": false, "required": []string{"id", "text", "release"},
				"properties": map[string]any{
					"id": map[string]any{"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"}, "title": str, "text": str,
					"release": map[string]any{"type": "object", "additionalProperties": false, "minProperties": 1, "properties": map[string]any{
						"at": str, "after": str, "delay": dur, "on_alert": str, "no_alert": str, "by": str}},
					"questions": map[string]any{"type": "array", "items": map[string]any{"type": "object", "additionalProperties": false, "required": []string{"text"},
						"properties": map[string]any{"id": str, "text": str, "choices": map[string]any{"type": "array", "minItems": 2, "items": str}, "answer": str}}}}}},
		},
		"$defs": map[string]any{"steps": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"oneOf": stepVariants}}},
	}
	b, _ := json.MarshalIndent(schema, "", "  ")
	return append(b, '\n')
}
