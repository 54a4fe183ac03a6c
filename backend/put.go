package backend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/s3/classify"
)

// The calls below are for objects photogate makes itself (renditions):
// small bodies held in memory, sent through Do like the typed reads.

// PutObject stores body as bucket/key (PutObject), signed with its SHA-256
// so that the backend verifies what arrived.
func (b *Backend) PutObject(ctx context.Context, bucket, key, contentType string, body []byte) error {
	sum := sha256.Sum256(body)
	path := objectPath(bucket, key)
	req := &http.Request{
		Method:        http.MethodPut,
		URL:           objectURL(path),
		Header:        http.Header{"Content-Length": {strconv.Itoa(len(body))}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.Do(observe.WithOperation(ctx, string(classify.PutObject)), req, hex.EncodeToString(sum[:]), nil, nil)
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("put %s/%s: %w", bucket, key, answerErr(classify.PutObject, resp))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
	return nil
}

// GetObject streams bucket/key (GetObject); found is false when it or its
// bucket does not exist. The caller closes body.
func (b *Backend) GetObject(ctx context.Context, bucket, key string) (body io.ReadCloser, obj Object, found bool, err error) {
	resp, err := b.send(ctx, classify.GetObject, http.MethodGet, objectPath(bucket, key), nil, nil)
	if err != nil {
		return nil, Object{}, false, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
		resp.Body.Close()
		return nil, Object{}, false, nil
	default:
		defer resp.Body.Close()
		return nil, Object{}, false, fmt.Errorf("get %s/%s: %w", bucket, key, answerErr(classify.GetObject, resp))
	}
	obj, err = objectFromHeader(key, resp)
	if err != nil {
		resp.Body.Close()
		return nil, Object{}, false, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return resp.Body, obj, true, nil
}

// DeleteObject removes bucket/key (DeleteObject); an object that is
// already gone is not an error.
func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) error {
	resp, err := b.send(ctx, classify.DeleteObject, http.MethodDelete, objectPath(bucket, key), nil, nil)
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
		return nil
	}
	return fmt.Errorf("delete %s/%s: %w", bucket, key, answerErr(classify.DeleteObject, resp))
}

// EnsureBucket creates bucket (CreateBucket) unless this account owns it
// already.
func (b *Backend) EnsureBucket(ctx context.Context, bucket string) error {
	resp, err := b.send(ctx, classify.CreateBucket, http.MethodPut, objectPath(bucket, ""), nil, nil)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	ae := answerErr(classify.CreateBucket, resp)
	if e, ok := ae.(*AnswerError); ok && e.Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return fmt.Errorf("create bucket %s: %w", bucket, ae)
}

// objectURL is the URL of a path-style path, with S3's own escaping as
// RawPath so that what is sent is what was signed (as send does).
func objectURL(path string) *url.URL {
	return &url.URL{Path: path, RawPath: s3utils.EncodePath(path)}
}
