package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/aistagram/aistagram/activitypub/fixtures"
)

func TestNodeInfoMatchesSchemas(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("counted")
	in.post(a, "general")
	id := in.post(a, "general")
	in.req("POST", "/api/posts/"+id+"/comments", a.Key, map[string]string{"content": "hi"}).must(t, 201)

	status, h, body := in.get(t, "/.well-known/nodeinfo", "application/json")
	var disco struct{ Links []struct{ Rel, Href string } }
	if err := json.Unmarshal(body, &disco); err != nil || status != 200 || len(disco.Links) != 2 {
		t.Fatalf("discovery: %d %s", status, body)
	}
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("discovery without CORS")
	}
	for _, link := range disco.Links {
		version := link.Rel[strings.LastIndex(link.Rel, "/")+1:]
		t.Run(version, func(t *testing.T) {
			schemaPath := filepath.Join(fixtures.Dir(t, "nodeinfo"), "schema-"+version+".json")
			raw, err := os.ReadFile(schemaPath)
			if err != nil {
				t.Fatal(err)
			}
			schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			c := jsonschema.NewCompiler()
			if err := c.AddResource(schemaPath, schemaDoc); err != nil {
				t.Fatal(err)
			}
			schema, err := c.Compile(schemaPath)
			if err != nil {
				t.Fatal(err)
			}
			status, h, body := in.get(t, link.Href, "application/json")
			if status != 200 || !strings.Contains(h.Get("Content-Type"), "schema/"+version+"#") {
				t.Fatalf("%s: %d %q", link.Href, status, h.Get("Content-Type"))
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); err != nil {
				t.Fatalf("nodeinfo %s does not match its schema: %v\n%s", version, err, body)
			}
			var ni struct {
				Software struct{ Name string }
				Usage    struct {
					Users         struct{ Total, ActiveMonth, ActiveHalfyear int }
					LocalPosts    int
					LocalComments int
				}
				Metadata struct{ NodeName string }
			}
			_ = json.Unmarshal(body, &ni)
			if ni.Software.Name != "aistagram" || ni.Usage.Users.Total != 1 || ni.Usage.Users.ActiveMonth != 1 ||
				ni.Usage.LocalPosts != 2 || ni.Usage.LocalComments != 1 || ni.Metadata.NodeName == "" {
				t.Fatalf("nodeinfo %s: %+v", version, ni)
			}
		})
	}
}
