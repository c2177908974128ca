package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestTheAmplifierFollowsEachModifiedNodeEventWithCopiesOfEarlierOnes(t *testing.T) {
	// What an API server's Node watch sends, in order.
	events := []string{
		`{"type":"ADDED","object":{"metadata":{"name":"n1"}}}`,
		`{"type":"MODIFIED","object":{"metadata":{"name":"n1","resourceVersion":"1"}}}`,
		`{"type":"MODIFIED","object":{"metadata":{"name":"n2","resourceVersion":"2"}}}`,
		`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}}`,
		`{"type":"MODIFIED","object":{"metadata":{"name":"n3","resourceVersion":"4"}}}`,
		`{"type":"DELETED","object":{"metadata":{"name":"n1","resourceVersion":"5"}}}`,
	}
	var gotQuery string
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		for _, ev := range events {
			fmt.Fprintln(w, ev)
		}
	}))
	defer upstream.Close()
	u, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	a := &amplifier{upstream: u, transport: upstream.Client().Transport}
	a.copies.Store(2)

	req := httptest.NewRequest(http.MethodGet, "/api/v1/nodes?watch=true&resourceVersion=7", nil)
	// As the agent's transport asks; the amplifier's own transport then
	// undoes any compression before it reads the events.
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)

	if gotQuery != "watch=true&resourceVersion=7" {
		t.Errorf("upstream query %q, want the agent's", gotQuery)
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(rec.Body.String()))
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	want := []string{
		events[0],
		events[1], // no earlier MODIFIED event to copy yet
		events[2], events[1],
		events[3],
		events[4], events[2], events[1],
		events[5],
	}
	if !slices.Equal(got, want) {
		t.Errorf("the agent got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := a.events.Load(); n != int64(len(want)) {
		t.Errorf("events counted %d, want %d", n, len(want))
	}
}
