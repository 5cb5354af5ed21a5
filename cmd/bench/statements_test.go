package main

import (
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "SELECT 1", 20, "SELECT 1"},
		{"whitespace collapsed", "SELECT id\n\t\tFROM posts\n  WHERE x", 40, "SELECT id FROM posts WHERE x"},
		{"cut", "SELECT id FROM posts", 9, "SELECT id…"},
		{"cut on a rune boundary", "SELECT 'é'", 9, "SELECT '…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := oneLine(tc.in, tc.n); got != tc.want {
				t.Errorf("oneLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestStatementLinesEscapePipes(t *testing.T) {
	var b strings.Builder
	statementLines(&b, []result{{Name: "x", loadAccount: loadAccount{Statements: []statementShare{{Query: "SELECT a || b", Calls: 2, Share: 0.5}}}}})
	if !strings.Contains(b.String(), "| x | 50 % | 2 |") || !strings.Contains(b.String(), `a \|\| b`) {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestTableHead(t *testing.T) {
	var b strings.Builder
	tableHead(&b, "load", "server", "PostgreSQL", "<of which not the load's queries", "Redis")
	want := "| load | server | PostgreSQL | of which not the load's queries | Redis |\n| --- | ---: | ---: | --- | ---: |\n"
	if b.String() != want {
		t.Errorf("tableHead wrote\n%s\nwant\n%s", b.String(), want)
	}
}
