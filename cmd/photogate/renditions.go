package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"time"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/metastore/renditions"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/rendition"
)

// renditionsSetup is the rendition pipeline as serve wires it: the worker
// that makes them, the library the admin API reads them from, and the key
// of signed rendition URLs. worker and library are nil when renditions are
// off.
type renditionsSetup struct {
	bucket  string
	worker  *renditions.Worker
	library *renditions.Library
	urlKey  []byte
}

// renditionPollInterval is how often idle workers look for jobs that no
// commit of this process announced: retries coming due, and jobs other
// replicas queued.
const renditionPollInterval = 5 * time.Second

// setUpRenditions builds the pipeline and hooks it into the index writer:
// every indexed photo write queues its render in the same commit, and every
// replaced or deleted version queues the removal of its renditions.
func setUpRenditions(c renditionsConfig, embeddedBackend bool, backendSecret string, store metastore.Index,
	index *reconcile.Indexer, b *backend.Backend, m *observe.Metrics, log *slog.Logger) (*renditionsSetup, error) {
	r := &renditionsSetup{bucket: c.Bucket}
	if r.bucket == "" {
		r.bucket = renditions.DefaultBucket
	}
	index.Internal = []string{r.bucket}
	if c.Enabled != nil && !*c.Enabled {
		log.Info("renditions are off (renditions.enabled: false)")
		return r, nil
	}
	if err := rendition.Available(); err != nil {
		if c.Enabled != nil {
			return nil, err // asked for explicitly: do not start without
		}
		log.Warn("renditions are off", "reason", err.Error())
		return r, nil
	}
	renderer := rendition.New(rendition.Options{MaxPixels: c.MaxPixels, MaxSourceBytes: c.MaxSourceBytes, Concurrency: c.Concurrency})
	r.worker = renditions.New(store, b, b, r.bucket, renderer, log.With("component", "renditions"), m)
	r.library = renditions.NewLibrary(store, b, r.bucket)
	r.library.OnQueued = r.worker.Wake
	index.Derived = func(rec metastore.Record) []metastore.Mutation {
		if job, ok := renditions.Job(rec); ok {
			return []metastore.Mutation{job}
		}
		return nil
	}
	index.Replaced = renditions.DeleteJobKind
	index.OnQueued = r.worker.Wake
	r.urlKey = deploymentKey(embeddedBackend, backendSecret, "photogate rendition URL key v1")
	log.Info("renditions on", "bucket", r.bucket, "concurrency", renderer.Options().Concurrency, "max_pixels", renderer.Options().MaxPixels)
	return r, nil
}

// deploymentKey is a key for what photogate signs for itself (rendition
// URLs, gallery sessions), one per purpose. Replicas share the backend
// credential, so a key derived from it lets what one replica signed pass
// at any other, and changes when the credential is rotated. The embedded
// backend's credential is a constant, so there the key is random: one
// process, and signatures that do not outlive it.
func deploymentKey(embeddedBackend bool, backendSecret, purpose string) []byte {
	if embeddedBackend {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // never fails (Go 1.24+)
		return key
	}
	mac := hmac.New(sha256.New, []byte(backendSecret))
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// start runs the worker until stop.
func (r *renditionsSetup) start(ctx context.Context) (stop func()) {
	if r.worker == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.worker.Run(ctx, renditionPollInterval)
	}()
	return func() {
		cancel()
		<-done
	}
}

// api is what the admin API serves renditions from (nil: no routes).
func (r *renditionsSetup) api() api.Renditions {
	if r.library == nil {
		return nil
	}
	return r.library
}

// checkReport is what POST /api/v1/check answers: the index against the
// backend, and the renditions against the index.
type checkReport struct {
	reconcile.Report
	Renditions *renditions.CheckReport `json:"renditions,omitempty"`
}

// checker compares (and repairs) the index, then the renditions.
func (r *renditionsSetup) checker(index *reconcile.Indexer) api.Checker {
	return func(ctx context.Context, repair bool) (any, error) {
		rep, err := index.Check(ctx, repair)
		if err != nil || r.library == nil {
			return checkReport{Report: rep}, err
		}
		rr, err := r.library.Check(ctx, repair)
		return checkReport{Report: rep, Renditions: &rr}, err
	}
}
