package scenarios

import (
	"fmt"
	"strings"
)

// StepKindsMarkdown renders the step catalogue for scenarios/README.md.
func StepKindsMarkdown() string {
	var b strings.Builder
	for _, k := range StepKinds() {
		fmt.Fprintf(&b, "### `%s`\n\n%s.", k.Name, capitalize(k.Summary))
		if len(k.Keys) > 0 {
			fmt.Fprintf(&b, " Parameters: %s.", "`"+strings.Join(k.Keys, "`, `")+"`")
		}
		if k.Scalar != "" {
			fmt.Fprintf(&b, " A plain value sets `%s`.", k.Scalar)
		}
		fmt.Fprintf(&b, "\n\n```yaml\n%s\n```\n\n", k.Example)
	}
	return b.String()
}

// LibraryMarkdown renders the scenario library table.
func LibraryMarkdown() (string, error) {
	lib, err := Library()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| scenario | ATT&CK | what it shows |\n|---|---|---|\n")
	for _, s := range lib {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.ID, strings.Join(s.Attack, " "), strings.ReplaceAll(s.Description, "\n", " "))
	}
	return b.String(), nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
