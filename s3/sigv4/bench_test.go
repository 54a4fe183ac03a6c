package sigv4

import (
	"testing"
)

func BenchmarkVerifyHeader(b *testing.B) {
	raw := "GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\nRange: bytes=0-9\n" +
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date: 20130524T000000Z\n" +
		s3DocAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	benchmarkVerify(b, raw)
}

func BenchmarkVerifyPresigned(b *testing.B) {
	raw := "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\n" +
		"Host: examplebucket.s3.amazonaws.com"
	benchmarkVerify(b, raw)
}

func benchmarkVerify(b *testing.B, raw string) {
	r := readRawRequest(b, raw)
	v := &Verifier{Secrets: staticSecrets(s3Key, s3Secret), Now: fixedNow(s3Date)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
