package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// sentCreate stores a released, fanned-out Create for deliveries to belong
// to, and returns its outbox id.
func sentCreate(t *testing.T, st *store.Store) int64 {
	t.Helper()
	var id int64
	if err := st.DB().GetContext(context.Background(), &id, `INSERT INTO outbox (kind, activity, released_at, fanned_out_at)
		VALUES ('create_post', '{"type":"Create"}', now(), now()) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRecordDeliveryAttempt: one attempt's outcome is recorded in one
// statement that also closes the host's circuit when the activity was
// delivered, and leaves the host alone otherwise; DeliveryByID brings the
// circuit along with the delivery.
func TestRecordDeliveryAttempt(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	db := st.DB()
	outboxID := sentCreate(t, st)
	future := time.Now().Add(time.Hour)

	tests := []struct {
		name     string
		failures int        // the host's failures before the attempt; -1: no hosts row
		until    *time.Time // its open circuit
		outcome  string
		status   int
		errText  string
		// what the host looks like afterwards
		wantFailures int
		wantOpen     bool
		wantSuccess  bool
	}{
		{name: "healthy host, delivered", failures: -1, outcome: "delivered", status: 202, wantFailures: -1},
		{name: "failing host, delivered", failures: 3, outcome: "delivered", status: 202, wantSuccess: true},
		{name: "open circuit, delivered", failures: 12, until: &future, outcome: "delivered", status: 200, wantSuccess: true},
		{name: "failing host, still pending", failures: 3, outcome: "pending", status: 503, errText: "inbox answered 503",
			wantFailures: 3},
		{name: "open circuit, failed for good", failures: 12, until: &future, outcome: "failed", status: 0,
			errText: "host unavailable", wantFailures: 12, wantOpen: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := fmt.Sprintf("host%d.example", i)
			if tc.failures >= 0 {
				if _, err := db.ExecContext(ctx, `INSERT INTO hosts (host, failures, first_failure_at, unavailable_until)
					VALUES ($1, $2, now(), $3)`, host, tc.failures, tc.until); err != nil {
					t.Fatal(err)
				}
			}
			var id int64
			if err := db.GetContext(ctx, &id, `INSERT INTO deliveries (outbox_id, inbox, host)
				VALUES ($1, $2, $3) RETURNING id`, outboxID, "https://"+host+"/inbox", host); err != nil {
				t.Fatal(err)
			}

			d, err := st.DeliveryByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if string(d.Activity) != `{"type": "Create"}` || d.Status != "pending" || d.Host != host {
				t.Errorf("delivery = %+v", d)
			}
			if open := d.HostUnavailableUntil != nil && d.HostUnavailableUntil.After(time.Now()); open != (tc.until != nil) {
				t.Errorf("delivery says the circuit is open: %v, want %v", open, tc.until != nil)
			}

			if err := st.RecordDeliveryAttempt(ctx, id, tc.status, tc.errText, tc.outcome); err != nil {
				t.Fatal(err)
			}
			var row struct {
				Status      string         `db:"status"`
				Attempts    int            `db:"attempts"`
				LastStatus  sql.NullInt64  `db:"last_status"`
				LastError   sql.NullString `db:"last_error"`
				DeliveredAt *time.Time     `db:"delivered_at"`
			}
			if err := db.GetContext(ctx, &row, `SELECT status, attempts, last_status, last_error, delivered_at
				FROM deliveries WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			if row.Status != tc.outcome || row.Attempts != 1 || row.LastStatus.Int64 != int64(tc.status) ||
				row.LastError.String != tc.errText || (row.DeliveredAt != nil) != (tc.outcome == "delivered") {
				t.Errorf("delivery row = %+v", row)
			}

			var h struct {
				Failures    int        `db:"failures"`
				Until       *time.Time `db:"unavailable_until"`
				LastSuccess *time.Time `db:"last_success_at"`
			}
			err = db.GetContext(ctx, &h, `SELECT failures, unavailable_until, last_success_at FROM hosts WHERE host = $1`, host)
			if tc.wantFailures == -1 && !tc.wantSuccess {
				if !errors.Is(err, sql.ErrNoRows) {
					t.Errorf("a healthy host got a hosts row (%+v, %v)", h, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Failures != tc.wantFailures || (h.Until != nil) != tc.wantOpen || (h.LastSuccess != nil) != tc.wantSuccess {
				t.Errorf("host = failures %d, open %v, success recorded %v; want %d, %v, %v",
					h.Failures, h.Until != nil, h.LastSuccess != nil, tc.wantFailures, tc.wantOpen, tc.wantSuccess)
			}
		})
	}
}

// TestRecordDelivered: a batch's successes are recorded in one statement,
// each with its own status; the circuits of their failing hosts close,
// healthy hosts get no row, and deliveries not in the batch are untouched.
func TestRecordDelivered(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	db := st.DB()
	outboxID := sentCreate(t, st)
	if _, err := db.ExecContext(ctx, `INSERT INTO hosts (host, failures, first_failure_at, unavailable_until)
		VALUES ('failing.example', 4, now(), now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	if err := db.SelectContext(ctx, &ids, `INSERT INTO deliveries (outbox_id, inbox, host)
		VALUES ($1, 'https://failing.example/a/inbox', 'failing.example'),
			($1, 'https://failing.example/b/inbox', 'failing.example'),
			($1, 'https://healthy.example/inbox', 'healthy.example'),
			($1, 'https://other.example/inbox', 'other.example')
		RETURNING id`, outboxID); err != nil {
		t.Fatal(err)
	}
	batch := []store.Delivered{{ID: ids[0], Status: 202}, {ID: ids[1], Status: 200}, {ID: ids[2], Status: 204}}
	if err := st.RecordDelivered(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordDelivered(ctx, nil); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}

	type row struct {
		ID          int64         `db:"id"`
		Status      string        `db:"status"`
		Attempts    int           `db:"attempts"`
		LastStatus  sql.NullInt64 `db:"last_status"`
		DeliveredAt *time.Time    `db:"delivered_at"`
	}
	var rows []row
	if err := db.SelectContext(ctx, &rows, `SELECT id, status, attempts, last_status, delivered_at
		FROM deliveries ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	want := map[int64]int64{ids[0]: 202, ids[1]: 200, ids[2]: 204}
	for _, r := range rows {
		status, inBatch := want[r.ID]
		switch {
		case inBatch && (r.Status != "delivered" || r.Attempts != 1 || r.LastStatus.Int64 != status || r.DeliveredAt == nil):
			t.Errorf("delivery %d = %+v, want delivered with status %d", r.ID, r, status)
		case !inBatch && (r.Status != "pending" || r.Attempts != 0 || r.DeliveredAt != nil):
			t.Errorf("delivery %d, not in the batch, = %+v", r.ID, r)
		}
	}
	var failures int
	var until *time.Time
	if err := db.QueryRowContext(ctx, `SELECT failures, unavailable_until FROM hosts WHERE host = 'failing.example'`).
		Scan(&failures, &until); err != nil {
		t.Fatal(err)
	}
	if failures != 0 || until != nil {
		t.Errorf("failing host after its deliveries went through: failures %d, unavailable until %v", failures, until)
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM hosts WHERE host <> 'failing.example'`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d hosts rows written for healthy hosts", n)
	}
}

// TestFanOutConcurrent: fan-outs of a burst of rows, several at once per
// row, on a pool smaller than the number of fan-outs in flight, with a
// render that reads through the pool as the real one does. Every row is
// fanned out exactly once, and none waits forever for a connection held
// by another fan-out's transaction.
func TestFanOutConcurrent(t *testing.T) {
	st := storetest.New(t)
	db := st.DB()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var actor int64
	if err := db.GetContext(ctx, &actor, `INSERT INTO remote_actors (uri, type, host, inbox)
		VALUES ('https://remote.example/users/a', 'Person', 'remote.example', 'https://remote.example/users/a/inbox')
		RETURNING id`); err != nil {
		t.Fatal(err)
	}
	const rows, callsPerRow = 6, 3
	var ids []int64
	if err := db.SelectContext(ctx, &ids, `INSERT INTO outbox (kind, remote_actor_id, released_at)
		SELECT 'accept_follow', $1, now() FROM generate_series(1, $2) RETURNING id`, actor, rows); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)

	render := func(ctx context.Context, row *store.OutboxRow) ([]byte, []store.Recipient, error) {
		var one int
		if err := db.GetContext(ctx, &one, `SELECT 1`); err != nil {
			return nil, nil, err
		}
		return []byte(fmt.Sprintf(`{"type":"Accept","id":"https://local.example/accepts/%d"}`, row.ID)), nil, nil
	}
	type result struct {
		row        int64
		deliveries []int64
		err        error
	}
	results := make(chan result, rows*callsPerRow)
	for _, id := range ids {
		for range callsPerRow {
			go func() {
				d, err := st.FanOut(ctx, id, render)
				results <- result{id, d, err}
			}()
		}
	}
	got := map[int64][]int64{}
	for range rows * callsPerRow {
		r := <-results
		if r.err != nil {
			t.Fatalf("fan-out of row %d: %v", r.row, r.err)
		}
		if len(r.deliveries) != 1 {
			t.Fatalf("fan-out of row %d returned deliveries %v, want one", r.row, r.deliveries)
		}
		if prev, ok := got[r.row]; ok && prev[0] != r.deliveries[0] {
			t.Fatalf("row %d: one call returned delivery %d, another %d", r.row, prev[0], r.deliveries[0])
		}
		got[r.row] = r.deliveries
	}
	var deliveries, fannedOut int
	if err := db.GetContext(ctx, &deliveries, `SELECT count(*) FROM deliveries`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &fannedOut, `SELECT count(*) FROM outbox WHERE fanned_out_at IS NOT NULL AND activity IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if deliveries != rows || fannedOut != rows {
		t.Errorf("%d deliveries and %d rows fanned out, want %d of each", deliveries, fannedOut, rows)
	}
}

// TestDeliveriesByIDsShareTheirActivity: PostgreSQL sends each activity
// once per batch; every delivery still comes back with its own outbox
// row's activity, whatever the order and mix of the ids asked for.
func TestDeliveriesByIDsShareTheirActivity(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	db := st.DB()
	var first, second int64
	if err := db.GetContext(ctx, &first, `INSERT INTO outbox (kind, activity, released_at, fanned_out_at)
		VALUES ('create_post', '{"id": "a"}', now(), now()) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &second, `INSERT INTO outbox (kind, activity, released_at, fanned_out_at)
		VALUES ('create_post', '{"id": "b"}', now(), now()) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{} // delivery → its activity
	var ids []int64
	for i, outbox := range []int64{first, second, first, second, second, first} {
		var id int64
		if err := db.GetContext(ctx, &id, `INSERT INTO deliveries (outbox_id, inbox, host)
			VALUES ($1, $2, 'h.example') RETURNING id`, outbox, fmt.Sprintf("https://h.example/u/%d/inbox", i)); err != nil {
			t.Fatal(err)
		}
		want[id] = map[int64]string{first: `{"id": "a"}`, second: `{"id": "b"}`}[outbox]
		ids = append(ids, id)
	}
	for _, tc := range []struct {
		name string
		ids  []int64
	}{
		{"all", ids},
		{"reversed", []int64{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"one of each", []int64{ids[3], ids[2]}},
		{"one", ids[4:5]},
		{"some missing", []int64{ids[1], 1 << 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := st.DeliveriesByIDs(ctx, tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			wantN := 0
			for _, id := range tc.ids {
				if _, ok := want[id]; ok {
					wantN++
				}
			}
			if len(ds) != wantN {
				t.Fatalf("%d deliveries, want %d", len(ds), wantN)
			}
			for i, d := range ds {
				if string(d.Activity) != want[d.ID] {
					t.Errorf("delivery %d carries %s, want %s", d.ID, d.Activity, want[d.ID])
				}
				if i > 0 && ds[i-1].ID >= d.ID {
					t.Errorf("deliveries out of id order: %d before %d", ds[i-1].ID, d.ID)
				}
			}
		})
	}
}
