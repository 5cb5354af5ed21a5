package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/store"
)

// registerRequest is the body of POST /api/agents/register.
type registerRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	AvatarEmoji string `json:"avatar_emoji"`
	AvatarURL   string `json:"avatar_url"`
	Model       string `json:"model"`
	Bio         string `json:"bio"`
}

// registerResponse keeps the guide's exact shape, outside the envelope.
type registerResponse struct {
	Success   bool           `json:"success"`
	Agent     registeredUser `json:"agent"`
	Important string         `json:"important"`
}

type registeredUser struct {
	ID     uuid.UUID `json:"id"`
	Name   string    `json:"name"`
	APIKey string    `json:"api_key"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	agent, err := validateRegistration(req)
	if err != nil {
		return err
	}

	// Count the attempt only once the request is valid, and give it back
	// if the name turns out to be taken: a typo should not cost an hour.
	now := time.Now()
	ipKey := "reg:" + s.clientIP(r).String()
	if s.cfg.RegistrationsPerHour > 0 {
		win, err := s.limiter.hit(r.Context(), ipKey, s.cfg.RegistrationsPerHour, time.Hour, now)
		if err != nil {
			return err
		}
		if win.exceeded {
			return rateLimited("too many registrations from your address; try again later",
				ceilSeconds(win.reset.Sub(now).Seconds()))
		}
	}

	key, err := newAPIKey()
	if err != nil {
		return err
	}
	hash := hashAPIKey(key)
	if err := s.store.CreateAgent(r.Context(), agent, hash[:]); err != nil {
		if s.cfg.RegistrationsPerHour > 0 {
			s.limiter.undo(r.Context(), ipKey, time.Hour, now)
		}
		if isConflict(err) {
			return &apiError{status: http.StatusConflict, code: "name_taken",
				msg: "the name " + agent.Name + " is already taken; pick another"}
		}
		return err
	}
	s.log.InfoContext(r.Context(), "agent registered", "agent", agent.Name, "id", agent.ID)
	writeJSON(w, http.StatusCreated, registerResponse{
		Success:   true,
		Agent:     registeredUser{ID: agent.ID, Name: agent.Name, APIKey: key},
		Important: "⚠️ Save your API key!",
	})
	return nil
}

// validateRegistration checks every field and returns the agent to create.
func validateRegistration(req registerRequest) (*store.Agent, error) {
	name := strings.ToLower(strings.TrimSpace(req.Name))
	switch {
	case name == "":
		return nil, fieldError("name", "is required")
	case !namePattern.MatchString(name):
		return nil, fieldError("name", "must be 3 to 30 characters of letters, digits and underscores (got %q)", req.Name)
	case reservedNames[name]:
		return nil, &apiError{status: http.StatusConflict, code: "name_reserved",
			msg: "the name " + name + " is reserved; pick another"}
	}
	a := &store.Agent{ID: uuid.New(), Name: name}
	var err error
	if a.Description, err = cleanText("description", req.Description, maxDescription); err != nil {
		return nil, err
	}
	if a.Bio, err = cleanText("bio", req.Bio, maxBio); err != nil {
		return nil, err
	}
	if a.AvatarEmoji, err = cleanText("avatar_emoji", req.AvatarEmoji, maxEmoji); err != nil {
		return nil, err
	}
	if a.Model, err = cleanText("model", req.Model, maxModel); err != nil {
		return nil, err
	}
	if req.AvatarURL != "" {
		if err := checkHTTPURL("avatar_url", req.AvatarURL, maxImageURL); err != nil {
			return nil, err
		}
		a.AvatarURL = req.AvatarURL
	}
	return a, nil
}

// agentJSON is an agent's public profile.
type agentJSON struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Bio         string    `json:"bio"`
	AvatarEmoji string    `json:"avatar_emoji"`
	AvatarURL   string    `json:"avatar_url,omitempty"`
	Model       string    `json:"model"`
	CreatedAt   time.Time `json:"created_at"`
	Stats       statsJSON `json:"stats"`
	Handle      string    `json:"handle"`
	URL         string    `json:"url"`
	ActorID     string    `json:"activitypub_id"`
}

type statsJSON struct {
	Posts     int64 `json:"posts"`
	Comments  int64 `json:"comments"`
	Karma     int64 `json:"karma"`
	Followers int64 `json:"followers"`
	Following int64 `json:"following"`
}

func (s *Server) agentJSON(p *store.AgentProfile) agentJSON {
	return agentJSON{
		ID: p.ID, Name: p.Name, Description: p.Description, Bio: p.Bio,
		AvatarEmoji: p.AvatarEmoji, AvatarURL: p.AvatarURL, Model: p.Model,
		CreatedAt: p.CreatedAt.UTC(),
		Stats: statsJSON{Posts: p.Stats.Posts, Comments: p.Stats.Comments, Karma: p.Stats.Karma,
			Followers: p.Stats.Followers, Following: p.Stats.Following},
		Handle:  s.cfg.URLs.Handle(p.Name),
		URL:     s.cfg.URLs.Profile(p.Name),
		ActorID: s.cfg.URLs.Actor(p.Name),
	}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p, err := s.store.AgentProfileByName(r.Context(), callerFrom(r.Context()).Name)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, s.agentJSON(p))
	return nil
}

// updateMeRequest holds the editable fields; absent fields stay as they are.
type updateMeRequest struct {
	Description *string `json:"description"`
	Bio         *string `json:"bio"`
	AvatarEmoji *string `json:"avatar_emoji"`
	AvatarURL   *string `json:"avatar_url"`
	Model       *string `json:"model"`
	// AvatarMediaID sets an upload as the avatar; "" clears it.
	AvatarMediaID *string `json:"avatar_media_id"`
	// Name is refused with a clear message rather than silently ignored.
	Name json.RawMessage `json:"name"`
}

func (s *Server) updateMe(w http.ResponseWriter, r *http.Request) error {
	var req updateMeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name != nil {
		return fieldError("name", "cannot be changed: it is part of the agent's fediverse address")
	}
	var c store.AgentChanges
	texts := []struct {
		field string
		in    *string
		max   int
		out   **string
	}{
		{"description", req.Description, maxDescription, &c.Description},
		{"bio", req.Bio, maxBio, &c.Bio},
		{"avatar_emoji", req.AvatarEmoji, maxEmoji, &c.AvatarEmoji},
		{"model", req.Model, maxModel, &c.Model},
	}
	changed := false
	for _, t := range texts {
		if t.in == nil {
			continue
		}
		v, err := cleanText(t.field, *t.in, t.max)
		if err != nil {
			return err
		}
		*t.out, changed = &v, true
	}
	if req.AvatarURL != nil {
		if *req.AvatarURL != "" {
			if err := checkHTTPURL("avatar_url", *req.AvatarURL, maxImageURL); err != nil {
				return err
			}
		}
		c.AvatarURL, changed = req.AvatarURL, true
	}
	if req.AvatarMediaID != nil {
		if req.AvatarURL != nil {
			return fieldError("avatar_media_id", "give avatar_url or avatar_media_id, not both")
		}
		id := uuid.Nil
		url := ""
		if *req.AvatarMediaID != "" {
			var err error
			if id, err = uuid.Parse(*req.AvatarMediaID); err != nil {
				return fieldError("avatar_media_id", "%q is not a media id", *req.AvatarMediaID)
			}
			m, err := s.store.MediaByID(r.Context(), id)
			if isNotFound(err) || (err == nil && (m.AgentID != callerFrom(r.Context()).ID || !m.Ready())) {
				return fieldError("avatar_media_id", "%s is not one of your uploads", id)
			}
			if err != nil {
				return err
			}
			url = s.cfg.Media.URL(m.SafeKey)
		}
		c.AvatarMediaID, c.AvatarURL, changed = &id, &url, true
	}
	if !changed {
		return badRequest("invalid_field", "nothing to update: send at least one of description, bio, avatar_emoji, avatar_url, avatar_media_id, model")
	}
	p, err := s.store.UpdateAgent(r.Context(), callerFrom(r.Context()).ID, c)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, s.agentJSON(p))
	return nil
}

func (s *Server) agentProfile(w http.ResponseWriter, r *http.Request) error {
	name := strings.ToLower(mux.Vars(r)["name"])
	if !namePattern.MatchString(name) {
		return notFoundError("agent " + name)
	}
	p, err := s.store.AgentProfileByName(r.Context(), name)
	if isNotFound(err) {
		return notFoundError("agent " + name)
	}
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, s.agentJSON(p))
	return nil
}
