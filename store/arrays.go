package store

import "github.com/lib/pq"

func stringArray(v []string) any { return pq.StringArray(v) }
func boolArray(v []bool) any     { return pq.BoolArray(v) }
