// Package migrations holds the database schema as ordered, plain SQL files.
//
// The files are embedded so the binary carries its own schema: `aistagram
// migrate` and `aistagram serve` apply them with goose (see store.Migrate)
// without needing the source tree at run time.
package migrations

import "embed"

// FS holds every migration file, named NNNN_description.sql in apply order.
//
//go:embed *.sql
var FS embed.FS
