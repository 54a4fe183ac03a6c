package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/photogate/photogate/metastore/api"
)

const searchUsage = `Usage: photogate search [flags]

Searches the photo index through the admin API (GET /api/v1/search) and
prints a table, or the API's JSON items with --json. Filters combine with AND.
Prints the cursor of the next page on stderr when there is one; pass it
back with --cursor and the same filters, or use --all to fetch every page.

Examples:
  photogate search --bucket photos --taken-after 2024-05-01 --taken-before 2024-06-01
  photogate search --make canon --min-megapixels 20 --sort -taken
  photogate search --near 48.8566,2.3522,5 --json --all > paris.json
  photogate search --tag album=paris --tag rating=5 --has-gps=false

The admin token comes from PHOTOGATE_ADMIN_TOKEN (preferred: a --token on
the command line is visible to other users in the process list). Without a
token, search signs with SigV4 as a user with admin on every bucket: the
keys of --credentials FILE, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
else ./data/credentials.env (what make run creates).

Flags:
`

// searchFilter is a flag passed through unchanged to the API parameter of
// the same name with "_" for "-". Values are not checked here: the API is
// the one place that validates them, and its errors name the parameter,
// which the CLI maps back to the flag the user typed.
type searchFilter struct{ name, usage string }

func searchFilters() []searchFilter {
	return []searchFilter{
		{"bucket", "only this bucket (default: every bucket)"},
		{"prefix", "only keys starting with this prefix"},
		{"taken-after", "taken at or after this RFC 3339 time or date (2024-05-01 = midnight UTC)"},
		{"taken-before", "taken before this RFC 3339 time or date (exclusive)"},
		{"make", "camera make, case-insensitive (e.g. canon)"},
		{"model", "camera model, case-insensitive"},
		{"lens", "lens model, case-insensitive"},
		{"format", "image format: jpeg, png, webp, heic, ..."},
		{"content-type", "declared media type, e.g. image/jpeg"},
		{"bbox", "inside minLon,minLat,maxLon,maxLat (minLon > maxLon crosses the antimeridian)"},
		{"near", "within lat,lon,radius_km"},
		{"orientation", "EXIF orientation, 1 to 8"},
		{"aspect", "portrait, landscape, square or panorama"},
		{"min-width", "at least this many pixels wide, as displayed"},
		{"min-height", "at least this many pixels high, as displayed"},
		{"min-megapixels", "at least this many megapixels"},
		{"iso-min", "ISO at least this"},
		{"iso-max", "ISO at most this"},
		{"sort", "key, taken or size; prefix with - for descending (default key)"},
		{"limit", "page size, 1 to 1000 (default 100; 1000 with --all)"},
		{"cursor", "continue after this cursor (printed by the previous page)"},
	}
}

// searchOptions is the parsed command line.
type searchOptions struct {
	params  url.Values // API query parameters
	all     bool
	json    bool
	admin   adminFlags
	timeout time.Duration
}

// tagFlag collects repeated --tag key=value flags.
type tagFlag []string

func (t *tagFlag) String() string { return strings.Join(*t, ",") }
func (t *tagFlag) Set(v string) error {
	*t = append(*t, v)
	return nil
}

// optionalBool is a boolean flag that also knows whether it was given, so
// "not given" (any) differs from --has-gps=false (none).
type optionalBool struct{ set, value bool }

func (b *optionalBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

func (b *optionalBool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("must be true or false")
	}
	b.set, b.value = true, x
	return nil
}

func (b *optionalBool) IsBoolFlag() bool { return true }

