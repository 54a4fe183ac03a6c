// Package harness runs the real processes that photogate's integration and
// end-to-end tests need: a MinIO server as the backend and the photogate
// binary itself, each over plain HTTP or over HTTPS with a certificate from
// a throw-away test CA (WriteTestCert) that the clients are told to trust.
// It also finds the external S3 clients the tests drive, makes random
// files to push through them, finds the repository's test photos
// (PhotosDir), and builds, signs and reads hand-made S3 requests
// (SignedRequest, SendS3) for tests that must control the exact bytes on
// the wire.
//
// Every process is started on free loopback ports with throw-away
// credentials and data directories, so tests never depend on or disturb
// anything already running on the machine.
//
// Each resource comes in two forms: LaunchX returns it with an error and
// leaves its lifetime to the caller (for TestMain, which has no testing.TB),
// and StartX(t) ties it to a test, failing the test when it cannot start and
// stopping it in t.Cleanup.
package harness
