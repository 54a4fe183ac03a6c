package gallery

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/photogate/photogate/metastore/api"
)

// web holds the page, its script and styles, and the vendored libraries
// (web/vendor, with their licences): everything the gallery needs, so it
// works offline and from a single binary.
//
//go:embed web
var web embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

type assets struct{ files map[string]asset }

func loadAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}}
	err := fs.WalkDir(web, "web", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := web.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.files[name[len("web/"):]] = asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: ctype}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gallery: embedded assets: %w", err)
	}
	if _, ok := a.files["index.html"]; !ok {
		return nil, fmt.Errorf("gallery: embedded assets lack index.html")
	}
	return a, nil
}

// serve answers with an embedded file. Browsers revalidate (no-cache) and
// get 304 while the binary is the same: a new release is seen at once.
func (a *assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := a.files[name]
	if !ok {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such gallery file")
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	h.assets.serve(w, r, "index.html")
}

func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "index.html" {
		name = "" // the page has one address
	}
	h.assets.serve(w, r, name)
}