func parseSearchFlags(args []string, stderr io.Writer, getenv func(string) string) (searchOptions, error) {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), searchUsage)
		fs.PrintDefaults()
	}
	filters := searchFilters()
	values := make(map[string]*string, len(filters))
	for _, f := range filters {
		values[f.name] = fs.String(f.name, "", f.usage)
	}
	minSize := fs.String("min-size", "", "at least this size: bytes, or with a unit (500KB, 10MiB, 1.5GB)")
	maxSize := fs.String("max-size", "", "at most this size: bytes, or with a unit")
	var tags tagFlag
	fs.Var(&tags, "tag", "has S3 tag `key=value` (repeatable; all must match)")
	var hasGPS optionalBool
	fs.Var(&hasGPS, "has-gps", "with a GPS position (--has-gps) or without one (--has-gps=false)")
	all := fs.Bool("all", false, "follow the cursor through every page")
	asJSON := fs.Bool("json", false, "print the items as one JSON array, as the API returns them")
	admin := addAdminFlags(fs, getenv)
	timeout := fs.Duration("timeout", 60*time.Second, "timeout of each request to the admin API")
	if err := fs.Parse(args); err != nil {
		return searchOptions{}, err
	}
	if fs.NArg() > 0 {
		msg := fmt.Sprintf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
		if a := fs.Arg(0); a == "true" || a == "false" {
			msg += " (boolean flags take their value after =, e.g. --has-gps=false)"
		}
		return searchOptions{}, errors.New(msg)
	}
	if *timeout <= 0 {
		return searchOptions{}, errors.New("--timeout must be positive")
	}

	opts := searchOptions{params: url.Values{}, all: *all, json: *asJSON, admin: admin, timeout: *timeout}
	// Only flags given on the command line become parameters, so an
	// explicit empty value (--bucket "" from an unset shell variable)
	// reaches the API and is refused instead of searching everything.
	var sizeErr error
	fs.Visit(func(f *flag.Flag) {
		if v, ok := values[f.Name]; ok {
			opts.params.Set(apiParamName(f.Name), *v)
		}
		for _, s := range []struct {
			flag string
			v    *string
		}{{"min-size", minSize}, {"max-size", maxSize}} {
			if f.Name != s.flag {
				continue
			}
			n, err := parseByteSize(*s.v)
			if err != nil {
				sizeErr = errors.Join(sizeErr, fmt.Errorf("invalid --%s: %w", s.flag, err))
				continue
			}
			opts.params.Set(apiParamName(s.flag), strconv.FormatInt(n, 10))
		}
	})
	if sizeErr != nil {
		return searchOptions{}, sizeErr
	}
	for _, t := range tags {
		opts.params.Add("tag", t)
	}
	if hasGPS.set {
		opts.params.Set("has_gps", strconv.FormatBool(hasGPS.value))
	}
	if opts.all && !opts.params.Has("limit") {
		opts.params.Set("limit", "1000") // fewer round trips; the API's largest page
	}
	return opts, nil
}

func apiParamName(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }
func flagName(apiParam string) string     { return strings.ReplaceAll(apiParam, "_", "-") }

// parseByteSize reads "1048576", "500KB", "10MiB" or "1.5 GB": decimal
// units are powers of 1000, binary ones (KiB...) of 1024.
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
	}
	if unit == "" {
		// Plain bytes stay exact; a float64 would round above 2^53.
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a size in bytes", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(math.Round(f * mult)), nil
}

