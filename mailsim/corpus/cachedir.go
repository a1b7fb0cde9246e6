package corpus

import (
	"os"
	"path/filepath"
)

// DefaultCacheDir is where Config.CacheDir keeps generated attachments by
// default: the user's cache directory ("" when the platform has none).
func DefaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "maildrill", "corpus")
}
