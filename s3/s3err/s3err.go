// Package s3err is the single place where photogate's failures become S3
// errors: a code, the HTTP status S3 uses for it, and the XML body clients
// parse. Everything else returns Go errors that wrap an *Error; Write turns
// any error into a response.
package s3err

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
)

// Code is an S3 error code as it appears in the <Code> element.
type Code string

// The codes photogate produces itself. Errors from the backend are passed
// through verbatim and need not be listed here.
const (
	AccessDenied                      Code = "AccessDenied"
	AuthorizationHeaderMalformed      Code = "AuthorizationHeaderMalformed"
	AuthorizationQueryParametersError Code = "AuthorizationQueryParametersError"
	BadDigest                         Code = "BadDigest"
	EntityTooLarge                    Code = "EntityTooLarge"
	EntityTooSmall                    Code = "EntityTooSmall"
	ExpiredToken                      Code = "ExpiredToken"
	IncompleteBody                    Code = "IncompleteBody"
	InternalError                     Code = "InternalError"
	InvalidAccessKeyID                Code = "InvalidAccessKeyId"
	InvalidArgument                   Code = "InvalidArgument"
	InvalidBucketName                 Code = "InvalidBucketName"
	InvalidChunkSizeError             Code = "InvalidChunkSizeError"
	InvalidDigest                     Code = "InvalidDigest"
	InvalidPartOrder                  Code = "InvalidPartOrder"
	InvalidPolicyDocument             Code = "InvalidPolicyDocument"
	InvalidRequest                    Code = "InvalidRequest"
	InvalidTag                        Code = "InvalidTag"
	InvalidURI                        Code = "InvalidURI"
	KeyTooLongError                   Code = "KeyTooLongError"
	MalformedPOSTRequest              Code = "MalformedPOSTRequest"
	MalformedXML                      Code = "MalformedXML"
	MaxPostPreDataLengthExceededError Code = "MaxPostPreDataLengthExceededError"
	MethodNotAllowed                  Code = "MethodNotAllowed"
	MissingContentLength              Code = "MissingContentLength"
	MissingSecurityHeader             Code = "MissingSecurityHeader"
	NotImplemented                    Code = "NotImplemented"
	QuotaExceeded                     Code = "QuotaExceeded"
	RequestTimeTooSkewed              Code = "RequestTimeTooSkewed"
	RequestTimeout                    Code = "RequestTimeout"
	ServiceUnavailable                Code = "ServiceUnavailable"
	SignatureDoesNotMatch             Code = "SignatureDoesNotMatch"
	SlowDown                          Code = "SlowDown"
	UnexpectedContent                 Code = "UnexpectedContent"
	XAmzContentChecksumMismatch       Code = "XAmzContentChecksumMismatch"
	XAmzContentSHA256Mismatch         Code = "XAmzContentSHA256Mismatch"
	// XMinioInvalidObjectName is MinIO's answer to object names it cannot
	// store as named (empty, "." or ".." path segments); photogate gives it
	// for every name MinIO would store under another name.
	XMinioInvalidObjectName Code = "XMinioInvalidObjectName"
)

type entry struct {
	status  int
	message string
}

