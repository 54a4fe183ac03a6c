package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// adminFlags are the flags of every command that talks to a running
// photogate through its admin API.
type adminFlags struct {
	url, token, caCert, credentials, region *string
}

func addAdminFlags(fs *flag.FlagSet, getenv func(string) string) adminFlags {
	return adminFlags{
		url: fs.String("admin-url", cmp.Or(getenv("PHOTOGATE_ADMIN_URL"), "http://127.0.0.1:9081"),
			"photogate's admin listener (PHOTOGATE_ADMIN_URL); https://… when photogate serves TLS"),
		// No default from the environment here: flag defaults are printed
		// by -h, and the token must not end up in a terminal or a CI log.
		token:  fs.String("token", "", "admin bearer token (default: PHOTOGATE_ADMIN_TOKEN)"),
		caCert: fs.String("ca-cert", "", "PEM CA bundle to trust for an https admin URL (added to the system roots)"),
		credentials: fs.String("credentials", "",
			"env file with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of a user with admin on every bucket, to sign with SigV4 when there is no token (default: those variables, else <data dir>/credentials.env)"),
		region: fs.String("region", cmp.Or(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), "us-east-1"), "region to sign SigV4 requests for"),
	}
}

func (f adminFlags) client(getenv func(string) string, timeout time.Duration) (*adminClient, error) {
	auth, err := f.auth(getenv)
	if err != nil {
		return nil, err
	}
	return newAdminClient(*f.url, auth, *f.caCert, timeout)
}

// adminAuth is how the CLI proves itself to the admin API: the bearer
// token, or a SigV4 signature of a user whose grants include admin on
// every bucket (the same keys an S3 client uses).
type adminAuth struct {
	token                string
	accessKey, secretKey string
	region               string
	source               string // where the keys came from, for error messages
}

// auth picks, in order: --token, PHOTOGATE_ADMIN_TOKEN, --credentials,
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then the credentials file that
// photogate's zero-config start writes into its data dir.
func (f adminFlags) auth(getenv func(string) string) (adminAuth, error) {
	if t := cmp.Or(*f.token, getenv("PHOTOGATE_ADMIN_TOKEN")); t != "" {
		return adminAuth{token: t}, nil
	}
	if *f.credentials != "" {
		return readCredentialsFile(*f.credentials, *f.region)
	}
	if ak, sk := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); ak != "" && sk != "" {
		return adminAuth{accessKey: ak, secretKey: sk, region: *f.region, source: "AWS_ACCESS_KEY_ID"}, nil
	}
	dev := filepath.Join(cmp.Or(getenv("PHOTOGATE_DATA_DIR"), "./data"), "credentials.env")
	if _, err := os.Stat(dev); err == nil {
		return readCredentialsFile(dev, *f.region)
	}
	return adminAuth{}, errors.New("no admin credentials: set PHOTOGATE_ADMIN_TOKEN to photogate's admin token, " +
		"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of a user with admin on every bucket " +
		"(after make run: set -a; . ./data/credentials.env; set +a), or pass --credentials FILE")
}

// readCredentialsFile reads KEY=value lines (the format of
// data/credentials.env, which a shell can also source).
func readCredentialsFile(path, region string) (adminAuth, error) {
	f, err := os.Open(path)
	if err != nil {
		return adminAuth{}, fmt.Errorf("--credentials: %w", err)
	}
	defer f.Close()
	a := adminAuth{region: region, source: path}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.TrimSpace(k) {
		case "AWS_ACCESS_KEY_ID":
			a.accessKey = v
		case "AWS_SECRET_ACCESS_KEY":
			a.secretKey = v
		}
	}
	if err := sc.Err(); err != nil {
		return adminAuth{}, fmt.Errorf("--credentials %s: %w", path, err)
	}
	if a.accessKey == "" || a.secretKey == "" {
		return adminAuth{}, fmt.Errorf("%s: want AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… lines", path)
	}
	return a, nil
}

// emptySHA256 is the payload hash of a request without a body.
var emptySHA256 = func() string { s := sha256.Sum256(nil); return hex.EncodeToString(s[:]) }()

// authorize adds the token or the SigV4 signature to req, which has no body.
func (a adminAuth) authorize(req *http.Request) *http.Request {
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
		return req
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	return signer.SignV4(*req, a.accessKey, a.secretKey, "", a.region)
}

// refusedMessage explains a 401/403 of the admin API for this way of
// authenticating.
func (a adminAuth) refusedMessage(status int) string {
	if a.token != "" {
		return fmt.Sprintf("the admin API refused the token (HTTP %d): check --token or PHOTOGATE_ADMIN_TOKEN against the server's", status)
	}
	return fmt.Sprintf("the admin API refused the SigV4 signature of access key %s from %s (HTTP %d): "+
		"the user needs the admin grant on every bucket (buckets: \"*\"), or use PHOTOGATE_ADMIN_TOKEN", a.accessKey, a.source, status)
}

// call sends an authenticated request to the admin API route u and returns
// the response of a 200; any other answer becomes the API's error.
func (c *adminClient) call(ctx context.Context, method string, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("admin API request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "photogate-cli/"+version)
	resp, err := c.http.Do(c.auth.authorize(req))
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w", c.base.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, c.readAPIError(resp, io.LimitReader(resp.Body, maxResponse))
	}
	return resp, nil
}
