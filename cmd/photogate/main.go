// Command photogate is an S3 gateway for photo libraries: it authenticates S3
// clients with its own keys, enforces policy, streams objects to MinIO (or an
// embedded backend) and indexes photo metadata.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/photogate/photogate/internal/tlsutil"
)

// version and commit are set at build time with -ldflags "-X main.version=...
// -X main.commit=..." (make build does); builds without VCS stamping (as in
// CI, -buildvcs=false) would otherwise not know their commit.
var (
	version = "dev"
	commit  = ""
)

// defaultGCPercent is photogate's GOGC when the environment sets none.
const defaultGCPercent = 200

const usage = `photogate — an S3 gateway for photo libraries

Usage:
  photogate serve [flags]     run the S3 gateway and its admin API
  photogate search [flags]    search the photo index through the admin API
  photogate facets --field F  count indexed photos by make, model, lens, format or year
  photogate stats [flags]     objects, bytes and usage per bucket and user, index jobs
  photogate check [flags]     compare the index with the backend, object by object,
                              and the renditions with the index
  photogate repair [flags]    make the index (and the renditions) equal to the backend again
  photogate jobs [flags]      list background jobs (renders, extractions); 'jobs retry' queues failed ones again
  photogate renditions rebuild [--bucket B]
                              queue renders for indexed photos that have none
  photogate backup --out FILE write a verified snapshot of the running photogate's index
  photogate restore --from FILE
                              replace the index with a backup (photogate stopped)
  photogate index migrate --to URL   copy a stopped photogate's bbolt index into PostgreSQL
  photogate dev-cert [flags]  write a development CA and a certificate for localhost
  photogate version           print the version
  photogate help              show this help

Run 'photogate COMMAND -h' for a command's flags. The commands that talk to
a running photogate (search, facets, stats, check, repair, jobs, renditions,
backup) use
PHOTOGATE_ADMIN_TOKEN, or else sign with SigV4 as AWS_ACCESS_KEY_ID (or the
keys in ./data/credentials.env), which must have admin on every bucket.
`

func main() {
	if os.Getenv("GOGC") == "" {
		// photogate allocates per request (bbolt materialises the pages a
		// commit touches) but keeps little: at Go's default of 100 the
		// collector took 7–12 % of its CPU on small requests. 200 halves
		// how often it runs, for about 8 MiB more peak RSS (docs/tuning.md).
		// GOGC in the environment wins, and GOMEMLIMIT, which the Helm
		// chart sets, bounds the heap either way.
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr, getenv)
	case "search":
		err = searchCommand(ctx, args[1:], stdout, stderr, getenv)
	case "facets":
		err = facetsCommand(ctx, args[1:], stdout, stderr, getenv)
	case "stats":
		err = statsCommand(ctx, args[1:], stdout, stderr, getenv)
	case "jobs":
		err = jobsCommand(ctx, args[1:], stdout, stderr, getenv)
	case "renditions":
		err = renditionsCommand(ctx, args[1:], stdout, stderr, getenv)
	case "check", "repair":
		err = checkCommand(ctx, args[1:], stdout, stderr, getenv, args[0] == "repair")
	case "backup":
		err = backupCommand(ctx, args[1:], stdout, stderr, getenv)
	case "restore":
		err = restoreCommand(ctx, args[1:], stdout, stderr, getenv)
	case "index":
		err = indexCommand(ctx, args[1:], stdout, stderr, getenv)
	case "verify-index": // not in the usage: the child process of backup and restore
		err = verifyIndexCommand(ctx, args[1:], stdout)
	case "dev-cert":
		err = devCert(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "photogate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0 // -h printed the command's usage, as asked
	}
	if err != nil {
		fmt.Fprintf(stderr, "photogate %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		v += " " + info.GoVersion
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	return "photogate " + v
}

func devCert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev-cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./data/tls", "directory for ca.pem, cert.pem and key.pem")
	hosts := fs.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names and IPs the certificate is valid for")
	days := fs.Int("days", 365, "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dc, err := tlsutil.WriteDevCert(*dir, strings.Split(*hosts, ","), time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (trust this in clients), %s and %s\n\n"+
		"  photogate serve --tls-cert %s --tls-key %s\n"+
		"  AWS_CA_BUNDLE=%s aws --endpoint-url https://127.0.0.1:9080 s3 ls\n",
		dc.CAFile, dc.CertFile, dc.KeyFile, dc.CertFile, dc.KeyFile, dc.CAFile)
	return nil
}
