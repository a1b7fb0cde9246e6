package audit

import (
	"bufio"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// docField is one field name in the Fields table of docs/audit-schema.md.
type docField struct {
	name, typ string
	line      int
}

// schemaDocFields reads the Fields table: the first column names one
// field or several separated by " / " (a name starting with "." replaces
// the last part of the name before it: `imap.session.commands` /
// `.fetches`), the second their type (one for all, or one each).
func schemaDocFields(t *testing.T, path string) []docField {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docField
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Fields"
			continue
		case !in || !strings.HasPrefix(line, "| `"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Errorf("%s:%d: a row of the Fields table has %d cells, want 4", path, n, len(cells))
			continue
		}
		names := strings.Split(strings.TrimSpace(cells[0]), " / ")
		types := strings.Split(strings.TrimSpace(cells[1]), " / ")
		if types[0] == "" || len(types) != 1 && len(types) != len(names) {
			t.Errorf("%s:%d: the type column says %q for %d field(s): want one type for all, or one each", path, n, strings.TrimSpace(cells[1]), len(names))
		}
		prev := ""
		for i, nm := range names {
			nm = strings.Trim(nm, "`")
			if strings.HasPrefix(nm, ".") && prev != "" {
				nm = prev[:strings.LastIndex(prev, ".")] + nm
			}
			prev = nm
			typ := types[0]
			if len(types) == len(names) {
				typ = types[i]
			}
			out = append(out, docField{name: nm, typ: strings.TrimSpace(typ), line: n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// docType is how the schema names a Go field type.
func docType(ty reflect.Type) string {
	if ty == reflect.TypeFor[time.Time]() {
		return "time"
	}
	if ty.Kind() == reflect.Pointer {
		ty = ty.Elem()
	}
	switch ty.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Slice:
		return "list"
	}
	return ty.String()
}

// docs/audit-schema.md documents every field of Event by its JSON name,
// with its type, and no field that Event does not have.
func TestSchemaDocMatchesEvent(t *testing.T) {
	const path = "../../docs/audit-schema.md"
	tags := map[string]reflect.Type{}
	et := reflect.TypeFor[Event]()
	for i := 0; i < et.NumField(); i++ {
		f := et.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		tags[name] = f.Type
	}
	documented := map[string]bool{}
	for _, d := range schemaDocFields(t, path) {
		if documented[d.name] {
			t.Errorf("%s:%d: field %s documented twice", path, d.line, d.name)
		}
		documented[d.name] = true
		ty, ok := tags[d.name]
		if !ok {
			t.Errorf("%s:%d: field %s is documented but audit.Event has no field of that JSON name", path, d.line, d.name)
			continue
		}
		// "int (ns)": the type, then a note.
		if d.typ != "" && strings.Fields(d.typ)[0] != docType(ty) {
			t.Errorf("%s:%d: field %s is documented as %q, audit.Event has %s (%s)", path, d.line, d.name, d.typ, docType(ty), ty)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(tags)) {
		if !documented[name] {
			t.Errorf("%s: audit.Event field %s (json %q) is missing from the Fields table", path, fieldOf(et, name), name)
		}
	}
	if len(documented) == 0 {
		t.Fatalf("%s: no Fields table found", path)
	}
}

func fieldOf(et reflect.Type, json string) string {
	for i := 0; i < et.NumField(); i++ {
		if name, _, _ := strings.Cut(et.Field(i).Tag.Get("json"), ","); name == json {
			return et.Field(i).Name
		}
	}
	return "?"
}
