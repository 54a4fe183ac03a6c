package main

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/photogate/photogate/gallery"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/policy"
)

// newGallery builds the web gallery, or returns nil when it is off.
func newGallery(cfg config, s3 http.Handler, s3Addr net.Addr, store metastore.Index, pol *policy.Holder, rend *renditionsSetup, log *slog.Logger) (http.Handler, error) {
	if !cfg.Gallery.enabled() {
		return nil, nil
	}
	s3URL := cfg.Gallery.S3URL
	if s3URL == "" {
		scheme := "http"
		if cfg.TLS.enabled() {
			scheme = "https"
		}
		s3URL = scheme + "://" + s3Addr.String()
	}
	return gallery.New(gallery.Config{
		Index:      store,
		Policy:     pol,
		S3:         s3,
		S3Host:     s3Addr.String(),
		S3URL:      s3URL,
		Region:     cfg.Backend.Region,
		SessionKey: deploymentKey(cfg.Backend.Endpoint == "", cfg.Backend.SecretKey, "photogate gallery session key v1"),
		SessionTTL: cfg.Gallery.SessionTTL,
		URLKey:     rend.urlKey, // nil when renditions are off
		TileURL:    cfg.Gallery.TileURL,
		Logger:     log.With("component", "gallery"),
	})
}
