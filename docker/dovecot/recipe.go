// Package recipe holds the Dovecot + Postfix image recipe (base.sh,
// build.sh, the entrypoint and conf/) inside the maildrill
// binary, so that a binary run outside the checkout can still build the
// image (mailsim/dovecot.BuildImage extracts it to a cache directory).
package recipe

import "embed"

// Files is this folder's recipe (every non-hidden file).
//
//go:embed *
var Files embed.FS
