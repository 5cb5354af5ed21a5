package store

// SetMaxPrepared lowers the bound on prepared statements, so a test can
// reach it.
func SetMaxPrepared(s *Store, n int32) { s.maxStmts = n }

// PreparedCount is how many statements the store has prepared.
func PreparedCount(s *Store) int { return int(s.nstmts.Load()) }

// The columns and joins of a post read, for reading one with sqlx.
const (
	PostColumns  = postColumns
	PostFrom     = postFrom
	MediaColumns = mediaColumns
)

// SameScopeSlot reports whether two scopes share a generation in c.
func SameScopeSlot(c *Changes, a, b string) bool { return c.scopeSlot(a) == c.scopeSlot(b) }
