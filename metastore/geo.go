package metastore

import (
	"encoding/binary"
	"math"
	"slices"
)

// The geo index stores each position as a 64-bit geohash in binary form: 32
// bits of longitude and 32 of latitude, interleaved longitude first, exactly
// the bit sequence a base32 geohash spells (a 12-character geohash is its
// first 60 bits). A geohash cell of any coarser precision is therefore a
// contiguous range of these numbers, so one stored precision (~1 cm) serves
// every query precision: a query picks the finest precision whose covering
// cells stay few, and scans one key range per cell.

// maxCoverCells bounds the cells (and so the range scans) of one box.
const maxCoverCells = 32

// earthRadiusKm is the IUGG mean radius, the usual choice for haversine.
const earthRadiusKm = 6371.0088

// quantize maps v in [min, min+span] onto 0..2^32-1, monotonically.
func quantize(v, min, span float64) uint32 {
	f := (v - min) / span * (1 << 32)
	switch {
	case !(f > 0): // also NaN
		return 0
	case f >= 1<<32:
		return math.MaxUint32
	}
	return uint32(f)
}

// spread moves bit i of v to bit 2i.
func spread(v uint32) uint64 {
	x := uint64(v)
	x = (x | x<<16) & 0x0000FFFF0000FFFF
	x = (x | x<<8) & 0x00FF00FF00FF00FF
	x = (x | x<<4) & 0x0F0F0F0F0F0F0F0F
	x = (x | x<<2) & 0x3333333333333333
	x = (x | x<<1) & 0x5555555555555555
	return x
}

func interleave(x, y uint32) uint64 { return spread(x)<<1 | spread(y) }

// geoCell is the 64-bit geohash of a position.
func geoCell(lat, lon float64) uint64 {
	return interleave(quantize(lon, -180, 360), quantize(lat, -90, 180))
}

func appendGeo(dst []byte, g *GPS) []byte {
	return binary.BigEndian.AppendUint64(dst, geoCell(g.Lat, g.Lon))
}

// box is a latitude/longitude rectangle that does not cross the antimeridian.
type box struct{ minLon, minLat, maxLon, maxLat float64 }

// zrange is an inclusive range of 64-bit geohashes.
type zrange struct{ lo, hi uint64 }

// cover returns sorted, disjoint geohash ranges whose union contains every
// point of every box. Cells of one precision are used for all boxes, the
// finest at which the total cell count stays within maxCoverCells.
func cover(boxes []box) []zrange {
	type span struct{ x0, x1, y0, y1 uint32 }
	full := make([]span, len(boxes))
	for i, b := range boxes {
		full[i] = span{
			quantize(b.minLon, -180, 360), quantize(b.maxLon, -180, 360),
			quantize(b.minLat, -90, 180), quantize(b.maxLat, -90, 180),
		}
	}
	var out []zrange
	for level := 32; level >= 0; level-- {
		shift := uint(32 - level)
		// Cell coordinates at this level, as uint64 so that counting and
		// looping cannot overflow at the edges of the world.
		cells := uint64(0)
		for _, s := range full {
			nx := uint64(s.x1>>shift) - uint64(s.x0>>shift) + 1
			ny := uint64(s.y1>>shift) - uint64(s.y0>>shift) + 1
			if nx > maxCoverCells || ny > maxCoverCells { // and nx*ny could overflow
				cells = maxCoverCells + 1
				break
			}
			cells += nx * ny
		}
		if cells > maxCoverCells && level > 0 {
			continue
		}
		low := uint64(math.MaxUint64) // the bits below a cell of this level
		if shift < 32 {
			low = uint64(1)<<(2*shift) - 1
		}
		for _, s := range full {
			for x := uint64(s.x0 >> shift); x <= uint64(s.x1>>shift); x++ {
				for y := uint64(s.y0 >> shift); y <= uint64(s.y1>>shift); y++ {
					var lo uint64
					if shift < 32 {
						lo = interleave(uint32(x), uint32(y)) << (2 * shift)
					}
					out = append(out, zrange{lo, lo | low})
				}
			}
		}
		break
	}
	return mergeRanges(out)
}

// mergeRanges sorts and unions overlapping or adjacent ranges. Overlap is
// real: the two halves of an antimeridian box can share a coarse cell.
func mergeRanges(rs []zrange) []zrange {
	slices.SortFunc(rs, func(a, b zrange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && (r.lo <= out[n-1].hi || r.lo == out[n-1].hi+1) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// splitBBox turns a query box into boxes that do not cross the antimeridian.
// MinLon > MaxLon means the box crosses it.
func splitBBox(b BBox) []box {
	if b.MinLon <= b.MaxLon {
		return []box{{b.MinLon, b.MinLat, b.MaxLon, b.MaxLat}}
	}
	return []box{
		{b.MinLon, b.MinLat, 180, b.MaxLat},
		{-180, b.MinLat, b.MaxLon, b.MaxLat},
	}
}

// inBBox is the exact filter for a query box.
func inBBox(b BBox, lat, lon float64) bool {
	if lat < b.MinLat || lat > b.MaxLat {
		return false
	}
	if b.MinLon <= b.MaxLon {
		return lon >= b.MinLon && lon <= b.MaxLon
	}
	return lon >= b.MinLon || lon <= b.MaxLon
}

// haversineKm is the great-circle distance between two positions.
func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(1, a)))
}

