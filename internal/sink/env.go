package sink

import "github.com/vigil-project/vigil/internal/clientconf"

// Env is what building a sink may read: files named by the configuration
// and environment variables (see clientconf).
type Env = clientconf.Env
