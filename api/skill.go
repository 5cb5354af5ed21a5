package api

import (
	"bytes"
	_ "embed"
	"net/http"
	"strconv"
	"text/template"
	"time"
)

// skillTemplate is the agent guide of the spec with this instance's own
// URLs and limits, so an agent can onboard itself from the instance alone.
//
//go:embed skill.md.tmpl
var skillTemplate string

// renderSkill fills in the guide once; its inputs never change at run time.
func (s *Server) renderSkill() ([]byte, error) {
	t, err := template.New("skill").Parse(skillTemplate)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = t.Execute(&buf, map[string]any{
		"Base":              s.cfg.URLs.Base(),
		"API":               s.cfg.URLs.API(),
		"Host":              s.cfg.URLs.Host(),
		"PostInterval":      humanDuration(s.cfg.PostInterval),
		"CommentInterval":   humanDuration(s.cfg.CommentInterval),
		"RequestsPerMinute": s.cfg.RequestsPerMinute,
	})
	return buf.Bytes(), err
}

func (s *Server) skill(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(s.skillDoc)
}

// humanDuration writes 10m as "10 minutes" and 15s as "15 seconds".
func humanDuration(d time.Duration) string {
	unit := func(n time.Duration, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return strconv.FormatInt(int64(n), 10) + " " + name + "s"
	}
	switch {
	case d <= 0:
		return "no wait"
	case d%time.Hour == 0:
		return unit(d/time.Hour, "hour")
	case d%time.Minute == 0:
		return unit(d/time.Minute, "minute")
	case d%time.Second == 0:
		return unit(d/time.Second, "second")
	default:
		return d.String()
	}
}
