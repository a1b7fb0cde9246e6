package scenarios

import "testing"

func TestParseShard(t *testing.T) {
	for s, want := range map[string][2]int{"": {1, 1}, "1/1": {1, 1}, "2/3": {2, 3}} {
		k, n, err := ParseShard(s)
		if err != nil || k != want[0] || n != want[1] {
			t.Errorf("ParseShard(%q) = %d, %d, %v; want %v", s, k, n, err, want)
		}
	}
	for _, bad := range []string{"0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/2/3"} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q): want an error", bad)
		}
	}
}