// searchCommand runs `photogate search`.
func searchCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	opts, err := parseSearchFlags(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	client, err := opts.admin.client(getenv, opts.timeout)
	if err != nil {
		return err
	}
	if client.base.Scheme == "http" && !isLoopback(client.base.Hostname()) && client.auth.token != "" {
		fmt.Fprintf(stderr, "photogate search: warning: sending the admin token unencrypted to %s; use an https admin URL\n", client.base.Host)
	}

	var out resultPrinter = &tablePrinter{w: stdout}
	if opts.json {
		out = &jsonPrinter{w: stdout}
	}
	params := opts.params
	for {
		page, err := client.search(ctx, params)
		if err != nil {
			// A --json array is deliberately left unterminated: a
			// consumer must not mistake a partial result for a whole one.
			return err
		}
		if err := out.page(page.Items); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
		if page.NextCursor == "" {
			break
		}
		if !opts.all {
			if err := out.finish(); err != nil {
				return fmt.Errorf("writing results: %w", err)
			}
			fmt.Fprintf(stderr, "next cursor: %s\n", page.NextCursor)
			return nil
		}
		if page.NextCursor == params.Get("cursor") {
			// Keyset cursors always move forward; the same one twice
			// would loop forever.
			return errors.New("the admin API returned the same cursor twice; stopping")
		}
		params.Set("cursor", page.NextCursor)
	}
	if err := out.finish(); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if out.count() == 0 && !opts.json {
		fmt.Fprintln(stderr, "no matching objects")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminClient calls the admin API.
type adminClient struct {
	base *url.URL
	auth adminAuth
	http *http.Client
}

func newAdminClient(rawURL string, auth adminAuth, caFile string, timeout time.Duration) (*adminClient, error) {
	base, err := url.Parse(rawURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--admin-url %q: want http://host:port or https://host:port", rawURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		if base.Scheme != "https" {
			return nil, fmt.Errorf("--ca-cert is set but --admin-url %s is not https", rawURL)
		}
		pool, err := loadCAPool(caFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return &adminClient{
		base: base,
		auth: auth,
		http: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// The API never redirects. Following one could carry the
			// token somewhere else (an https -> http hop on the same
			// host keeps the Authorization header), so a redirect is
			// reported as an error instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// loadCAPool is the system roots plus the PEM bundle in file.
func loadCAPool(file string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("--ca-cert %s: no PEM certificates found", file)
	}
	return pool, nil
}

// searchPage keeps items as raw JSON so --json prints exactly what the API
// sent, including fields this CLI version does not know.
type searchPage struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor"`
}

// maxResponse bounds what the CLI reads: a 1000-item page is a few MB.
const maxResponse = 256 << 20

func (c *adminClient) search(ctx context.Context, params url.Values) (searchPage, error) {
	u := c.base.JoinPath("api", "v1", "search")
	u.RawQuery = params.Encode()
	resp, err := c.call(ctx, http.MethodGet, u)
	if err != nil {
		return searchPage{}, err
	}
	defer resp.Body.Close()
	var page searchPage
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(&page); err != nil {
		return searchPage{}, fmt.Errorf("admin API at %s answered with something that is not search results (is --admin-url the photogate admin listener?): %w", c.base.Redacted(), err)
	}
	return page, nil
}

// apiError is an error answer of the admin API.
type apiError struct {
	status  int
	body    api.ErrorBody
	refused string // what to say to a 401 or 403
}

func (e *apiError) Error() string {
	b := e.body
	switch {
	case b.Code == api.CodeInvalidParameter && b.Param != "":
		return fmt.Sprintf("invalid --%s (API parameter %s): %s", flagName(b.Param), b.Param, b.Message)
	case b.Code == api.CodeBackendUnavailable:
		return fmt.Sprintf("the storage backend is unavailable to photogate (HTTP %d): %s", e.status, b.Message)
	case (e.status == http.StatusUnauthorized || e.status == http.StatusForbidden) && e.refused != "":
		return e.refused
	case b.RequestID != "":
		return fmt.Sprintf("admin API: %s (%s, HTTP %d, request_id %s)", b.Message, b.Code, e.status, b.RequestID)
	}
	return fmt.Sprintf("admin API: %s (%s, HTTP %d)", b.Message, b.Code, e.status)
}

// readAPIError turns a non-200 answer into an error: the API's own JSON
// error when there is one, else the status and the start of the body (a
// proxy's page, or the S3 listener answering instead of the admin one).
func (c *adminClient) readAPIError(resp *http.Response, body io.Reader) error {
	raw, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	var e api.ErrorResponse
	if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
		return &apiError{status: resp.StatusCode, body: e.Error, refused: c.auth.refusedMessage(resp.StatusCode)}
	}
	if resp.StatusCode == http.StatusBadRequest && c.base.Scheme == "http" &&
		strings.Contains(string(raw), "HTTP request to an HTTPS server") {
		// With TLS on, photogate's admin listener serves HTTPS too.
		https := *c.base
		https.Scheme = "https"
		return fmt.Errorf("photogate serves its admin API over HTTPS (it runs with TLS): use --admin-url %s "+
			"(or PHOTOGATE_ADMIN_URL), and --ca-cert CA.pem for a private CA such as photogate dev-cert's", https.Redacted())
	}
	snippet := strings.TrimSpace(string(raw))
	if i := strings.IndexByte(snippet, '\n'); i >= 0 {
		snippet = snippet[:i]
	}
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	msg := fmt.Sprintf("admin API answered %s", resp.Status)
	if loc := resp.Header.Get("Location"); loc != "" {
		msg += " redirecting to " + safe(loc)
	}
	if snippet != "" {
		msg += ": " + safe(snippet)
	}
	return errors.New(msg + " (is --admin-url the photogate admin listener?)")
}

// resultPrinter writes pages of results as they arrive.
type resultPrinter interface {
	page(items []json.RawMessage) error
	finish() error
	count() int
}

// jsonPrinter streams one JSON array, so --all over a large library does
// not hold every item in memory.
type jsonPrinter struct {
	w       io.Writer
	n       int
	started bool
}

func (p *jsonPrinter) page(items []json.RawMessage) error {
	for _, it := range items {
		sep := ",\n"
		if !p.started {
			sep, p.started = "[\n", true
		}
		if _, err := io.WriteString(p.w, sep); err != nil {
			return err
		}
		if _, err := p.w.Write(it); err != nil {
			return err
		}
		p.n++
	}
	return nil
}

func (p *jsonPrinter) finish() error {
	end := "\n]\n"
	if !p.started {
		end = "[]\n"
	}
	_, err := io.WriteString(p.w, end)
	return err
}

func (p *jsonPrinter) count() int { return p.n }

// tablePrinter aligns each page on its own: aligning across pages would
// hold the whole result in memory before printing the first line.
type tablePrinter struct {
	w io.Writer
	n int
}

func (p *tablePrinter) page(items []json.RawMessage) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	if p.n == 0 && len(items) > 0 {
		fmt.Fprintln(tw, "BUCKET\tKEY\tTAKEN\tCAMERA\tSIZE\tDIMENSIONS\tGPS")
	}
	for _, raw := range items {
		var it api.Item
		if err := json.Unmarshal(raw, &it); err != nil {
			return fmt.Errorf("decoding an item: %w", err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(it.Bucket), safe(it.Key), taken(it),
			safe(camera(it.Make, it.Model)), humanSize(it.Size), dimensions(it), gpsText(it.GPS))
		p.n++
	}
	return tw.Flush()
}

func (p *tablePrinter) finish() error { return nil }
func (p *tablePrinter) count() int    { return p.n }

// safe quotes strings with control or invisible characters: object keys
// and EXIF fields are chosen by whoever uploaded the file, and a raw escape
// sequence or tab would rewrite the terminal or break the table.
func safe(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || r == unicode.ReplacementChar }) {
		return strconv.QuoteToGraphic(s)
	}
	return s
}

