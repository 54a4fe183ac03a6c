package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/photogate/photogate/metastore/api"
)

// jobsCommand runs `photogate jobs` (list background jobs) and
// `photogate jobs retry` (queue failed jobs again).
func jobsCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "retry" {
		return retryJobsCommand(ctx, args[1:], stdout, stderr, getenv)
	}
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs, getenv)
	state := fs.String("state", "", "only jobs in this state: queued, running or failed")
	kind := fs.String("kind", "", "only jobs of this kind: rendition, rendition-delete, extract")
	limit := fs.Int("limit", 100, "list at most this many (1 to 1000)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("usage: photogate jobs [--state queued|running|failed] [--kind K] [--limit N] [--json] | photogate jobs retry [--kind K] [--id N]")
	}
	c, err := admin.client(getenv, time.Minute)
	if err != nil {
		return err
	}
	var resp api.JobsResponse
	raw, err := getAdminJSON(ctx, c, "jobs", map[string]string{"state": *state, "kind": *kind, "limit": strconv.Itoa(*limit)}, &resp)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = stdout.Write(append(raw, '\n'))
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tATTEMPTS\tOBJECT\tLAST ERROR")
	for _, j := range resp.Items {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.Kind, j.State, j.Attempts, safe(j.Bucket+"/"+j.Key), safe(firstLine(j.LastError)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if resp.NextCursor != "" {
		fmt.Fprintf(stdout, "… more; raise --limit or use the API's after=%s\n", resp.NextCursor)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

func retryJobsCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("jobs retry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs, getenv)
	kind := fs.String("kind", "", "only failed jobs of this kind (default: every kind)")
	id := fs.Uint64("id", 0, "only this job")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("usage: photogate jobs retry [--kind K] [--id N]")
	}
	c, err := admin.client(getenv, time.Minute)
	if err != nil {
		return err
	}
	q := map[string]string{"kind": *kind}
	if *id != 0 {
		q["id"] = strconv.FormatUint(*id, 10)
	}
	var resp api.RetryResponse
	if err := postAdminJSON(ctx, c, "jobs/retry", q, &resp); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "queued again: %d failed job(s)\n", resp.Retried)
	return err
}

// renditionsCommand runs `photogate renditions rebuild [--bucket B]`: it
// queues a render for every indexed photo that has neither renditions, a
// failure record nor a job. Photos already done are skipped, so running
// it again after an interruption resumes; --from starts where the last
// run said it stopped.
func renditionsCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "rebuild" {
		return errors.New("usage: photogate renditions rebuild [--bucket B] [--from CURSOR]")
	}
	fs := flag.NewFlagSet("renditions rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs, getenv)
	bucket := fs.String("bucket", "", "only this bucket (default: every bucket)")
	from := fs.String("from", "", "resume at this cursor, printed by an interrupted run")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("usage: photogate renditions rebuild [--bucket B] [--from CURSOR]")
	}
	c, err := admin.client(getenv, 10*time.Minute)
	if err != nil {
		return err
	}
	total, err := indexedObjects(ctx, c, *bucket)
	if err != nil {
		return err
	}
	bar := newProgressBar(stderr, "queuing renders", total)
	defer bar.stop()
	scanned, queued, cursor := 0, 0, *from
	for {
		var page api.RebuildResponse
		err := postAdminJSON(ctx, c, "renditions/rebuild", map[string]string{"bucket": *bucket, "cursor": cursor}, &page)
		if err != nil {
			bar.stop()
			if cursor != "" {
				fmt.Fprintf(stderr, "stopped after %d objects; resume with: photogate renditions rebuild --from %s\n", scanned, cursor)
			}
			return err
		}
		scanned += page.Scanned
		queued += page.Queued
		bar.set(int64(scanned))
		if page.Done {
			break
		}
		cursor = page.Next
	}
	bar.stop()
	_, err = fmt.Fprintf(stdout, "looked at %d indexed objects; queued %d render(s). Follow them with: photogate jobs --kind rendition\n", scanned, queued)
	return err
}

// indexedObjects is how many objects the index holds (in bucket, if set),
// the total of the rebuild's progress bar.
func indexedObjects(ctx context.Context, c *adminClient, bucket string) (int64, error) {
	var st api.StatsResponse
	if _, err := getAdminJSON(ctx, c, "stats", nil, &st); err != nil {
		return 0, err
	}
	if bucket == "" {
		return st.Objects, nil
	}
	for _, b := range st.Buckets {
		if b.Bucket == bucket {
			return b.Objects, nil
		}
	}
	return 0, nil
}
