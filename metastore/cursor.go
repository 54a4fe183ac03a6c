package metastore

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
)

// A cursor is the position of the last item of a page, so the next page
// starts strictly after it (keyset pagination): inserts and deletes of other
// items between pages can neither shift an item into the gap nor repeat one.
// Layout, base64url without padding:
//
//	version(1)=1  sort code(1)  query hash(8)  uvarint len(sk)  sk
//	uvarint len(bucket)  bucket  key (rest)
//
// The query hash ties a cursor to the filters it was made for; replaying it
// with other filters is an error rather than a silently wrong page.
const cursorV1 = 1

func encodeCursor(sp sortSpec, hash uint64, p position) string {
	b := make([]byte, 0, 12+len(p.sk)+len(p.bucket)+len(p.key)+4)
	b = append(b, cursorV1, sp.code)
	b = binary.BigEndian.AppendUint64(b, hash)
	b = binary.AppendUvarint(b, uint64(len(p.sk)))
	b = append(b, p.sk...)
	b = binary.AppendUvarint(b, uint64(len(p.bucket)))
	b = append(b, p.bucket...)
	b = append(b, p.key...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses untrusted input; every failure is a *QueryError.
func decodeCursor(s string, sp sortSpec, hash uint64) (position, error) {
	bad := qerr("cursor", "malformed; pass NextCursor of the previous page unchanged")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 10 || b[0] != cursorV1 {
		return position{}, bad
	}
	if b[1] != sp.code || binary.BigEndian.Uint64(b[2:10]) != hash {
		return position{}, qerr("cursor", "belongs to a different query or sort order")
	}
	d := decoder{b: b[10:]}
	skLen := d.uvarint()
	if d.err != nil || skLen != uint64(sp.skLen) || skLen > uint64(len(d.b)) {
		return position{}, bad
	}
	p := position{sk: append([]byte(nil), d.b[:skLen]...)}
	d.b = d.b[skLen:]
	p.bucket = d.str()
	if d.err != nil || validateBucket(p.bucket) != nil || len(d.b) == 0 || len(d.b) > maxKeyLen {
		return position{}, bad
	}
	p.key = string(d.b)
	return p, nil
}

// queryHash fingerprints everything in q that selects or orders items; the
// cursor and the page size may change between pages.
func queryHash(q Query) uint64 {
	q.Cursor, q.Limit = "", 0
	q.TakenAfter, q.TakenBefore = q.TakenAfter.UTC(), q.TakenBefore.UTC()
	if q.Sort == "" {
		q.Sort = "key" // the default and the explicit order share cursors
	}
	// json.Marshal of this struct cannot fail (no channels, funcs or
	// unsupported floats: NaN and Inf were rejected by validation).
	b, _ := json.Marshal(q)
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}
