package metastore

import (
	"math"
	"math/rand/v2"
	"testing"
)

func inRanges(rs []zrange, z uint64) bool {
	for _, r := range rs {
		if z >= r.lo && z <= r.hi {
			return true
		}
	}
	return false
}

// TestCoverContainsBox checks the property the geo index relies on: every
// point of a box lies in one of its covering ranges, for random boxes of
// every size, antimeridian-crossing ones included.
func TestCoverContainsBox(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		lat0, lat1 := rng.Float64()*180-90, rng.Float64()*180-90
		if lat0 > lat1 {
			lat0, lat1 = lat1, lat0
		}
		scale := math.Pow(10, -rng.Float64()*6) // boxes from the world down to ~10 cm
		b := BBox{
			MinLon: rng.Float64()*360 - 180,
			MinLat: lat0, MaxLat: lat0 + (lat1-lat0)*scale,
		}
		b.MaxLon = b.MinLon + rng.Float64()*360*scale
		if b.MaxLon > 180 {
			b.MaxLon -= 360 // crosses the antimeridian
		}
		rs := cover(splitBBox(b))
		if len(rs) == 0 || len(rs) > 2*maxCoverCells {
			t.Fatalf("box %d %+v: %d ranges", i, b, len(rs))
		}
		for j := 1; j < len(rs); j++ {
			if rs[j].lo <= rs[j-1].hi {
				t.Fatalf("ranges overlap or are unsorted: %v", rs)
			}
		}
		for range 50 {
			lat := b.MinLat + rng.Float64()*(b.MaxLat-b.MinLat)
			var lon float64
			if b.MinLon <= b.MaxLon {
				lon = b.MinLon + rng.Float64()*(b.MaxLon-b.MinLon)
			} else {
				lon = b.MinLon + rng.Float64()*(b.MaxLon+360-b.MinLon)
				if lon > 180 {
					lon -= 360
				}
			}
			if !inBBox(b, lat, lon) {
				t.Fatalf("test bug: %v,%v not in %+v", lat, lon, b)
			}
			if !inRanges(rs, geoCell(lat, lon)) {
				t.Fatalf("box %+v: point %v,%v not covered", b, lat, lon)
			}
		}
		// Corners exactly.
		for _, p := range [][2]float64{{b.MinLat, b.MinLon}, {b.MaxLat, b.MaxLon}, {b.MinLat, b.MaxLon}, {b.MaxLat, b.MinLon}} {
			if !inRanges(rs, geoCell(p[0], p[1])) {
				t.Fatalf("box %+v: corner %v not covered", b, p)
			}
		}
	}
}

// TestNearBBoxContainsCircle checks that the box searched for a Near query
// contains every point the haversine filter accepts, near poles and the
// antimeridian too.
func TestNearBBoxContainsCircle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	centres := [][2]float64{{0, 0}, {0, 180}, {0, -180}, {89.99, 0}, {-89.5, 170}, {60, 179.9}, {-45, -179.5}}
	for range 200 {
		centres = append(centres, [2]float64{rng.Float64()*180 - 90, rng.Float64()*360 - 180})
	}
	for _, c := range centres {
		for _, radius := range []float64{0.05, 1, 50, 500, 3000, 15000} {
			n := Near{Lat: c[0], Lon: c[1], RadiusKm: radius}
			b := nearBBox(n)
			for range 300 {
				// A random point at a random distance up to the radius.
				lat, lon := destination(c[0], c[1], rng.Float64()*360, radius*math.Sqrt(rng.Float64()))
				if haversineKm(c[0], c[1], lat, lon) > radius {
					continue
				}
				if !inBBox(b, lat, lon) {
					t.Fatalf("near %+v: point %v,%v (%.3f km) outside box %+v", n, lat, lon, haversineKm(c[0], c[1], lat, lon), b)
				}
			}
		}
	}
}

// destination walks distKm from lat/lon on the initial bearing (degrees).
func destination(lat, lon, bearing, distKm float64) (float64, float64) {
	const rad = math.Pi / 180
	d := distKm / earthRadiusKm
	φ1, λ1, θ := lat*rad, lon*rad, bearing*rad
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(d) + math.Cos(φ1)*math.Sin(d)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(d)*math.Cos(φ1), math.Cos(d)-math.Sin(φ1)*math.Sin(φ2))
	lon2 := math.Mod(λ2/rad+540, 360) - 180
	return φ2 / rad, lon2
}

func TestHaversine(t *testing.T) {
	// Paris to London is about 344 km; across the antimeridian at the
	// equator 0.2 degrees is about 22 km.
	if d := haversineKm(48.8566, 2.3522, 51.5074, -0.1278); math.Abs(d-343.5) > 1 {
		t.Errorf("Paris-London %.1f km", d)
	}
	if d := haversineKm(0, 179.9, 0, -179.9); math.Abs(d-22.24) > 0.1 {
		t.Errorf("across the antimeridian %.2f km", d)
	}
}

func TestGeoCellIsGeohash(t *testing.T) {
	// The top 25 bits of the binary geohash spell the base32 geohash of
	// precision 5; u09tv is central Paris.
	const alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
	z := geoCell(48.8566, 2.3522)
	var s []byte
	for i := range 5 {
		s = append(s, alphabet[(z>>(64-5*(i+1)))&31])
	}
	if string(s) != "u09tv" {
		t.Fatalf("geohash %s, want u09tv", s)
	}
}
