package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/photogate/photogate/metastore/api"
)

// getAdminJSON GETs an admin API route and decodes its JSON into v; raw is
// the body as sent, for --json.
func getAdminJSON(ctx context.Context, c *adminClient, route string, query map[string]string, v any) (raw []byte, err error) {
	return adminJSON(ctx, c, http.MethodGet, route, query, v)
}

// postAdminJSON POSTs to an admin API route and decodes its JSON into v.
func postAdminJSON(ctx context.Context, c *adminClient, route string, query map[string]string, v any) error {
	_, err := adminJSON(ctx, c, http.MethodPost, route, query, v)
	return err
}

// adminJSON sends method to an admin API route with query's non-empty
// values and decodes the JSON answer into v.
func adminJSON(ctx context.Context, c *adminClient, method, route string, query map[string]string, v any) (raw []byte, err error) {
	u := c.base.JoinPath("api", "v1", route)
	q := u.Query()
	for k, val := range query {
		if val != "" {
			q.Set(k, val)
		}
	}
	u.RawQuery = q.Encode()
	resp, err := c.call(ctx, method, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("admin API answered with something that is not %s (is --admin-url the photogate admin listener?): %w", route, err)
	}
	return raw, nil
}

// facetsCommand runs `photogate facets --field make|model|lens|format|year`.
func facetsCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("facets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs, getenv)
	field := fs.String("field", "", "count photos by make, model, lens, format or year (required)")
	bucket := fs.String("bucket", "", "only this bucket")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *field == "" || fs.NArg() > 0 {
		return errors.New("usage: photogate facets --field make|model|lens|format|year [--bucket B] [--json]")
	}
	c, err := admin.client(getenv, time.Minute)
	if err != nil {
		return err
	}
	var resp api.FacetsResponse
	raw, err := getAdminJSON(ctx, c, "facets", map[string]string{"field": *field, "bucket": *bucket}, &resp)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = stdout.Write(append(raw, '\n'))
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "COUNT\t%s\t\n", strings.ToUpper(resp.Field))
	for _, v := range resp.Values {
		fmt.Fprintf(tw, "%d\t%s\t\n", v.Count, safe(v.Value))
	}
	return tw.Flush()
}

// statsCommand runs `photogate stats`.
func statsCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("usage: photogate stats [--json]")
	}
	c, err := admin.client(getenv, time.Minute)
	if err != nil {
		return err
	}
	var st api.StatsResponse
	raw, err := getAdminJSON(ctx, c, "stats", nil, &st)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = stdout.Write(append(raw, '\n'))
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "total\t%d objects\t%s\n", st.Objects, humanSize(st.Bytes))
	for _, b := range st.Buckets {
		fmt.Fprintf(tw, "bucket %s\t%d objects\t%s\n", safe(b.Bucket), b.Objects, humanSize(b.Bytes))
	}
	for _, u := range st.Users {
		fmt.Fprintf(tw, "user %s\t%d objects\t%s\n", safe(u.User), u.Objects, humanSize(u.Bytes))
	}
	for _, s := range slices.Sorted(maps.Keys(st.Extraction)) {
		fmt.Fprintf(tw, "extraction %s\t%d objects\t\n", s, st.Extraction[s])
	}
	for _, k := range slices.Sorted(maps.Keys(st.Jobs)) {
		fmt.Fprintf(tw, "jobs %s\t%d queued\t%d failed\n", safe(k), st.Jobs[k].Queued, st.Jobs[k].Failed)
	}
	fmt.Fprintf(tw, "pending intents\t%d\t\n", st.PendingIntents)
	fmt.Fprintf(tw, "index schema\t%d\t\n", st.SchemaVersion)
	return tw.Flush()
}