// table maps each code to its HTTP status and AWS's default message. It is
// read-only after package initialisation.
var table = map[Code]entry{
	AccessDenied:                      {http.StatusForbidden, "Access Denied."},
	AuthorizationHeaderMalformed:      {http.StatusBadRequest, "The authorization header is malformed."},
	AuthorizationQueryParametersError: {http.StatusBadRequest, "Error parsing the X-Amz-Credential parameter."},
	BadDigest:                         {http.StatusBadRequest, "The Content-MD5 you specified did not match what we received."},
	EntityTooLarge:                    {http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."},
	EntityTooSmall:                    {http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size."},
	ExpiredToken:                      {http.StatusBadRequest, "The provided token has expired."},
	IncompleteBody:                    {http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	InternalError:                     {http.StatusInternalServerError, "We encountered an internal error, please try again."},
	InvalidAccessKeyID:                {http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."},
	InvalidArgument:                   {http.StatusBadRequest, "Invalid Argument."},
	InvalidBucketName:                 {http.StatusBadRequest, "The specified bucket is not valid."},
	InvalidChunkSizeError:             {http.StatusBadRequest, "Only the last chunk is allowed to have a size less than 8192 bytes."},
	InvalidDigest:                     {http.StatusBadRequest, "The Content-MD5 you specified is not valid."},
	InvalidPartOrder:                  {http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number."},
	InvalidPolicyDocument:             {http.StatusBadRequest, "The content of the form does not meet the conditions specified in the policy document."},
	InvalidRequest:                    {http.StatusBadRequest, "Invalid Request."},
	InvalidTag:                        {http.StatusBadRequest, "The tag provided was not a valid tag."},
	InvalidURI:                        {http.StatusBadRequest, "Couldn't parse the specified URI."},
	KeyTooLongError:                   {http.StatusBadRequest, "Your key is too long."},
	MalformedPOSTRequest:              {http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data."},
	MalformedXML:                      {http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."},
	MaxPostPreDataLengthExceededError: {http.StatusBadRequest, "Your POST request fields preceding the upload file were too large."},
	MethodNotAllowed:                  {http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."},
	MissingContentLength:              {http.StatusLengthRequired, "You must provide the Content-Length HTTP header."},
	MissingSecurityHeader:             {http.StatusBadRequest, "Your request is missing a required header."},
	NotImplemented:                    {http.StatusNotImplemented, "A header or query you provided implies functionality that is not implemented."},
	QuotaExceeded:                     {http.StatusForbidden, "The upload would exceed a storage quota."},
	RequestTimeTooSkewed:              {http.StatusForbidden, "The difference between the request time and the server's time is too large."},
	RequestTimeout:                    {http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period."},
	ServiceUnavailable:                {http.StatusServiceUnavailable, "The service is unavailable. Please retry."},
	SignatureDoesNotMatch:             {http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	SlowDown:                          {http.StatusServiceUnavailable, "Please reduce your request rate."},
	UnexpectedContent:                 {http.StatusBadRequest, "This request does not support content."},
	XAmzContentChecksumMismatch:       {http.StatusBadRequest, "The provided 'x-amz-checksum' header does not match what was computed."},
	XAmzContentSHA256Mismatch:         {http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."},
	XMinioInvalidObjectName:           {http.StatusBadRequest, "Object name contains unsupported characters."},
}

// Status is the HTTP status S3 answers with for c; unknown codes are 500.
func (c Code) Status() int {
	if e, ok := table[c]; ok {
		return e.status
	}
	return http.StatusInternalServerError
}

// Error is an S3 error. Message, when empty, is the code's default message.
// Cause is kept for logs only: it never reaches the client, which is how
// internal detail (paths, backend addresses) stays private.
type Error struct {
	Code       Code
	Message    string
	RetryAfter int // seconds; set on SlowDown/ServiceUnavailable when known
	Cause      error
}

// New returns an error with code c and message msg ("" for the default).
func New(c Code, msg string) *Error { return &Error{Code: c, Message: msg} }

// Wrap returns an error with code c that keeps cause for the logs.
func Wrap(c Code, msg string, cause error) *Error { return &Error{Code: c, Message: msg, Cause: cause} }

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.message()
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Description is the message the client sees: Message, or the code's
// default.
func (e *Error) Description() string { return e.message() }

func (e *Error) message() string {
	if e.Message != "" {
		return e.Message
	}
	return table[e.Code].message
}

// From finds the S3 error inside err. Anything that is not one becomes
// InternalError with err as its cause.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: InternalError, Cause: err}
}

// Is reports whether err carries S3 error code c.
func Is(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      Code     `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

// Write sends err to the client as an S3 XML error. resource is the request
// path; requestID is echoed in the body (the caller sets the headers).
func Write(w http.ResponseWriter, err error, resource, requestID, hostID string) {
	e := From(err)
	body, _ := xml.Marshal(xmlError{
		Code: e.Code, Message: e.message(), Resource: resource,
		RequestID: requestID, HostID: hostID,
	})
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Code.Status())
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

// WriteHead is Write for HEAD requests, which carry no body: only the status
// (and S3 clients then infer the code from it).
func WriteHead(w http.ResponseWriter, err error) {
	e := From(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Code.Status())
}