// taken is the photographer's wall-clock time when the file says its UTC
// offset, else UTC.
func taken(it api.Item) string {
	if it.TakenAt.IsZero() {
		return "-"
	}
	if off, err := time.Parse("-07:00", it.TakenOffset); err == nil {
		_, secs := off.Zone()
		return it.TakenAt.In(time.FixedZone(it.TakenOffset, secs)).Format("2006-01-02 15:04:05 -07:00")
	}
	return it.TakenAt.UTC().Format("2006-01-02 15:04:05 UTC")
}

// camera joins make and model without the stutter most cameras have
// ("Canon" + "Canon EOS R5", "NIKON CORPORATION" + "NIKON D750").
func camera(mk, model string) string {
	mk, model = strings.TrimSpace(mk), strings.TrimSpace(model)
	first, _, _ := strings.Cut(mk, " ")
	switch {
	case mk == "":
		return model
	case model == "":
		return mk
	case len(model) >= len(first) && strings.EqualFold(model[:len(first)], first):
		return model
	}
	return mk + " " + model
}

func dimensions(it api.Item) string {
	w, h := it.DisplayWidth, it.DisplayHeight
	if w <= 0 || h <= 0 {
		w, h = it.Width, it.Height
	}
	if w <= 0 || h <= 0 {
		return "-"
	}
	return fmt.Sprintf("%dx%d", w, h)
}

func gpsText(g *api.GPS) string {
	if g == nil {
		return "-"
	}
	return fmt.Sprintf("%.5f,%.5f", g.Lat, g.Lon)
}

// humanSize prints binary units, the ones --min-size's KiB/MiB accept.
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f /= 1024
		if f < 1024 || unit == "PiB" {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
		}
	}
	return strconv.FormatInt(n, 10) + " B" // unreachable
}
