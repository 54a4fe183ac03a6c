package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/photogate/photogate/metastore"
)

// JobQueue is the index's background job queue; every metastore.Index
// satisfies it.
type JobQueue interface {
	Jobs(ctx context.Context, q metastore.JobQuery) ([]metastore.Job, error)
	GetJob(ctx context.Context, id uint64) (metastore.Job, bool, error)
	RetryFailed(ctx context.Context, kind string, id uint64) (int, error)
}

// Job is one background job on the wire.
type Job struct {
	ID        uint64    `json:"id"`
	Kind      string    `json:"kind"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	ETag      string    `json:"etag,omitempty"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	Created   time.Time `json:"created,omitzero"`
	NotBefore time.Time `json:"not_before,omitzero"` // queued: due then; running: the lease ends then
	LastError string    `json:"last_error,omitempty"`
}

// JobsResponse is the body of GET /api/v1/jobs.
type JobsResponse struct {
	Items      []Job  `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"` // pass as after= for the next page
}

// RetryResponse is the body of POST /api/v1/jobs/retry.
type RetryResponse struct {
	Retried int `json:"retried"`
}

func jobFrom(j *metastore.Job) Job {
	return Job{ID: j.ID, Kind: j.Kind, Bucket: j.Bucket, Key: j.Key, ETag: j.ETag, State: string(j.State),
		Attempts: j.Attempts, Created: utc(j.Created), NotBefore: utc(j.NotBefore), LastError: j.LastError}
}

// jobs answers GET /api/v1/jobs?state=&kind=&bucket=&key=&after=&limit=.
func (h *handler) jobs(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	if err := checkParams(values, map[string]bool{"state": true, "kind": true, "bucket": true, "key": true, "after": true, "limit": true}); err != nil {
		h.fail(w, r, "jobs", err)
		return
	}
	q := metastore.JobQuery{Kind: values.Get("kind"), Bucket: values.Get("bucket"), Key: values.Get("key")}
	switch s := metastore.JobState(values.Get("state")); s {
	case "", metastore.JobQueued, metastore.JobRunning, metastore.JobFailed:
		q.State = s
	default:
		h.fail(w, r, "jobs", &paramError{Param: "state", Msg: "want queued, running or failed"})
		return
	}
	if (q.Bucket == "") != (q.Key == "") {
		h.fail(w, r, "jobs", &paramError{Param: "key", Msg: "bucket and key go together: they name one object"})
		return
	}
	if v := values.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			h.fail(w, r, "jobs", &paramError{Param: "after", Msg: "want a job id"})
			return
		}
		q.After = n
	}
	limit, err := pageLimit(values, 100)
	if err != nil {
		h.fail(w, r, "jobs", err)
		return
	}
	q.Limit = limit
	list, err := h.jobQueue.Jobs(r.Context(), q)
	if err != nil {
		h.fail(w, r, "jobs", err)
		return
	}
	resp := JobsResponse{Items: make([]Job, len(list))}
	for i := range list {
		resp.Items[i] = jobFrom(&list[i])
	}
	if len(list) == q.Limit {
		resp.NextCursor = strconv.FormatUint(list[len(list)-1].ID, 10)
	}
	h.writeJSON(w, r, http.StatusOK, resp)
}

// pageLimit reads limit= (1 to 1000), def when absent.
func pageLimit(values url.Values, def int) (int, error) {
	v := values.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, &paramError{Param: "limit", Msg: "want 1 to 1000"}
	}
	return n, nil
}

// job answers GET /api/v1/jobs/{id}.
func (h *handler) job(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	if err := checkParams(values, map[string]bool{}); err != nil {
		h.fail(w, r, "job", err)
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, "job", &paramError{Param: "id", Msg: "want a job id"})
		return
	}
	j, found, err := h.jobQueue.GetJob(r.Context(), id)
	if err != nil {
		h.fail(w, r, "job", err)
		return
	}
	if !found {
		h.writeError(w, http.StatusNotFound, ErrorBody{Code: CodeNotFound, Message: "no job " + r.PathValue("id") + " (done jobs are removed)"})
		return
	}
	h.writeJSON(w, r, http.StatusOK, jobFrom(&j))
}

// retryJobs answers POST /api/v1/jobs/retry?kind=&id=: failed jobs are
// queued again, due now.
func (h *handler) retryJobs(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	if err := checkParams(values, map[string]bool{"kind": true, "id": true}); err != nil {
		h.fail(w, r, "retry jobs", err)
		return
	}
	var id uint64
	if v := values.Get("id"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			h.fail(w, r, "retry jobs", &paramError{Param: "id", Msg: "want a job id"})
			return
		}
		id = n
	}
	n, err := h.jobQueue.RetryFailed(r.Context(), values.Get("kind"), id)
	if err != nil {
		h.fail(w, r, "retry jobs", err)
		return
	}
	h.log.Info("admin API: failed jobs queued again", "kind", values.Get("kind"), "id", id, "retried", n)
	h.writeJSON(w, r, http.StatusOK, RetryResponse{Retried: n})
}
