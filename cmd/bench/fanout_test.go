package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store/storetest"
)

// TestFanOutSeedAndSinks checks the fan-out's pieces without a server: the
// seeded followers give the audiences the measurement expects (one shared
// inbox per host, or one personal inbox per follower), and the sinks count
// a delivery signed with the agent's key, count a second one to the same
// inbox as a duplicate, and refuse one signed with another key. It asserts
// nothing about speed.
func TestFanOutSeedAndSinks(t *testing.T) {
	ctx := context.Background()
	dbURL := storetest.NewURL(t)
	rep := &report{Started: time.Now().UTC(), Scale: 0.0002}
	if _, err := prepare(ctx, dbURL, rep.Scale, rep); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const base = "http://127.0.0.1:9" // the server the key ids name; never dialled
	sharedAgent, distinctAgent := fanoutAgents(rep.Scale)
	keys, err := senderKey(ctx, db, base, agentName(sharedAgent))
	if err != nil {
		t.Fatal(err)
	}
	s, err := startSinks(3, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	other, err := startSinks(1, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()

	plans := []fanoutPlan{
		{name: "shared", agent: sharedAgent, followers: 7, hosts: 3, shared: true},
		{name: "distinct", agent: distinctAgent, followers: 4, hosts: 1},
	}
	if err := plans[0].seed(ctx, db, s.hosts); err != nil {
		t.Fatal(err)
	}
	if err := plans[1].seed(ctx, db, other.hosts); err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		// What the store's fan-out will address: shared inboxes once each,
		// else personal inboxes.
		var followers, inboxes, hosts int
		err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT coalesce(nullif(ra.shared_inbox, ''), ra.inbox)),
				count(DISTINCT ra.host)
			FROM followers f JOIN remote_actors ra ON ra.id = f.remote_actor_id JOIN agents a ON a.id = f.agent_id
			WHERE a.name = $1`, agentName(p.agent)).Scan(&followers, &inboxes, &hosts)
		if err != nil {
			t.Fatal(err)
		}
		if followers != p.followers || inboxes != p.inboxes() || hosts != p.hosts {
			t.Errorf("%s: %d followers, %d inboxes, %d hosts; want %d, %d, %d",
				p.name, followers, inboxes, hosts, p.followers, p.inboxes(), p.hosts)
		}
	}

	var privPEM string
	if err := db.QueryRowContext(ctx, `SELECT private_key_pem FROM agents WHERE name = $1`,
		agentName(sharedAgent)).Scan(&privPEM); err != nil {
		t.Fatal(err)
	}
	priv, err := federation.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := federation.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	wrongPriv, err := federation.ParsePrivateKey(wrong.PrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	keyID := federation.NewURLs(u).ActorKey(agentName(sharedAgent))
	const note = base + "/posts/1"
	post := func(inbox, object string, wrongKey bool) int {
		t.Helper()
		body := []byte(`{"type":"Create","object":{"type":"Note","id":"` + object + `"}}`)
		req, err := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", federation.ContentTypeActivity)
		key := priv
		if wrongKey {
			key = wrongPriv
		}
		if err := federation.SignRequest(req, body, keyID, key, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range s.hosts {
		if code := post("http://"+h+"/inbox", note, false); code != http.StatusAccepted {
			t.Fatalf("a signed delivery to %s answered %d", h, code)
		}
	}
	post("http://"+s.hosts[0]+"/inbox", note, false)          // a duplicate
	post("http://"+s.hosts[2]+"/inbox", base+"/other", false) // another object: not counted
	if code := post("http://"+s.hosts[1]+"/inbox", note, true); code != http.StatusUnauthorized {
		t.Errorf("a delivery signed with another key answered %d, want 401", code)
	}

	var r fanoutResult
	s.fill(&r, note)
	if r.Delivered != 4 || r.InboxesReached != 3 || r.HostsReached != 3 || r.Duplicates != 1 || r.BadSignatures != 1 {
		t.Errorf("sinks counted %+v; want 4 delivered, 3 inboxes and hosts, 1 duplicate, 1 bad signature", r)
	}
	first, last := s.deliveryTimes(note)
	if first.IsZero() || last.Before(first) || s.inboxesReached(note) != 3 {
		t.Errorf("deliveries from %v to %v, %d inboxes reached", first, last, s.inboxesReached(note))
	}
}
