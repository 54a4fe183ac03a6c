package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/change"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/s3xml"
)

// mutation is the gateway's bookkeeping for one intercepted request.
type mutation struct {
	intent uint64
	owner  string
	keys   []string          // DeleteObjects: the keys requested
	byVer  map[string]bool   // keys deleted by version id: refreshed, not deleted
	tags   map[string]string // PutObjectTagging
}

// prepare reads what must be known before forwarding (the keys of a
// DeleteObjects, the tags of PutObjectTagging) and records the intent. The
// small XML bodies involved are read whole and verified first, then
// forwarded from memory.
func (s *Server) prepare(ctx context.Context, op classify.Op, t classify.Target, body *uploadBody, owner string) (*mutation, error) {
	m := &mutation{owner: owner}
	keys := []string{t.Key}
	switch op.Spec().Index {
	case classify.BucketMade:
		return nil, nil // nothing to index until objects arrive
	case classify.BucketGone:
		keys = nil
	case classify.DeletedMany:
		raw, err := body.readAll(s3xml.MaxDeleteBodyBytes)
		if err != nil {
			return nil, err
		}
		objs, err := s3xml.ParseDelete(raw)
		if err != nil {
			return nil, err
		}
		keys = make([]string, 0, len(objs))
		for _, o := range objs {
			keys = append(keys, o.Key)
			if o.VersionID != "" {
				if m.byVer == nil {
					m.byVer = map[string]bool{}
				}
				m.byVer[o.Key] = true
			}
		}
		m.keys = keys
	case classify.Tagged:
		raw, err := body.readAll(s3xml.MaxTaggingBytes)
		if err != nil {
			return nil, err
		}
		if m.tags, err = s3xml.ParseTagging(raw); err != nil {
			return nil, err
		}
	}
	id, err := s.index.Begin(ctx, op, t.Bucket, keys, owner)
	if err != nil {
		return nil, s3err.Wrap(s3err.ServiceUnavailable, "The index is unavailable; nothing was changed.", err)
	}
	m.intent = id
	return m, nil
}

// conclude settles the intent once the backend answered, by the table's
// Index effect of the operation. It returns the response body when it had
// to read it (to see what the backend did); the caller then sends those
// bytes instead of streaming resp.Body. kept reports whether the backend
// did what was asked.
func (s *Server) conclude(ctx context.Context, r *http.Request, op classify.Op, t classify.Target, m *mutation, body *uploadBody, resp *http.Response) (raw []byte, kept bool, err error) {
	switch {
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		// A failing backend may have acted before it failed: ask it. (501
		// is a definite refusal.)
		return nil, false, s.index.Settle(context.WithoutCancel(ctx), m.intent)
	case resp.StatusCode >= 300:
		return nil, false, s.index.Abandon(ctx, m.intent)
	}
	effect := op.Spec().Index
	if effect == classify.Composed || effect == classify.DeletedMany {
		// These can fail inside a 200 (S3 sends <Error> once it has started
		// answering), and DeleteObjects lists per-key failures.
		if raw, err = io.ReadAll(io.LimitReader(resp.Body, s3xml.MaxResponseBytes)); err != nil {
			return nil, false, fmt.Errorf("read %s response: %w", op, err)
		}
		if bytes.Contains(raw[:min(len(raw), 256)], []byte("<Error>")) {
			return raw, false, s.index.Abandon(ctx, m.intent)
		}
	}
	o := change.Outcome{Op: op, Bucket: t.Bucket, Owner: m.owner}
	// A request naming a version leaves whatever version is current for the
	// backend to say.
	versioned := r.URL.Query().Get("versionId") != ""
	switch effect {
	case classify.Streamed:
		o.Written = &change.Written{Key: t.Key, ETag: strings.Trim(resp.Header.Get("ETag"), `"`)}
		o.Upload = uploadFrom(r, resp, body)
	case classify.Composed:
		etag, _ := s3xml.WrittenETag(raw) // unknown: the read-back is taken as this request's
		o.Written = &change.Written{Key: t.Key, ETag: etag}
	case classify.Deleted:
		if versioned {
			o.Refresh = []string{t.Key}
		} else {
			o.Deleted = []string{t.Key}
		}
	case classify.DeletedMany:
		failed, err := s3xml.DeleteFailures(raw)
		if err != nil {
			// The delete happened but its report is unreadable: leave the
			// intent for recovery, which checks each key at the backend.
			return raw, true, fmt.Errorf("DeleteObjects: %w", err)
		}
		skip := make(map[string]bool, len(failed))
		for _, f := range failed {
			skip[f.Key] = true
		}
		for _, k := range m.keys {
			switch {
			case skip[k]:
			case m.byVer[k]:
				o.Refresh = append(o.Refresh, k)
			default:
				o.Deleted = append(o.Deleted, k)
			}
		}
	case classify.Tagged, classify.Untagged:
		switch {
		case versioned:
			o.Refresh = []string{t.Key}
		case effect == classify.Tagged:
			o.Retagged = &change.Retagged{Key: t.Key, Tags: m.tags}
		default:
			o.Retagged = &change.Retagged{Key: t.Key, Tags: map[string]string{}}
		}
	case classify.BucketGone:
		o.BucketDeleted = true
	}
	return raw, true, s.index.Apply(ctx, m.intent, o)
}

func uploadFrom(r *http.Request, resp *http.Response, body *uploadBody) *change.Upload {
	u := &change.Upload{
		Size:         body.length,
		VersionID:    resp.Header.Get("X-Amz-Version-Id"),
		ContentType:  r.Header.Get("Content-Type"),
		LastModified: time.Now().UTC(),
		Prefix:       body.prefix(),
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		u.LastModified = lm
	}
	for k, v := range r.Header {
		if name, ok := strings.CutPrefix(k, "X-Amz-Meta-"); ok && len(v) > 0 {
			if u.UserMeta == nil {
				u.UserMeta = map[string]string{}
			}
			u.UserMeta[strings.ToLower(name)] = v[0]
		}
	}
	if tagging := r.Header.Get("X-Amz-Tagging"); tagging != "" {
		if q, err := url.ParseQuery(tagging); err == nil {
			u.Tags = make(map[string]string, len(q))
			for k, v := range q {
				u.Tags[k] = v[0]
			}
		}
	}
	return u
}

// readAll reads a small body whole (it is verified by the time it ends) and
// makes the request forward those bytes instead.
func (b *uploadBody) readAll(limit int64) ([]byte, error) {
	if b.reader == nil {
		return nil, s3err.New(s3err.MalformedXML, "The request body is empty.")
	}
	if b.length > limit {
		return nil, s3err.New(s3err.MalformedXML, "The request body is too large: "+strconv.FormatInt(b.length, 10)+" bytes.")
	}
	raw, err := io.ReadAll(b.reader)
	if err != nil {
		return nil, err
	}
	b.reader = readCloser{bytes.NewReader(raw), b.reader}
	return raw, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
