package store

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// agentCacheMax bounds the profiles kept (about 200 bytes each).
const agentCacheMax = 50_000

// agentCache keeps the public profile (AgentSummary) of the agents whose
// posts and comments are read, so that a page of posts is one index scan
// of posts instead of a join to agents per row: the join was a third of a
// feed page's database time. Profiles change rarely (UpdateAgent), and
// each change starts a new profile generation in every process
// (Changes.AnnounceAgents); the cache is emptied when the generation
// moves, and not used at all while announcements may be lost
// (!Changes.Live) or when the store announces nothing.
type agentCache struct {
	mu  sync.RWMutex
	gen uint64
	m   map[uuid.UUID]AgentSummary
}

// get returns the cached profiles among ids and the ids it lacks.
func (c *agentCache) get(gen uint64, ids []uuid.UUID, out map[uuid.UUID]AgentSummary) (missing []uuid.UUID) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		if _, done := out[id]; done {
			continue
		}
		if a, ok := c.m[id]; ok && c.gen == gen {
			out[id] = a
		} else if !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	return missing
}

// put stores profiles read while the generation was gen, unless it has
// moved since: they may predate the change that moved it.
func (c *agentCache) put(gen, now uint64, read []AgentSummary) {
	if gen != now {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.m == nil || len(c.m)+len(read) > agentCacheMax {
		c.gen, c.m = gen, make(map[uuid.UUID]AgentSummary, len(read))
	}
	for _, a := range read {
		c.m[a.ID] = a
	}
}

// agentSummaries returns the public profiles of the given agents, from the
// cache where it may be trusted. Unknown ids are left out.
func (s *Store) agentSummaries(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]AgentSummary, error) {
	out := make(map[uuid.UUID]AgentSummary, len(ids))
	live := s.changes != nil && s.changes.Live()
	var gen uint64
	missing := ids
	if live {
		gen = s.changes.AgentGeneration()
		missing = s.agents.get(gen, ids, out)
	}
	if len(missing) == 0 {
		return out, nil
	}
	var read []AgentSummary
	err := s.readAll(ctx, &read, `SELECT id, name, avatar_emoji, avatar_url, model FROM agents WHERE id = ANY($1)`,
		pq.Array(uuidStrings(missing)))
	if err != nil {
		return nil, fmt.Errorf("agent profiles: %w", err)
	}
	for _, a := range read {
		out[a.ID] = a
	}
	if live {
		s.agents.put(gen, s.changes.AgentGeneration(), read)
	}
	return out, nil
}

// withAgent fills in the Agent of one post from its Agent.ID.
func (s *Store) withAgent(ctx context.Context, p *Post) error {
	posts := []Post{*p}
	if err := s.withAgents(ctx, posts); err != nil {
		return err
	}
	p.Agent = posts[0].Agent
	return nil
}

// withAgents fills in the Agent of each post from its Agent.ID.
func (s *Store) withAgents(ctx context.Context, posts []Post) error {
	if len(posts) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(posts))
	for _, p := range posts {
		ids = append(ids, p.Agent.ID)
	}
	profiles, err := s.agentSummaries(ctx, ids)
	if err != nil {
		return err
	}
	for i := range posts {
		if a, ok := profiles[posts[i].Agent.ID]; ok {
			posts[i].Agent = a
		}
	}
	return nil
}

// withCommentAgent fills in the Agent of one comment by a local agent.
func (s *Store) withCommentAgent(ctx context.Context, c *Comment) error {
	comments := []Comment{*c}
	if err := s.withCommentAgents(ctx, comments); err != nil {
		return err
	}
	c.Agent = comments[0].Agent
	return nil
}

// withCommentAgents fills in the Agent of each comment by a local agent
// (a remote author's comment has none).
func (s *Store) withCommentAgents(ctx context.Context, comments []Comment) error {
	ids := make([]uuid.UUID, 0, len(comments))
	for _, c := range comments {
		if c.Agent.ID != uuid.Nil {
			ids = append(ids, c.Agent.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	profiles, err := s.agentSummaries(ctx, ids)
	if err != nil {
		return err
	}
	for i := range comments {
		if a, ok := profiles[comments[i].Agent.ID]; ok {
			comments[i].Agent = a
		}
	}
	return nil
}
