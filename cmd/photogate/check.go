package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// checkCommand runs `photogate check` (report drift between index and
// backend; exit status 1 when there is any) and `photogate repair` (fix it).
// Both ask the running photogate, which owns the index, via the admin API.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, repair bool) error {
	name := map[bool]string{false: "check", true: "repair"}[repair]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := admin.client(getenv, 2*time.Hour)
	if err != nil {
		return err
	}
	query := map[string]string{}
	if repair {
		query["repair"] = "true"
	}
	// The API answers once the whole comparison is done, which takes a
	// while on a large library: a terminal shows that it is still running.
	prog := startProgress(stderr, map[bool]string{false: "checking the index against the backend", true: "repairing the index"}[repair])
	var rep checkReport
	raw, err := adminJSON(ctx, c, http.MethodPost, "check", query, &rep)
	prog.stop()
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = stdout.Write(append(raw, '\n'))
	} else {
		err = printReport(stdout, rep, repair)
	}
	if err != nil {
		return err
	}
	if !repair && len(rep.Drift) > 0 {
		return errors.New("the index differs from the backend: run photogate repair")
	}
	if r := rep.Renditions; !repair && r != nil && len(r.Missing)+len(r.Orphaned) > 0 {
		return errors.New("the renditions differ from the index: run photogate repair")
	}
	return nil
}

func printReport(w io.Writer, full checkReport, repair bool) error {
	rep := full.Report
	kinds := map[string]int{}
	for _, d := range rep.Drift {
		kinds[d.Kind]++
	}
	if _, err := fmt.Fprintf(w, "buckets %d, objects in the backend %d, indexed %d, drift %d (missing %d, stale %d, orphan %d)\n",
		rep.Buckets, rep.Objects, rep.Indexed, len(rep.Drift), kinds["missing"], kinds["stale"], kinds["orphan"]); err != nil {
		return err
	}
	const show = 50
	for i, d := range rep.Drift {
		if i == show {
			fmt.Fprintf(w, "… and %d more (use --json for all)\n", len(rep.Drift)-show)
			break
		}
		fmt.Fprintf(w, "%-8s %s/%q\n", d.Kind, d.Bucket, d.Key)
	}
	if repair {
		fmt.Fprintf(w, "repaired %d\n", rep.Repaired)
	}
	if r := full.Renditions; r != nil {
		fmt.Fprintf(w, "renditions: photos %d, rendered or failed %d, missing %d, orphaned %d\n", r.Photos, r.Rendered, len(r.Missing), len(r.Orphaned))
		for i, d := range append(r.Missing, r.Orphaned...) {
			if i == show {
				fmt.Fprintf(w, "… and %d more (use --json for all)\n", len(r.Missing)+len(r.Orphaned)-show)
				break
			}
			kind := "missing"
			if i >= len(r.Missing) {
				kind = "orphaned"
			}
			fmt.Fprintf(w, "%-8s %s/%q\n", kind, d.Bucket, d.Key)
		}
		if repair {
			fmt.Fprintf(w, "renditions repaired %d\n", r.Repaired)
		}
	}
	return nil
}
