package metastore

import "fmt"

// Record encodings. Bucket and Key are not in the value: they are the
// primary key. V2 appends Owner; v1 records decode with no owner. V3
// appends Placeholder. A record is written in the oldest version that
// holds it, v2 when it has no placeholder: PostgreSQL replicas of the
// previous release share the rows during a rolling update and read v2.
const (
	recordV1 = 1
	recordV2 = 2
	recordV3 = 3
)

// GPS presence byte.
const (
	gpsNone   = 0
	gpsLatLon = 1
	gpsAlt    = 2
)

func encodeRecord(r *Record) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	ver := byte(recordV2)
	if r.Placeholder != "" {
		ver = recordV3
	}
	e.byte1(ver)
	e.str(r.VersionID)
	e.varint(r.Size)
	e.str(r.ETag)
	e.str(r.ContentType)
	e.time(r.LastModified)
	e.strMap(r.UserMeta)
	e.strMap(r.Tags)

	e.str(r.Format)
	e.str(r.MIME)
	e.varint(int64(r.Width))
	e.varint(int64(r.Height))
	e.varint(int64(r.DisplayWidth))
	e.varint(int64(r.DisplayHeight))
	e.varint(int64(r.Orientation))
	e.float(r.Megapixels)
	e.str(r.Aspect)
	e.time(r.TakenAt)
	e.str(r.TakenOffset)
	e.str(r.Make)
	e.str(r.Model)
	e.str(r.Lens)
	e.varint(int64(r.ISO))
	e.float(r.FNumber)
	e.str(r.ExposureTime)
	e.float(r.FocalLength)
	e.varint(int64(r.FocalLength35))
	switch {
	case r.GPS == nil:
		e.byte1(gpsNone)
	case r.GPS.Alt == nil:
		e.byte1(gpsLatLon)
		e.float(r.GPS.Lat)
		e.float(r.GPS.Lon)
	default:
		e.byte1(gpsAlt)
		e.float(r.GPS.Lat)
		e.float(r.GPS.Lon)
		e.float(*r.GPS.Alt)
	}

	e.str(r.Status)
	e.str(r.Reason)
	e.time(r.IndexedAt)
	e.str(r.Owner)
	if ver >= recordV3 {
		e.str(r.Placeholder)
	}
	return e.b
}

// decodeRecord decodes the value stored under recordKey(bucket, key).
func decodeRecord(bucket, key string, v []byte) (Record, error) {
	d := decoder{b: v}
	ver := d.byte1()
	if d.err == nil && (ver < recordV1 || ver > recordV3) {
		return Record{}, fmt.Errorf("%w: record %s/%s: unknown encoding version %d", ErrCorrupt, bucket, key, ver)
	}
	r := Record{Bucket: bucket, Key: key}
	r.VersionID = d.str()
	r.Size = d.varint()
	r.ETag = d.str()
	r.ContentType = d.str()
	r.LastModified = d.time()
	r.UserMeta = d.strMap()
	r.Tags = d.strMap()

	r.Format = d.str()
	r.MIME = d.str()
	r.Width = d.int()
	r.Height = d.int()
	r.DisplayWidth = d.int()
	r.DisplayHeight = d.int()
	r.Orientation = d.int()
	r.Megapixels = d.float()
	r.Aspect = d.str()
	r.TakenAt = d.time()
	r.TakenOffset = d.str()
	r.Make = d.str()
	r.Model = d.str()
	r.Lens = d.str()
	r.ISO = d.int()
	r.FNumber = d.float()
	r.ExposureTime = d.str()
	r.FocalLength = d.float()
	r.FocalLength35 = d.int()
	switch d.byte1() {
	case gpsNone:
	case gpsLatLon:
		r.GPS = &GPS{Lat: d.float(), Lon: d.float()}
	case gpsAlt:
		g := &GPS{Lat: d.float(), Lon: d.float()}
		alt := d.float()
		g.Alt = &alt
		r.GPS = g
	default:
		d.fail()
	}

	r.Status = d.str()
	r.Reason = d.str()
	r.IndexedAt = d.time()
	if ver >= recordV2 {
		r.Owner = d.str()
	}
	if ver >= recordV3 {
		r.Placeholder = d.str()
	}
	if err := d.done(); err != nil {
		return Record{}, fmt.Errorf("%w: record %s/%s: %v", ErrCorrupt, bucket, key, err)
	}
	return r, nil
}

// decodeRecordKV decodes a primary-bucket entry.
func decodeRecordKV(k, v []byte) (Record, error) {
	bucket, key, ok := splitRecordKey(k)
	if !ok {
		return Record{}, fmt.Errorf("%w: record key %q has no bucket separator", ErrCorrupt, k)
	}
	return decodeRecord(bucket, key, v)
}