// nearBBox is a box that contains every point within n.RadiusKm of the
// centre (the "bounding coordinates" of a spherical cap), padded a little
// against rounding: the geo index must return a superset of what the exact
// haversine filter accepts. It crosses the antimeridian when the cap does,
// and spans all longitudes when the cap contains a pole.
func nearBBox(n Near) BBox {
	const pad = 1e-6 // degrees, ~0.1 m
	angular := n.RadiusKm / earthRadiusKm
	dLat := angular*180/math.Pi + pad
	minLat, maxLat := n.Lat-dLat, n.Lat+dLat
	if minLat <= -90 || maxLat >= 90 || angular >= math.Pi/2 {
		return BBox{MinLon: -180, MaxLon: 180, MinLat: max(minLat, -90), MaxLat: min(maxLat, 90)}
	}
	s := math.Sin(angular) / math.Cos(n.Lat*math.Pi/180)
	if s >= 1 {
		return BBox{MinLon: -180, MaxLon: 180, MinLat: minLat, MaxLat: maxLat}
	}
	dLon := math.Asin(s)*180/math.Pi + pad
	if dLon >= 180 {
		return BBox{MinLon: -180, MaxLon: 180, MinLat: minLat, MaxLat: maxLat}
	}
	minLon, maxLon := n.Lon-dLon, n.Lon+dLon
	if minLon < -180 {
		minLon += 360
	}
	if maxLon > 180 {
		maxLon -= 360
	}
	return BBox{MinLon: minLon, MinLat: minLat, MaxLon: maxLon, MaxLat: maxLat}
}

// compact undoes spread: bit 2i of x moves to bit i.
func compact(x uint64) uint32 {
	x &= 0x5555555555555555
	x = (x | x>>1) & 0x3333333333333333
	x = (x | x>>2) & 0x0F0F0F0F0F0F0F0F
	x = (x | x>>4) & 0x00FF00FF00FF00FF
	x = (x | x>>8) & 0x0000FFFF0000FFFF
	x = (x | x>>16) & 0x00000000FFFFFFFF
	return uint32(x)
}

// What an index entry alone says about a record: for a geo entry, about
// the query's geo filters (see geoVerdict); for an entry of an exact path,
// about the whole query (see accessPath.exact).
const (
	verdictUnsure = iota // the record must be read to decide
	verdictMatch         // the record passes (every position in a geo entry's cell does)
	verdictFail          // the record fails (no position in a geo entry's cell passes)
)

// Tolerances of geoVerdict. A stored cell is about 1 cm wide and a
// position's distance from its cell is a few float64 roundings of a degree
// value, so a cell grown by cellPadDeg (~10 cm) surely holds the record's
// own position; nearPadKm (10 m) likewise covers the cell and the rounding
// of haversineKm (under a metre even for antipodes, where asin is steepest).
// Cells within these margins of an edge are read and decided by match.
const (
	cellPadDeg = 1e-6
	nearPadKm  = 0.01
)

// geoVerdict decides the bbox, near and has-GPS filters for the record of
// a geo index entry from its cell alone (fixed is the entry's 8-byte
// geohash), when the cell is clearly inside or outside them. Every
// position the geo index holds is valid, so has_gps=true always passes.
func (c *compiled) geoVerdict(fixed []byte) int {
	if c.q.HasGPS != nil && !*c.q.HasGPS {
		return verdictFail
	}
	if c.bbox == nil && c.near == nil {
		return verdictMatch
	}
	cell := binary.BigEndian.Uint64(fixed)
	const lonStep, latStep = 360.0 / (1 << 32), 180.0 / (1 << 32)
	lon0 := -180 + float64(compact(cell>>1))*lonStep
	lat0 := -90 + float64(compact(cell))*latStep
	verdict := verdictMatch
	if b := c.bbox; b != nil {
		lo0, lo1 := lon0-cellPadDeg, lon0+lonStep+cellPadDeg
		la0, la1 := lat0-cellPadDeg, lat0+latStep+cellPadDeg
		var lonIn, lonOut bool
		if b.MinLon <= b.MaxLon {
			lonIn = lo0 >= b.MinLon && lo1 <= b.MaxLon
			lonOut = lo1 < b.MinLon || lo0 > b.MaxLon
		} else { // across the antimeridian: lon >= MinLon or lon <= MaxLon
			lonIn = lo0 >= b.MinLon || lo1 <= b.MaxLon
			lonOut = lo0 > b.MaxLon && lo1 < b.MinLon
		}
		switch {
		case lonOut || la1 < b.MinLat || la0 > b.MaxLat:
			return verdictFail
		case !lonIn || la0 < b.MinLat || la1 > b.MaxLat:
			verdict = verdictUnsure
		}
	}
	if n := c.near; n != nil {
		d := haversineKm(n.Lat, n.Lon, lat0+latStep/2, lon0+lonStep/2)
		switch {
		case d > n.RadiusKm+nearPadKm:
			return verdictFail
		case d > n.RadiusKm-nearPadKm:
			verdict = verdictUnsure
		}
	}
	return verdict
}
