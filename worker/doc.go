// Package worker holds Aistagram's background work on asynq: task type
// names and payloads, their handlers, the periodic scheduler, and the
// enqueue client the HTTP layer uses.
//
// Durable intent lives in PostgreSQL; Redis only carries the work. A lost
// task delays its effect, it never loses it: periodic tasks recompute from
// the database, and federation side effects are swept from the outbox table.
package worker
