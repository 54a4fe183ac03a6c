package s3xml

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// S3's multipart limits.
const (
	MaxParts = 10000
	// MaxCompleteBytes bounds a CompleteMultipartUpload body: 10,000 parts
	// with an ETag and a checksum each fit in well under 4 MiB.
	MaxCompleteBytes = 4 << 20
)

// A Part of a completion holds PartNumber, ETag and at most one checksum of
// each algorithm.
var completeLimits = limits{maxBytes: MaxCompleteBytes, maxElements: 1 + 8*MaxParts, maxDepth: maxDepth}

// checksumElements are the checksums a Part may carry.
var checksumElements = map[string]bool{
	"ChecksumCRC32": true, "ChecksumCRC32C": true, "ChecksumCRC64NVME": true, "ChecksumSHA1": true, "ChecksumSHA256": true,
}

// CompletedPart is one Part of a CompleteMultipartUpload request.
type CompletedPart struct {
	PartNumber int
	ETag       string
	// Checksums holds the part's checksums by algorithm ("CRC32", ...).
	Checksums map[string]string
}

// ParseComplete parses a CompleteMultipartUpload request body. The parts
// must be listed in ascending order of part number, as S3 requires.
func ParseComplete(body []byte) ([]CompletedPart, error) {
	var parts []CompletedPart
	var number, etag bool
	err := walk(body, completeLimits, visitor{
		start: func(path []string) error {
			switch {
			case pathIs(path, "CompleteMultipartUpload"):
			case pathIs(path, "CompleteMultipartUpload", "Part"):
				if len(parts) == MaxParts {
					return s3err.New(s3err.MalformedXML, fmt.Sprintf("The request lists more than %d parts.", MaxParts))
				}
				parts = append(parts, CompletedPart{})
				number, etag = false, false
			case pathIs(path, "CompleteMultipartUpload", "Part", "PartNumber"):
				return once(&number, "PartNumber")
			case pathIs(path, "CompleteMultipartUpload", "Part", "ETag"):
				return once(&etag, "ETag")
			case len(path) == 3 && path[1] == "Part" && checksumElements[path[2]]:
				if _, dup := parts[len(parts)-1].Checksums[strings.TrimPrefix(path[2], "Checksum")]; dup {
					return s3err.New(s3err.MalformedXML, "The element "+path[2]+" appears twice in one Part.")
				}
			default:
				return unexpected(path)
			}
			return nil
		},
		end: func(path []string, text string) error {
			p := func() *CompletedPart { return &parts[len(parts)-1] }
			switch {
			case pathIs(path, "CompleteMultipartUpload", "Part", "PartNumber"):
				n, err := strconv.Atoi(strings.TrimSpace(text))
				if err != nil || n < 1 || n > MaxParts {
					return s3err.New(s3err.MalformedXML, "PartNumber must be a whole number from 1 to 10000.")
				}
				p().PartNumber = n
			case pathIs(path, "CompleteMultipartUpload", "Part", "ETag"):
				p().ETag = strings.TrimSpace(text)
			case len(path) == 3 && path[1] == "Part" && checksumElements[path[2]]:
				if p().Checksums == nil {
					p().Checksums = map[string]string{}
				}
				p().Checksums[strings.TrimPrefix(path[2], "Checksum")] = strings.TrimSpace(text)
			case pathIs(path, "CompleteMultipartUpload", "Part"):
				if !number || !etag {
					return s3err.New(s3err.MalformedXML, "Every Part needs a PartNumber and an ETag.")
				}
				if n := len(parts); n > 1 && parts[n-2].PartNumber >= parts[n-1].PartNumber {
					return s3err.New(s3err.InvalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number.")
				}
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, s3err.New(s3err.MalformedXML, "The CompleteMultipartUpload request lists no parts.")
	}
	return parts, nil
}
