package sigma

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// toString renders a scalar event value as text for string matching.
func toString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case json.Number:
		return string(x), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case time.Time:
		return x.Format(time.RFC3339Nano), true
	case []byte:
		return string(x), true
	}
	return "", false
}

// toFloat reads a number from a scalar event value, including numeric strings.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case float64, float32, int, int64, int32, uint64, uint32, json.Number:
		return true
	}
	return false
}

// ToString exposes the value rendering used by matching (for group keys).
func ToString(v any) (string, bool) { return toString(v) }

// ToFloat exposes the numeric reading used by matching (for aggregates).
func ToFloat(v any) (float64, bool) { return toFloat(v) }
